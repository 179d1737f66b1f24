// Hostile inputs shared by every transport's fuzz suite, and the checks every case ends with.
import { propagation, trace, type Context, type SpanContext } from '@opentelemetry/api';
import fc from 'fast-check';

/** 5,000 cases per property in CI; `pnpm fuzz` sets FUZZ_RUNS=200000. */
export const numRuns = Number(process.env.FUZZ_RUNS ?? 5000);

/** The carrier fields of the W3C propagators the in-memory SDK registers. */
export const PROPAGATION_FIELDS = new Set(['traceparent', 'tracestate', 'baggage']);

const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });

/** A valid W3C span context (ids not all zero). */
export const spanContextArb = fc
  .record({ traceId: hex(32), spanId: hex(16), sampled: fc.boolean() })
  .filter(({ traceId, spanId }) => !/^0+$/.test(traceId) && !/^0+$/.test(spanId))
  .map(({ traceId, spanId, sampled }): SpanContext => ({ traceId, spanId, traceFlags: sampled ? 1 : 0, isRemote: true }));

export const traceparentOf = (spanContext: SpanContext) =>
  `00-${spanContext.traceId}-${spanContext.spanId}-0${spanContext.traceFlags & 1}`;

/** Strings that look like a traceparent: valid ones and near misses (bad version, zero ids, case, padding, extra fields). */
export const traceparentLike = fc.oneof(
  { weight: 4, arbitrary: spanContextArb.map(traceparentOf) },
  {
    weight: 6,
    arbitrary: fc.tuple(spanContextArb.map(traceparentOf), fc.integer({ min: 0, max: 9 }), fc.string({ maxLength: 8 })).map(([valid, how, noise]) => {
      switch (how) {
        case 0:
          return `ff${valid.slice(2)}`;
        case 1:
          return `00-${'0'.repeat(32)}${valid.slice(35)}`;
        case 2:
          return `${valid.slice(0, 36)}${'0'.repeat(16)}${valid.slice(52)}`;
        case 3:
          return valid.toUpperCase();
        case 4:
          return ` ${valid} `;
        case 5:
          return `${valid}-${noise}`;
        case 6:
          return `cc${valid.slice(2)}-${noise}`;
        case 7:
          return valid.slice(0, valid.length - 1 - (noise.length % 5));
        case 8:
          return `${valid}${noise}`;
        default:
          return noise + valid;
      }
    }),
  },
);

const tracestateMember = fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_\-*/]{0,20}$/), fc.stringMatching(/^[\x21-\x2b\x2d-\x3c\x3e-\x7e]{1,200}$/));
/** tracestate values: short, over 512 characters, over 32 members, malformed. */
export const tracestateLike = fc.oneof(
  fc.array(tracestateMember, { maxLength: 40 }).map((members) => members.map(([key, value]) => `${key}=${value}`).join(',')),
  fc.integer({ min: 500, max: 5000 }).map((length) => `a=${'b'.repeat(length)}`),
  fc.string({ maxLength: 60 }),
);

const baggageEntry = fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), fc.oneof(fc.string({ maxLength: 20 }), fc.constant('%E0%A4%A'), fc.constant('%')));
/** baggage values: small, over 180 entries, over 8,192 bytes, with bad percent-encoding and properties. */
export const baggageLike = fc.oneof(
  fc.array(baggageEntry, { maxLength: 250 }).map((entries) => entries.map(([key, value]) => `${key}=${encodeURIComponent(value)};p=1`).join(',')),
  fc.integer({ min: 8000, max: 20000 }).map((length) => `big=${'v'.repeat(length)}`),
  fc.integer({ min: 181, max: 400 }).map((count) => Array.from({ length: count }, (_, index) => `k${index}=v`).join(',')),
  fc.string({ maxLength: 60 }),
);

/** Strings made only of lone UTF-16 surrogates: not encodable as UTF-8. */
export const loneSurrogates = fc.string({
  unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)),
  minLength: 1,
  maxLength: 4,
});

