import { context, trace } from '@opentelemetry/api';
import { setupInMemoryOtel, VALID_TRACEPARENT } from '@threadline/testing';
import { followArray, kafkaHeadersAdapter, MessagingSpanPolicy, type MessagingInstrumentationConfig } from '../src';

const { exporter, tracer, logs } = setupInMemoryOtel();
let config: MessagingInstrumentationConfig = {};
const policy = new MessagingSpanPolicy({ system: 'kafka', getTracer: () => tracer, getConfig: () => config });
const TRACE = VALID_TRACEPARENT.split('-')[1];
type Msg = { headers: Record<string, string> };
const messages = (): Msg[] => [{ headers: { traceparent: VALID_TRACEPARENT } }, { headers: { traceparent: 'garbage' } }, { headers: { traceparent: VALID_TRACEPARENT } }];
const follow = (array: Msg[]) =>
  followArray(array, (m) => policy.startProcess({ destination: 't', carrier: m.headers, getter: kafkaHeadersAdapter }), { shape: 'test', advice: 'x', siteKey: array });
const traceOf = () => trace.getSpanContext(context.active())?.traceId;

beforeEach(() => {
  exporter.reset();
  config = {};
});

test('for…of: each element in its own context, the context restored after the loop; the array is unchanged', () => {
  const array = messages();
  const copy = JSON.parse(JSON.stringify(array));
  const followed = follow(array);
  const seen: (string | undefined)[] = [];
  for (const message of array) seen.push(message === undefined ? undefined : traceOf());
  expect(seen[0]).toBe(TRACE);
  expect(seen[1]).not.toBe(TRACE);
  expect(seen[2]).toBe(TRACE);
  expect(traceOf()).toBeUndefined();
  expect(Array.isArray(array)).toBe(true);
  expect(Object.keys(array)).toEqual(['0', '1', '2']);
  expect(JSON.parse(JSON.stringify(array))).toEqual(copy);
  expect(array).toEqual(copy);
  expect(followed.iterated).toBe(true);
  expect(exporter.getFinishedSpans()).toHaveLength(3);
  followed.release();
  expect(Object.getOwnPropertySymbols(array)).toEqual([]);
});

test('break and a throw in the body end the scope and restore the context', () => {
  const array = messages();
  follow(array);
  for (const message of array) {
    expect(message).toBe(array[0]);
    expect(traceOf()).toBe(TRACE);
    break;
  }
  expect(traceOf()).toBeUndefined();
  expect(() => {
    for (const message of array) throw new Error(`boom ${message === undefined}`);
  }).toThrow('boom');
  expect(traceOf()).toBeUndefined();
  // Spans are made when a message's context is first read: the throwing body never read it.
  expect(exporter.getFinishedSpans()).toHaveLength(1);
});

test('nested loops restore the outer element', () => {
  const outer = messages();
  const inner = messages();
  follow(outer);
  follow(inner);
  for (const message of outer) {
    const before = traceOf();
    for (const other of inner) expect(other).not.toBe(message);
    expect(traceOf()).toBe(before);
  }
  expect(traceOf()).toBeUndefined();
});

test('map and forEach: callbacks in context, same results; async ends on settle; no span for a loop that never reads the context', async () => {
  const array = messages();
  follow(array);
  expect(array.map((_m, i) => i * 2)).toEqual([0, 2, 4]);
  expect(exporter.getFinishedSpans()).toHaveLength(0);
  const traces = await Promise.all(array.map(async () => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return traceOf();
  }));
  expect(traces[0]).toBe(TRACE);
  expect(traces[1]).not.toBe(TRACE);
  const each: (string | undefined)[] = [];
  array.forEach(() => each.push(traceOf()));
  expect(each[2]).toBe(TRACE);
  expect(traceOf()).toBeUndefined();
});

test('propagation-only: context only, no spans', () => {
  config = { mode: 'propagation-only' };
  const array = messages();
  follow(array);
  const seen: (string | undefined)[] = [];
  for (const message of array) seen.push(message === undefined ? undefined : traceOf());
  expect(seen[0]).toBe(TRACE);
  expect(exporter.getFinishedSpans()).toHaveLength(0);
});

test('without attach: the loop runs as before and a warning names the call site once', () => {
  const manager = (context as unknown as { _getContextManager(): { attach?: unknown } })._getContextManager();
  const attach = Object.getPrototypeOf(manager).attach;
  Object.defineProperty(manager, 'attach', { value: undefined, configurable: true });
  try {
    const array = messages();
    follow(array);
    const seen: unknown[] = [];
    for (const m of array) seen.push(m);
    for (const m of array) seen.push(m);
    expect(seen).toHaveLength(6);
    expect(traceOf()).toBeUndefined();
    const warnings = logs.filter((log) => log.level === 'warn' && log.message.includes('has no attach'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toContain('follow.test.ts');
  } finally {
    delete (manager as { attach?: unknown }).attach;
    expect(Object.getPrototypeOf(manager).attach).toBe(attach);
  }
});
