import {
  createNoopMeter,
  createTraceState,
  diag,
  trace,
  ValueType,
  type Attributes,
  type Context,
  type Histogram,
  type Meter,
  type ObservableResult,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { BoundedSeries, localHistogramScopeOf, type SeriesAttributes } from './local-series';
import { WarnOnce } from './warn-once';

const logger = diag.createComponentLogger({ namespace: '@threadline/carrier' });
const warnings = new WarnOnce(logger);

/** The one extra carrier field, on transports whose broker stamps no time: the send time in decimal epoch ms. */
export const SENT_AT_FIELD = 'threadline-sent-at';
/** The W3C tracestate key whose value `o:<epoch ms, base36>` is the pipeline's first send time. */
export const PIPELINE_TRACESTATE_KEY = 'threadline';

export const METRIC_SENT_MESSAGES = 'messaging.client.sent.messages';
export const METRIC_CONSUMED_MESSAGES = 'messaging.client.consumed.messages';
export const METRIC_OPERATION_DURATION = 'messaging.client.operation.duration';
export const METRIC_PROCESS_DURATION = 'messaging.process.duration';
export const METRIC_QUEUE_TIME = 'threadline.messaging.queue.time';
export const METRIC_PIPELINE_DURATION = 'threadline.pipeline.duration';
export const METRIC_KAFKA_CONSUMER_LAG = 'threadline.kafka.consumer.lag';
export const ATTR_THREADLINE_TIME_SOURCE = 'threadline.time.source';

/** Where a queue-time send timestamp came from: the broker's own, or `threadline-sent-at`. */
export type TimeSource = 'broker' | 'carried';

/** A send time later than now by up to this much is clock skew between hosts: recorded as 0. */
export const CLOCK_SKEW_TOLERANCE_MS = 1000;
/** Older than this is no queue time but a wrong clock or a replayed message: dropped. */
export const MAX_PLAUSIBLE_AGE_MS = 7 * 24 * 60 * 60 * 1000;

// Semantic conventions' messaging buckets, widened for queues that hold messages for hours.
const OPERATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const WAIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];

export type TimestampProblem = 'missing' | 'garbage' | 'negative' | 'future' | 'absurd';

/**
 * An epoch-ms time from what a carrier or a broker holds: a number, a decimal string, a Buffer of
 * one, or a Date. `'garbage'` for anything else, undefined for nothing at all.
 */
export function parseEpochMs(raw: unknown): number | 'garbage' | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : 'garbage';
  if (typeof raw === 'bigint') return Number(raw);
  if (raw instanceof Date) return Number.isFinite(raw.getTime()) ? raw.getTime() : 'garbage';
  let text: string;
  if (typeof raw === 'string') text = raw;
  else if (Buffer.isBuffer(raw)) text = raw.toString('latin1');
  else if (Array.isArray(raw) && raw.length === 1) return parseEpochMs(raw[0]);
  else return 'garbage';
  // Decimal only: Number() would take '0x1f', '1e3' and ' 12 '.
  if (text.length === 0 || text.length > 20 || !/^-?\d+(\.\d+)?$/.test(text)) return 'garbage';
  return Number(text);
}

/**
 * Seconds from `sentAtMs` to `nowMs`, or the reason it is unusable: negative times, times beyond
 * the skew tolerance in the future, and ages over 7 days are never recorded.
 */
export function elapsedSeconds(sentAt: number | 'garbage' | undefined, nowMs: number): number | TimestampProblem {
  if (sentAt === undefined) return 'missing';
  if (sentAt === 'garbage') return 'garbage';
  if (sentAt < 0) return 'negative';
  const elapsed = nowMs - sentAt;
  if (elapsed < -CLOCK_SKEW_TOLERANCE_MS) return 'future';
  if (elapsed > MAX_PLAUSIBLE_AGE_MS) return 'absurd';
  return elapsed <= 0 ? 0 : elapsed / 1000;
}

function reportDropped(metric: string, problem: TimestampProblem, raw: unknown): void {
  // A constant text per (metric, problem): WarnOnce warns once, then logs at debug.
  warnings.warn(`${metric}: ${problem} timestamp, value dropped (the message is unaffected)`, raw);
}

/** Writes `threadline-sent-at` (now, epoch ms) into a carrier. */
export function writeSentAt<C>(carrier: C, setter: TextMapSetter<C>, nowMs: number = Date.now()): void {
  setter.set(carrier, SENT_AT_FIELD, String(nowMs));
}