/** Very long values, cheap to build: up to 100,000 characters. */
export const longString = fc
  .tuple(fc.integer({ min: 1000, max: 100_000 }), fc.string({ maxLength: 3 }), fc.boolean())
  .map(([length, prefix, traceLike]) => (traceLike ? `00-${'a'.repeat(length)}` : prefix + 'x'.repeat(length)));

/** Bytes that are not valid UTF-8, including a valid traceparent followed by garbage. */
export const nonUtf8Buffer = fc.oneof(
  fc.uint8Array({ maxLength: 48 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom(
    Buffer.from([0xff, 0xfe, 0xfd]),
    Buffer.from([0xc3, 0x28]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
    Buffer.from([0xe2, 0x82]),
  ),
  spanContextArb.map((spanContext) => Buffer.concat([Buffer.from(traceparentOf(spanContext)), Buffer.from([0xff, 0x00])])),
);

/** Any text a context field might hold. */
export const contextText = fc.oneof(traceparentLike, tracestateLike, baggageLike);

export const specialKey = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  'traceparent',
  'TRACEPARENT',
  'TraceParent',
  'tracestate',
  'TRACESTATE',
  'baggage',
  'BAGGAGE',
  '_otel',
  '',
);

export const hostileKey = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 16 }) },
  { weight: 3, arbitrary: specialKey },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
  { weight: 1, arbitrary: loneSurrogates },
);

export const hostileScalar = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 4, arbitrary: contextText },
  { weight: 1, arbitrary: longString },
  { weight: 1, arbitrary: loneSurrogates },
  { weight: 2, arbitrary: nonUtf8Buffer },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n })) },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined) },
);

/** A small object that refers to itself. */
export const cyclicObject = fc.dictionary(hostileKey, hostileScalar, { maxKeys: 3 }).map((object) => {
  Object.defineProperty(object, 'self', { value: object, enumerable: true, configurable: true, writable: true });
  return object as Record<string, unknown>;
});

/** An object whose one enumerable getter throws. */
export const throwingGetter = fc.constantFrom('traceparent', 'x', 'baggage').map((name) => {
  const object: Record<string, unknown> = {};
  // fast-check prints counterexamples through this instead of reading the getter.
  Object.defineProperty(object, fc.toStringMethod, { value: () => `{ get ${name}() { throw } }` });
  Object.defineProperty(object, name, {
    enumerable: true,
    configurable: true,
    get() {
      throw new Error(`getter ${name} throws`);
    },
  });
  return object;
});

/** hostileValue without cycles (serializers walk a cycle until the stack runs out: slow). */
export const acyclicValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: hostileScalar },
  { weight: 2, arbitrary: fc.array(fc.oneof(contextText, nonUtf8Buffer, fc.string({ maxLength: 8 }), fc.constant(null)), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(hostileKey, hostileScalar, { maxKeys: 3 }) },
);

export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: hostileScalar },
  { weight: 2, arbitrary: fc.array(fc.oneof(contextText, nonUtf8Buffer, fc.string({ maxLength: 8 }), fc.constant(null)), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(hostileKey, hostileScalar, { maxKeys: 3 }) },
  { weight: 1, arbitrary: cyclicObject },
);

/**
 * Header / attribute / field maps: arbitrary keys (prototype names, context names in any case)
 * and values; sometimes with a null prototype, parsed from JSON (an own `__proto__`), with a
 * throwing getter, or frozen.
 */
export const hostileMap = (value: fc.Arbitrary<unknown> = hostileValue) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.dictionary(hostileKey, value, { maxKeys: 8 }) as fc.Arbitrary<Record<string, unknown>> },
    {
      weight: 1,
      arbitrary: fc.tuple(contextText, fc.json()).map(([text, json]) =>
        JSON.parse(`{"__proto__": {"polluted": "yes", "traceparent": ${JSON.stringify(text)}}, "constructor": {"prototype": {"polluted": "yes"}}, "x": ${json}}`),
      ),
    },
    { weight: 1, arbitrary: throwingGetter },
    { weight: 1, arbitrary: fc.dictionary(hostileKey, value, { maxKeys: 4 }).map((map) => Object.freeze(map) as Record<string, unknown>) },
  );

