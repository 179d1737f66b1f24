import {
  context,
  diag,
  propagation,
  ROOT_CONTEXT,
  trace,
  type Context,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { envVarName, recordAdapter, type CarrierAdapter } from './adapters';
import { SENT_AT_FIELD, traceStateWithOrigin, writeSentAt } from './metrics';

const logger = diag.createComponentLogger({ namespace: '@threadline/carrier' });

/** The carrier fields the global propagator writes (for example `traceparent`, `tracestate`, `baggage`). */
export function propagationFields(): string[] {
  try {
    return propagation.fields();
  } catch {
    return [];
  }
}

let cachedFields = '';
let cachedWanted: Set<string> = new Set();

/**
 * The propagator's fields, lower-cased, plus their environment-variable spellings. Cached by
 * content: the API hands out a fresh copy of the list on every call.
 */
function wantedKeys(fields: readonly string[]): Set<string> {
  const key = fields.join(',');
  if (key !== cachedFields) {
    cachedWanted = new Set(fields.flatMap((field) => [field.toLowerCase(), envVarName(field).toLowerCase()]));
    cachedFields = key;
  }
  return cachedWanted;
}

/**
 * True when the carrier already holds any field the global propagator uses, readable or not:
 * a key the user set (even to null or garbage) is theirs and is never overwritten. One pass over
 * the carrier's keys, compared without case.
 */
export function carrierHasContext<C>(carrier: C, getter: TextMapGetter<C>): boolean {
  return hasContextKeys(carrier, getter, wantedKeys(propagationFields()));
}

export interface InjectOptions {
  /**
   * Leave a carrier that already holds context untouched, so that a context the user set
   * explicitly wins. @default true
   */
  keepExisting?: boolean;
  /**
   * The most entries the carrier may hold after injection (for example 10 SQS message
   * attributes). When the fields do not all fit, nothing is injected and a warning is logged:
   * half a context is worse than none. @default unlimited
   */
  maxEntries?: number;
  /**
   * What to inject when `maxEntries` leaves too little room for every field.
   * `all-or-none`: nothing. `traceparent-only`: the trace context without tracestate and
   * baggage (for W3C, `traceparent` alone), if that fits; a warning is logged either way.
   * @default 'all-or-none'
   */
  budgetPolicy?: 'all-or-none' | 'traceparent-only';
  /**
   * Also write `threadline-sent-at` (the send time, decimal epoch ms) for a queue-time metric,
   * on transports whose broker stamps no time. Written after the context and only when
   * `maxEntries` leaves room: the context is never dropped for it. A value the carrier already
   * holds is replaced (it is this hop's send time). Through a `MessagingScope` it is written
   * only when metrics are recorded. @default false
   */
  sentAt?: boolean;
}

export type InjectOutcome = 'injected' | 'kept-existing' | 'no-room' | 'failed';

/** `ctx` without baggage and tracestate: what is left is the trace identity alone. */
function withoutOptionalFields(ctx: Context): Context {
  const trimmed = propagation.deleteBaggage(ctx);
  const spanContext = trace.getSpanContext(trimmed);
  if (spanContext?.traceState === undefined) return trimmed;
  return trace.setSpanContext(trimmed, { ...spanContext, traceState: undefined });
}

/**
 * One context as the global propagator writes it, serialised on first use and then copied into
 * any number of carriers: a batch of messages sent under one span pays for one serialisation.
 * Propagators write a pure function of the context, so the copy is what `inject` would write.
 */
export class PreparedContext {
  private entries: ReadonlyArray<readonly [string, string]> | undefined;
  private wanted: Set<string> | undefined;
  private trimmed: PreparedContext | undefined;

  constructor(
    readonly context: Context,
    /** The pipeline origin (epoch ms) to add to the W3C tracestate, when metrics record it. */
    private readonly pipelineOriginMs?: number,
  ) {}

  /** The fields and values the global propagator writes for this context. */
  fields(): ReadonlyArray<readonly [string, string]> {
    if (this.entries === undefined) {
      const scratch: Record<string, unknown> = Object.create(null);
      propagation.inject(this.context, scratch, recordAdapter);
      // Only where W3C trace context was written: other propagators carry no tracestate.
      if (this.pipelineOriginMs !== undefined && typeof scratch.traceparent === 'string') {
        scratch.tracestate = traceStateWithOrigin(typeof scratch.tracestate === 'string' ? scratch.tracestate : '', this.pipelineOriginMs);
      }
      this.entries = Object.keys(scratch).map((key) => [key, String(scratch[key])] as const);
    }
    return this.entries;
  }

  /** The same context without tracestate and baggage. */
  withoutOptionalFields(): PreparedContext {
    this.trimmed ??= new PreparedContext(withoutOptionalFields(this.context));
    return this.trimmed;
  }

  /** The propagator's field names in every spelling a carrier may hold them. */
  wantedKeys(): Set<string> {
    this.wanted ??= wantedKeys(propagation.fields());
    return this.wanted;
  }

  /** Writes the fields into `carrier` through `setter`. */
  writeTo<C>(carrier: C, setter: TextMapSetter<C>): void {
    for (const [key, value] of this.fields()) setter.set(carrier, key, value);
  }
}

/** `carrierHasContext` against an already computed set of wanted keys. */
function hasContextKeys<C>(carrier: C, getter: TextMapGetter<C>, wanted: Set<string>): boolean {
  try {
    const keys = getter.keys(carrier);
    for (const key of keys) {
      if (typeof key === 'string' && wanted.has(key.toLowerCase())) return true;
    }
    return false;
  } catch (error) {
    logger.debug('could not read carrier', error);
    return false;
  }
}

/**
 * Injects a prepared context into `carrier`: `injectContext` for callers that inject one
 * context into many carriers. Never throws.
 */
export function injectPrepared<C>(prepared: PreparedContext, carrier: C, adapter: CarrierAdapter<C>, options?: InjectOptions, sentAtMs?: number): InjectOutcome {
  const outcome = injectFields(prepared, carrier, adapter, options);
  if (sentAtMs !== undefined && (outcome === 'injected' || outcome === 'kept-existing')) addSentAt(carrier, adapter, options?.maxEntries, sentAtMs);
  return outcome;
}

function addSentAt<C>(carrier: C, adapter: CarrierAdapter<C>, maxEntries: number | undefined, sentAtMs: number): void {
  try {
    if (maxEntries !== undefined) {
      const keys = adapter.keys(carrier);
      if (!keys.includes(SENT_AT_FIELD) && keys.length >= maxEntries) {
        logger.debug(`carrier is full; ${SENT_AT_FIELD} not added (queue time falls back to the broker's time, if any)`);
        return;
      }
    }
    writeSentAt(carrier, adapter, sentAtMs);
  } catch (error) {
    logger.debug(`could not add ${SENT_AT_FIELD}`, error);
  }
}

function injectFields<C>(prepared: PreparedContext, carrier: C, adapter: CarrierAdapter<C>, options?: InjectOptions): InjectOutcome {
  try {
    if (typeof carrier === 'object' && carrier !== null && !Object.isExtensible(carrier)) {
      logger.debug('carrier is frozen or sealed; message sent without context');
      return 'failed';
    }
    if (options?.keepExisting !== false && hasContextKeys(carrier, adapter, prepared.wantedKeys())) return 'kept-existing';
    if (options?.maxEntries !== undefined) {
      const present = new Set(adapter.keys(carrier));
      const toAdd = (fields: ReadonlyArray<readonly [string, string]>) => fields.filter(([field]) => !present.has(field)).length;
      const needed = toAdd(prepared.fields());
      if (present.size + needed > options.maxEntries) {
        if (options.budgetPolicy === 'traceparent-only') {
          const trimmed = prepared.withoutOptionalFields();
          if (present.size + toAdd(trimmed.fields()) <= options.maxEntries) {
            logger.warn(
              `carrier holds ${present.size} of ${options.maxEntries} entries; context needs ${needed} more, so only the trace context is injected (tracestate and baggage dropped)`,
            );
            trimmed.writeTo(carrier, adapter);
            return 'injected';
          }
        }
        logger.warn(
          `carrier holds ${present.size} of ${options.maxEntries} entries; context needs ${needed} more, so none is injected and the message is sent without it`,
        );
        return 'no-room';
      }
    }
    prepared.writeTo(carrier, adapter);
    return 'injected';
  } catch (error) {
    logger.debug('inject failed; message sent without context', error);
    return 'failed';
  }
}

/**
 * Injects `ctx` into `carrier` through the global propagator. Never throws: a failure is logged
 * at debug level and reported in the return value, and the carrier is left usable.
 */
export function injectContext<C>(ctx: Context, carrier: C, adapter: CarrierAdapter<C>, options?: InjectOptions): InjectOutcome {
  return injectPrepared(new PreparedContext(ctx), carrier, adapter, options, options?.sentAt === true ? Date.now() : undefined);
}

/**
 * A carrier that holds a trace-context field the propagator could not read (garbage, a value of
 * an unexpected type, a duplicate) gets one debug line: the message goes on without that context.
 * Only reached when nothing was extracted, so a valid carrier costs nothing extra.
 */
function reportUnreadContext<C>(carrier: C, getter: TextMapGetter<C>): void {
  if (carrier === undefined || carrier === null) return;
  for (const field of propagation.fields()) {
    if (field === 'baggage') continue;
    const value = getter.get(carrier, field);
    if (value !== undefined) {
      logger.debug(`the carrier's ${field} holds no valid trace context; the message continues without it`);
      return;
    }
  }
}

/**
 * Extracts a context from a carrier on top of `base`. Never throws; on a malformed or missing
 * context the result is `base` itself.
 */
export function extractContextFrom<C>(base: Context, carrier: C, getter: TextMapGetter<C>): Context {
  try {
    const extracted = propagation.extract(base, carrier, getter);
    if (trace.getSpanContext(extracted) === trace.getSpanContext(base)) reportUnreadContext(carrier, getter);
    return extracted;
  } catch (error) {
    logger.debug('extract failed; continuing without the incoming context', error);
    return base;
  }
}

/**
 * Injects the active context into `carrier` and returns the carrier.
 *
 * @example doc.context = injectCurrentContext({});
 */
export function injectCurrentContext<C = Record<string, unknown>>(
  carrier: C,
  setter: TextMapSetter<C> = recordAdapter as unknown as TextMapSetter<C>,
): C {
  try {
    propagation.inject(context.active(), carrier, setter);
  } catch (error) {
    logger.debug('inject failed; carrier left as it was', error);
  }
  return carrier;
}

/**
 * The context carried by `carrier`, on top of the active context. A carrier with no valid
 * context gives the active context back unchanged.
 *
 * @example context.with(extractContext(doc.context), () => work(doc));
 */
export function extractContext<C = Record<string, unknown>>(
  carrier: C,
  getter: TextMapGetter<C> = recordAdapter as unknown as TextMapGetter<C>,
): Context {
  return extractContextFrom(context.active(), carrier, getter);
}

/** Runs `fn` inside the context carried by `carrier`, and returns what `fn` returns. */
export function withExtractedContext<C, R>(
  carrier: C,
  fn: () => R,
  getter: TextMapGetter<C> = recordAdapter as unknown as TextMapGetter<C>,
): R {
  return context.with(extractContext(carrier, getter), fn);
}

/** The span context a carrier holds, extracted from an empty context; undefined when none is valid. */
export function carriedSpanContext<C>(carrier: C, getter: TextMapGetter<C>) {
  const spanContext = trace.getSpanContext(extractContextFrom(ROOT_CONTEXT, carrier, getter));
  return spanContext !== undefined && trace.isSpanContextValid(spanContext) ? spanContext : undefined;
}