/** The raw `threadline-sent-at` a carrier holds (validate with `parseEpochMs`). Never throws. */
export function readSentAt<C>(carrier: C, getter: TextMapGetter<C>): unknown {
  try {
    return getter.get(carrier, SENT_AT_FIELD);
  } catch {
    return 'garbage';
  }
}

/** The raw `tracestate` a carrier holds, for `pipelineOrigin`; undefined when it cannot be read. */
export function readTraceStateHeader<C>(carrier: C, getter: TextMapGetter<C>): unknown {
  try {
    return getter.get(carrier, 'tracestate');
  } catch {
    return undefined;
  }
}

// W3C trace context: at most 32 list members and 512 characters. A full tracestate is sent as
// it is: the user's vendors' entries come first, and only the pipeline duration is lost.
const TRACESTATE_MAX_MEMBERS = 32;
const TRACESTATE_MAX_LENGTH = 512;
function roomInTraceState(serialized: string, entry: string): boolean {
  if (serialized === '') return true;
  const members = serialized.split(',').length;
  return members < TRACESTATE_MAX_MEMBERS && serialized.length + 1 + PIPELINE_TRACESTATE_KEY.length + 1 + entry.length <= TRACESTATE_MAX_LENGTH;
}

function originValue(value: string): number | 'garbage' {
  if (!value.startsWith('o:') || value.length > 14 || !/^[0-9a-z]+$/.test(value.slice(2))) return 'garbage';
  return parseInt(value.slice(2), 36);
}

/**
 * The pipeline's first send time (epoch ms) a context's tracestate carries; undefined when none.
 * `header`, the raw tracestate the context was extracted from, is read without parsing the
 * whole list when it is plain enough to give the same answer (see `originFromTraceStateHeader`).
 */
export function pipelineOrigin(ctx: Context | undefined, header?: unknown): number | 'garbage' | undefined {
  if (ctx === undefined) return undefined;
  const traceState = trace.getSpanContext(ctx)?.traceState;
  if (traceState === undefined) return undefined;
  const raw = Array.isArray(header) ? header.join(',') : header;
  if (typeof raw === 'string') {
    const quick = originFromTraceStateHeader(raw);
    if (quick !== UNSURE) return quick;
  }
  const value = traceState.get(PIPELINE_TRACESTATE_KEY);
  return value === undefined ? undefined : originValue(value);
}

const UNSURE = Symbol('unsure');
const MEMBER_PREFIX = `${PIPELINE_TRACESTATE_KEY}=`;

/**
 * The origin in a raw tracestate header, as OpenTelemetry's TraceState would read it, for the
 * common case: at most 512 characters and 32 members, threadline's member once, its value well
 * formed. Anything else is UNSURE and left to the full parse (members dropped past the limits,
 * duplicates, invalid values).
 */
export function originFromTraceStateHeader(header: string): number | 'garbage' | undefined | typeof UNSURE {
  const at = header.indexOf(MEMBER_PREFIX);
  if (at === -1) return undefined;
  if (header.length > TRACESTATE_MAX_LENGTH || at !== header.lastIndexOf(MEMBER_PREFIX)) return UNSURE;
  let members = 1;
  for (let index = header.indexOf(','); index !== -1; index = header.indexOf(',', index + 1)) members += 1;
  if (members > TRACESTATE_MAX_MEMBERS) return UNSURE;
  const start = header.lastIndexOf(',', at) + 1;
  // Another key ending in "threadline" (or text before it in the member): not ours.
  if (header.slice(start, at).trim() !== '') return undefined;
  const end = header.indexOf(',', at);
  // The member is trimmed as a whole: space after '=' stays in the value.
  const value = header.slice(at + MEMBER_PREFIX.length, end === -1 ? header.length : end).trimEnd();
  const origin = originValue(value);
  return origin === 'garbage' ? UNSURE : origin;
}

/**
 * `ctx` with the pipeline origin (now) in its span context's tracestate, unless the tracestate
 * already has one (then the context is returned as it is: the origin flows hop to hop unchanged).
 */
export function withPipelineOrigin(ctx: Context, nowMs: number = Date.now()): Context {
  const spanContext = trace.getSpanContext(ctx);
  if (spanContext === undefined || !trace.isSpanContextValid(spanContext)) return ctx;
  const current = spanContext.traceState;
  if (current?.get(PIPELINE_TRACESTATE_KEY) !== undefined) return ctx;
  const entry = `o:${nowMs.toString(36)}`;
  if (current !== undefined && !roomInTraceState(current.serialize(), entry)) return ctx;
  const traceState = (current ?? createTraceState()).set(PIPELINE_TRACESTATE_KEY, entry);
  return trace.setSpanContext(ctx, { ...spanContext, traceState });
}