/** A map that also carries a valid context under the exact W3C names, so extraction paths get exercised. */
export const mapWithContext = (value: fc.Arbitrary<unknown> = hostileValue) =>
  fc.tuple(hostileMap(value), spanContextArb, fc.option(tracestateLike), fc.option(baggageLike)).map(([map, spanContext, tracestate, baggage]) => {
    const carrier: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(map)) {
      if (key.toLowerCase() === 'traceparent') continue;
      const descriptor = Object.getOwnPropertyDescriptor(map, key)!;
      // Copied as configurable (the map may be frozen): the context fields are set below.
      Object.defineProperty(carrier, key, { ...descriptor, configurable: true, ...('value' in descriptor ? { writable: true } : {}) });
    }
    const put = (key: string, value: string) => Object.defineProperty(carrier, key, { value, enumerable: true, configurable: true, writable: true });
    put('traceparent', traceparentOf(spanContext));
    if (tracestate !== null) put('tracestate', tracestate);
    if (baggage !== null) put('baggage', baggage);
    return { carrier, spanContext };
  });

// ---- checks --------------------------------------------------------------------------------

const PROBES = ['polluted', 'traceparent', 'tracestate', 'baggage', 'TRACEPARENT', '_otel', 'DataType', 'StringValue', 'name', 'value', 'self', 'x'];
const PROTOTYPES: Array<[string, object]> = [
  ['Object', Object.prototype],
  ['Array', Array.prototype],
  ['Function', Function.prototype],
  ['String', String.prototype],
  ['Buffer', Buffer.prototype],
  ['Uint8Array', Uint8Array.prototype],
];
const snapshot = () => PROTOTYPES.map(([name, proto]) => `${name}:${Object.getOwnPropertyNames(proto).sort().join(',')}`).join('|');
const pristine = snapshot();

/** Throws when any built-in prototype gained a property (prototype pollution). */
export function assertNoPollution(): void {
  const plain = {} as Record<string, unknown>;
  for (const probe of PROBES) {
    if (plain[probe] !== undefined || ([] as unknown as Record<string, unknown>)[probe] !== undefined) {
      throw new Error(`prototype polluted: ({}).${probe} = ${String(plain[probe])}`);
    }
  }
  const now = snapshot();
  if (now !== pristine) throw new Error(`a built-in prototype changed:\n${now}\nwas\n${pristine}`);
}

/** Undefined, or a span context OpenTelemetry considers valid. */
export function assertValidOrAbsent(spanContext: SpanContext | undefined, what: string): void {
  if (spanContext !== undefined && !trace.isSpanContextValid(spanContext)) {
    throw new Error(`${what} is an invalid span context: ${JSON.stringify(spanContext)}`);
  }
}

/** A rough description of a value for failure messages (cycle-safe, bounded). */
export function describe(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    const text = JSON.stringify(value, (_key, item: unknown) => {
      if (typeof item === 'bigint') return `${item}n`;
      if (Buffer.isBuffer(item)) return `<Buffer ${item.toString('hex').slice(0, 40)}>`;
      if (typeof item === 'string' && item.length > 80) return `${item.slice(0, 60)}…(${item.length})`;
      if (typeof item === 'object' && item !== null) {
        if (seen.has(item)) return '<cycle>';
        seen.add(item);
      }
      return item;
    });
    return (text ?? String(value)).slice(0, 2000);
  } catch (error) {
    return `<${(error as Error).message}>`;
  }
}