/**
 * A tracestate header as a propagator serialized it, with the pipeline origin (now) as its first
 * member: what injecting `withPipelineOrigin(ctx)` writes, without a new context and TraceState
 * per send. Unchanged when it holds an origin already or has no room for one.
 */
export function traceStateWithOrigin(serialized: string, nowMs: number = Date.now()): string {
  if (serialized.startsWith(MEMBER_PREFIX) || serialized.includes(`,${MEMBER_PREFIX}`)) return serialized;
  const value = originEntry(nowMs);
  if (!roomInTraceState(serialized, value)) return serialized;
  return serialized === '' ? `${MEMBER_PREFIX}${value}` : `${MEMBER_PREFIX}${value},${serialized}`;
}

// Sends in the same millisecond share the entry's text.
let lastOriginMs = -1;
let lastOriginEntry = '';
function originEntry(nowMs: number): string {
  if (nowMs !== lastOriginMs) {
    lastOriginMs = nowMs;
    lastOriginEntry = `o:${nowMs.toString(36)}`;
  }
  return lastOriginEntry;
}

export interface DestinationNameOptions {
  /** The transport knows the destination is temporary (exclusive, auto-delete, server-named, SQS temporary queue). */
  temporary?: boolean;
  /** A Kubernetes Job name: collapsed to its `generateName`, or with the generated suffix removed. */
  kind?: 'job';
  /** The Job's `metadata.generateName`, when set. */
  generateName?: string;
}

// Kubernetes' generated suffix: 5 characters from its vowel-free alphabet; or a run id/hash of
// 6+ hex digits holding at least one digit (so words like `-decade` stay).
const JOB_SUFFIX = /-(?:[bcdfghjklmnpqrstvwxz2456789]{5}|(?=[0-9a-f]*[0-9])[0-9a-f]{6,})$/;

/**
 * The `messaging.destination.name` of a metric: generated names collapse so that the number of
 * series stays bounded. RabbitMQ `amq.gen-…` → `amq.gen-*`, direct reply-to
 * `amq.rabbitmq.reply-to.…` → `amq.rabbitmq.reply-to`; temporary destinations →
 * `(temporary)`; Job names → their `generateName`, else without the generated suffix; every
 * other name (MongoDB collections included) as it is.
 */
export function metricDestinationName(name: string, options?: DestinationNameOptions): string {
  if (options?.temporary === true) return '(temporary)';
  if (name.startsWith('amq.gen-')) return 'amq.gen-*';
  // Direct reply-to: the broker names one pseudo-queue per consumer channel.
  if (name.startsWith('amq.rabbitmq.reply-to.')) return 'amq.rabbitmq.reply-to';
  if (options?.kind === 'job') {
    if (options.generateName !== undefined && options.generateName.length > 0) return options.generateName;
    return name.replace(JOB_SUFFIX, '');
  }
  return name;
}

function isNoopMeter(meter: Meter): boolean {
  const noop = createNoopMeter();
  if (meter === noop || meter instanceof (noop.constructor as new () => Meter)) return true;
  // Another copy of @opentelemetry/api: its no-op classes keep their names.
  return (meter as { constructor?: { name?: string } }).constructor?.name === 'NoopMeter';
}

/** What a consumer knows about one message when it hands it over. */
export interface ReceivedMessage {
  /** `messaging.consumer.group.name`, when there is one. */
  consumerGroup?: string;
  /** The send time of this hop, raw (validated here): epoch ms as number, decimal string or Buffer, or a Date. */
  sentAt?: unknown;
  /** Where `sentAt` came from. @default 'carried' */
  source?: TimeSource;
  /** The message's extracted context, whose tracestate may hold the pipeline origin. */
  context?: Context;
  /** The raw tracestate the context was extracted from, when at hand: read faster than the context's. */
  traceStateHeader?: unknown;
  /** Messages this call delivered (a batch handed over at once). @default 1 */
  count?: number;
  /** `messaging.operation.name` of the consumed counter. @default 'process' */
  operationName?: string;
}

interface Count {
  readonly attributes: Attributes;
  value: number;
}

/** Counts kept here and reported at each collection through an asynchronous instrument. */
class LocalCounts extends BoundedSeries<Count> {
  constructor(name: string) {
    super(name, (attributes) => ({ attributes, value: 0 }));
  }