/** Own enumerable string keys and their values, for before/after comparisons of the caller's objects. */
export function ownEntries(value: unknown): Array<[string, unknown]> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  try {
    // The descriptor's value, or its getter: reading a hostile getter here would throw.
    return Object.keys(value).map((key) => {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      return [key, descriptor === undefined ? undefined : 'value' in descriptor ? descriptor.value : descriptor.get];
    });
  } catch {
    return undefined;
  }
}

/** True when two ownEntries snapshots are the same keys in the same order with identical values. */
export function sameEntries(before: Array<[string, unknown]> | undefined, after: Array<[string, unknown]> | undefined): boolean {
  if (before === undefined || after === undefined) return before === after;
  return before.length === after.length && before.every(([key, value], index) => after[index][0] === key && Object.is(after[index][1], value));
}

/** The outcome of a call: what it returned or the error it threw (by class and message). */
export type Outcome = { threw: false; value: unknown } | { threw: true; error: string };

export function outcomeOf(fn: () => unknown): Outcome {
  try {
    return { threw: false, value: fn() };
  } catch (error) {
    return { threw: true, error: error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error) };
  }
}

/**
 * Both calls threw the same error. A RangeError matches any RangeError: how deep a cyclic value
 * recurses before the stack or an encoding buffer runs out depends on the stack depth at the call,
 * which a wrapper changes by a few frames.
 */
export function sameFailure(control: Outcome, traced: Outcome): boolean {
  if (!control.threw || !traced.threw) return false;
  return traced.error === control.error || (control.error.startsWith('RangeError') && traced.error.startsWith('RangeError'));
}

// ---- consumer-side checks shared by every transport ------------------------------------------

export type IncomingChoice = 'parent' | 'link' | 'ignore' | 'function' | 'throwing function';
export type Effective = 'parent' | 'link' | 'ignore';

export const consumerConfigArb = fc.record({
  incoming: fc.constantFrom<IncomingChoice>('parent', 'link', 'ignore', 'function', 'throwing function'),
  mode: fc.constantFrom<'spans' | 'propagation-only'>('spans', 'propagation-only'),
  propagateBaggage: fc.boolean(),
});
export type ConsumerConfigChoice = { incoming: IncomingChoice; mode: 'spans' | 'propagation-only'; propagateBaggage: boolean };

/**
 * The instrumentation options for a choice. The `function` policy trusts a message when
 * `isTrusted(message)` says so (`parent`) and links it otherwise; the throwing one must count as `ignore`.
 */
export function consumerConfig<M>(choice: ConsumerConfigChoice, isTrusted: (message: M) => boolean) {
  const incomingContext =
    choice.incoming === 'function'
      ? (message: M): Effective => (isTrusted(message) ? 'parent' : 'link')
      : choice.incoming === 'throwing function'
        ? (): Effective => {
            throw new Error('policy failed');
          }
        : choice.incoming;
  return { mode: choice.mode, propagateBaggage: choice.propagateBaggage, incomingContext };
}

export function effectivePolicy(choice: ConsumerConfigChoice, trusted: boolean): Effective {
  if (choice.incoming === 'function') return trusted ? 'parent' : 'link';
  if (choice.incoming === 'throwing function') return 'ignore';
  return choice.incoming;
}

interface FinishedSpan {
  name: string;
  parentSpanContext?: SpanContext;
  links: Array<{ context: SpanContext }>;
  spanContext(): SpanContext;
}

/**
 * What must hold for one message handed to a consumer handler that ran in `active`:
 * the context is valid or absent; the policy decides parent, link or nothing; baggage only under
 * `parent` with propagateBaggage, within the W3C limits; tracestate within 512 characters.
 */