  report = (result: ObservableResult): void => {
    for (const each of this.series.values()) result.observe(each.value, each.attributes);
  };
}

/** A histogram value of the series these parts name. */
interface ValueRecorder {
  record(value: number, owner: SeriesAttributes, operation: string, destination: string, group: string | undefined, error: string | undefined, extraKey?: string, extraValue?: string): void;
}

/** The SDK's histogram, fed one reused attribute object per series (building one per value is most of the cost). */
class SdkHistogram implements ValueRecorder {
  private readonly attributes: BoundedSeries<{ attributes: Attributes }>;

  constructor(private readonly histogram: Histogram) {
    this.attributes = new BoundedSeries('', (attributes) => ({ attributes }), true);
  }

  record(value: number, owner: SeriesAttributes, operation: string, destination: string, group: string | undefined, error: string | undefined, extraKey?: string, extraValue?: string): void {
    // Past the series limit the SDK gets fresh attributes and applies its own cardinality limit.
    const attributes = this.attributes.entry(owner, operation, destination, group, error, extraKey, extraValue)?.attributes ?? owner.build(operation, destination, group, error, extraKey, extraValue);
    this.histogram.record(value, attributes);
  }
}

interface HistogramSpec {
  name: string;
  description: string;
  boundaries: number[];
}

/**
 * The messaging instruments of one Meter, and the only code that records them. Built from a
 * no-op meter (no MeterProvider, `OTEL_METRICS_EXPORTER=none`) it is `enabled: false` and
 * every method returns at once, before reading a clock or parsing anything.
 */
export class MessagingMetrics implements SeriesAttributes {
  readonly enabled: boolean;
  private readonly sentCounts = new LocalCounts(METRIC_SENT_MESSAGES);
  private readonly consumedCounts = new LocalCounts(METRIC_CONSUMED_MESSAGES);
  private readonly lags = new LocalCounts(METRIC_KAFKA_CONSUMER_LAG);
  private readonly operationHistogram: ValueRecorder | undefined;
  private readonly processHistogram: ValueRecorder | undefined;
  private readonly queueHistogram: ValueRecorder | undefined;
  private readonly pipelineHistogram: ValueRecorder | undefined;