export function checkDelivery(options: {
  active: Context;
  spans: readonly FinishedSpan[];
  effective: Effective;
  choice: ConsumerConfigChoice;
  carried?: SpanContext;
  where: { toString(): string };
}): void {
  const { active, spans, effective, choice, carried, where } = options;
  const activeSpanContext = trace.getSpanContext(active);
  assertValidOrAbsent(activeSpanContext, `active context (${where})`);
  const entries = propagation.getBaggage(active)?.getAllEntries() ?? [];
  if (entries.length > 180) throw new Error(`${entries.length} baggage entries kept; ${where}`);
  const baggageSize = entries.reduce((total, [key, entry]) => total + encodeURIComponent(key).length + encodeURIComponent(entry.value).length + 1, 0);
  if (baggageSize > 8192 + entries.length) throw new Error(`baggage of ~${baggageSize} bytes kept; ${where}`);
  if ((effective !== 'parent' || !choice.propagateBaggage) && entries.length > 0) {
    throw new Error(`baggage kept under ${effective}/propagateBaggage=${choice.propagateBaggage}; ${where}`);
  }
  const traceState = activeSpanContext?.traceState?.serialize() ?? '';
  if (traceState.length > 512) throw new Error(`tracestate of ${traceState.length} characters kept; ${where}`);
  for (const span of spans) {
    assertValidOrAbsent(span.parentSpanContext, `parent of ${span.name}`);
    for (const link of span.links) assertValidOrAbsent(link.context, `link of ${span.name}`);
  }
  if (choice.mode === 'spans') {
    // The consumer span is the active one; a parent-based sampler records it only when sampled.
    const sampled = activeSpanContext !== undefined && (activeSpanContext.traceFlags & 1) === 1;
    if (activeSpanContext === undefined || spans.length !== (sampled ? 1 : 0)) throw new Error(`${spans.length} spans for one delivery; ${where}`);
    const span = spans[0];
    if (effective === 'parent' && carried !== undefined) {
      if (activeSpanContext.traceId !== carried.traceId || (span !== undefined && span.parentSpanContext?.spanId !== carried.spanId)) {
        throw new Error(`valid traceparent not used as parent; ${where}`);
      }
    }
    if (effective !== 'parent') {
      if (span === undefined || span.parentSpanContext !== undefined) throw new Error(`not a new sampled root under ${effective}; ${where}`);
      if (effective === 'ignore' && span.links.length > 0) throw new Error(`link set under ignore; ${where}`);
      if (effective === 'link' && carried !== undefined && span.links[0]?.context.spanId !== carried.spanId) throw new Error(`valid traceparent not linked; ${where}`);
    }
  } else {
    if (spans.length !== 0) throw new Error(`propagation-only made ${spans.length} spans; ${where}`);
    if (effective !== 'parent' && activeSpanContext !== undefined) throw new Error(`context activated under ${effective}; ${where}`);
    if (carried !== undefined && effective === 'parent' && activeSpanContext?.spanId !== carried.spanId) throw new Error(`valid traceparent not activated; ${where}`);
  }
}

/** Freezes an object graph without calling any getter (hostile getters throw). */
export function freezeAll<T>(value: T, seen = new WeakSet<object>()): T {
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  seen.add(value);
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key);
    if (descriptor !== undefined && 'value' in descriptor) freezeAll(descriptor.value, seen);
  }
  // A typed array with elements cannot be frozen.
  if (!ArrayBuffer.isView(value)) Object.freeze(value);
  return value;
}

/**
 * Same own enumerable keys in the same order, same getters, and structurally equal values,
 * without calling a getter; cycles are followed once.
 */
export function structurallyEqual(a: unknown, b: unknown, seen = new Map<object, object>()): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    const bytes = (view: ArrayBufferView) => Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    return ArrayBuffer.isView(a) && ArrayBuffer.isView(b) && bytes(a).equals(bytes(b));
  }
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length || keysA.some((key, index) => keysB[index] !== key)) return false;
  return keysA.every((key) => {
    const da = Object.getOwnPropertyDescriptor(a, key)!;
    const db = Object.getOwnPropertyDescriptor(b, key)!;
    if ('value' in da && 'value' in db) return structurallyEqual(da.value, db.value, seen);
    return da.get === db.get && da.set === db.set;
  });
}