  constructor(
    readonly meter: Meter,
    /** `messaging.system`. */
    readonly system: string,
  ) {
    this.enabled = !isNoopMeter(meter);
    if (!this.enabled) return;
    meter
      .createObservableCounter(METRIC_SENT_MESSAGES, { unit: '{message}', description: 'Messages handed to the broker.', valueType: ValueType.INT })
      .addCallback(this.sentCounts.report);
    meter
      .createObservableCounter(METRIC_CONSUMED_MESSAGES, { unit: '{message}', description: 'Messages delivered to the application.', valueType: ValueType.INT })
      .addCallback(this.consumedCounts.report);
    // Aggregated here when the meter's provider reports them (register's); else through the SDK.
    const local = localHistogramScopeOf(meter);
    const histogram = ({ name, description, boundaries }: HistogramSpec): ValueRecorder =>
      local !== undefined ? local.histogram(name, description, 's', boundaries) : new SdkHistogram(meter.createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: boundaries } }));
    this.operationHistogram = histogram({ name: METRIC_OPERATION_DURATION, description: 'Duration of a messaging operation the client performs.', boundaries: OPERATION_BUCKETS });
    this.processHistogram = histogram({ name: METRIC_PROCESS_DURATION, description: 'Duration of the application processing one message or batch.', boundaries: OPERATION_BUCKETS });
    this.queueHistogram = histogram({ name: METRIC_QUEUE_TIME, description: 'Time a message waited between its send and its receive, for this hop.', boundaries: WAIT_BUCKETS });
    this.pipelineHistogram = histogram({ name: METRIC_PIPELINE_DURATION, description: "Time since the pipeline's first send, at this receive.", boundaries: WAIT_BUCKETS });
    meter
      .createObservableGauge(METRIC_KAFKA_CONSUMER_LAG, { unit: '{message}', description: 'Messages in the partition after the one just consumed.', valueType: ValueType.INT })
      .addCallback(this.lags.report);
  }

  /** A start time for a duration (`performance.now()`), 0 when disabled. */
  start(): number {
    return this.enabled ? performance.now() : 0;
  }

  /** The attributes of a new series (SeriesAttributes). */
  build(operation: string, destination: string, group: string | undefined, error: string | undefined, extraKey?: string, extraValue?: string): Attributes {
    const attributes: Attributes = {};
    attributes['messaging.system'] = this.system;
    attributes['messaging.destination.name'] = destination;
    if (operation !== '') attributes['messaging.operation.name'] = operation;
    if (group !== undefined) attributes['messaging.consumer.group.name'] = group;
    if (error !== undefined) attributes['error.type'] = error;
    if (extraKey !== undefined && extraValue !== undefined) attributes[extraKey] = extraValue;
    return attributes;
  }

  private count(series: LocalCounts, by: number, operation: string, destination: string, group: string | undefined, error: string | undefined): void {
    const entry = series.entry(this, operation, destination, group, error);
    if (entry !== undefined) entry.value += by;
  }

  private duration(histogram: ValueRecorder, startedAt: number, operation: string, destination: string, group: string | undefined, error: string | undefined): void {
    histogram.record((performance.now() - startedAt) / 1000, this, operation, destination, group, error);
  }

  /** `count` messages sent (the call settled), and the send's `messaging.client.operation.duration`. */
  sent(destination: string, count: number, startedAt: number, errorType?: string, operationName: string = 'send'): void {
    if (!this.enabled) return;
    this.count(this.sentCounts, count, operationName, destination, undefined, errorType);
    if (startedAt > 0) this.duration(this.operationHistogram!, startedAt, operationName, destination, undefined, errorType);
  }

  /** One client operation (receive, settle, …) that sent nothing: its duration only. */
  operation(destination: string, operationName: string, startedAt: number, errorType?: string, consumerGroup?: string): void {
    if (!this.enabled || startedAt <= 0) return;
    this.duration(this.operationHistogram!, startedAt, operationName, destination, consumerGroup, errorType);
  }

  /**
   * A message (or `count`) handed to the application: the consumed counter, this hop's queue
   * time from `sentAt`, and the pipeline duration from the context's tracestate (when
   * `pipeline` is true). Bad timestamps are dropped with a diag message.
   */
  received(destination: string, message: ReceivedMessage, pipeline: boolean = true): void {
    if (!this.enabled) return;
    const group = message.consumerGroup;
    this.count(this.consumedCounts, message.count ?? 1, message.operationName ?? 'process', destination, group, undefined);
    const now = Date.now();
    const source = message.source ?? 'carried';
    const waited = elapsedSeconds(parseEpochMs(message.sentAt), now);
    if (typeof waited === 'number') {
      this.queueHistogram!.record(waited, this, '', destination, group, undefined, ATTR_THREADLINE_TIME_SOURCE, source);
    } else {
      reportDropped(METRIC_QUEUE_TIME, waited, message.sentAt);
    }
    if (pipeline && message.context !== undefined) this.pipelineFrom(destination, message.context, group, now, message.traceStateHeader);
  }

  /** `threadline.pipeline.duration` now, from the origin a context carries; nothing when it carries none. */
  pipelineFrom(destination: string, ctx: Context, consumerGroup?: string, nowMs: number = Date.now(), traceStateHeader?: unknown): void {
    if (!this.enabled) return;
    const origin = pipelineOrigin(ctx, traceStateHeader);
    if (origin === undefined) return;
    const elapsed = elapsedSeconds(origin, nowMs);
    if (typeof elapsed === 'number') this.pipelineHistogram!.record(elapsed, this, '', destination, consumerGroup, undefined);
    else reportDropped(METRIC_PIPELINE_DURATION, elapsed, origin);
  }

  /** `messaging.process.duration` of the application's handling of one message or batch. */
  processed(destination: string, startedAt: number, errorType?: string, consumerGroup?: string): void {
    if (!this.enabled || startedAt <= 0) return;
    this.duration(this.processHistogram!, startedAt, 'process', destination, consumerGroup, errorType);
  }

  /** Kafka consumer lag of one partition: high watermark − (offset + 1), never below 0. */
  lag(destination: string, consumerGroup: string | undefined, partition: number | string, highWatermark: unknown, offset: unknown): void {
    if (!this.enabled) return;
    const high = Number(highWatermark);
    const at = Number(offset);
    if (!Number.isFinite(high) || !Number.isFinite(at) || high < 0 || at < 0) return;
    const id = String(partition);
    const entry = this.lags.entry(this, '', destination, consumerGroup, undefined, 'messaging.destination.partition.id', id);
    if (entry !== undefined) entry.value = Math.max(0, high - (at + 1));
  }
}

const disabledCache = new MessagingMetrics(createNoopMeter(), '');

/** Metrics that record nothing (for code that has no meter). */
export function disabledMetrics(): MessagingMetrics {
  return disabledCache;
}
