/** OpenTelemetry span kinds by name, as OTLP and `@threadline/testing` spell them. */
export type DoctorSpanKind = 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER' | 'UNSPECIFIED';

/** A link from one span to another span context. */
export interface DoctorLink {
  traceId: string;
  spanId: string;
  attributes?: Record<string, unknown>;
}

/**
 * One finished span, flattened. Structurally the same as `CollectedSpan` from
 * `@threadline/testing`, so the collector's `spans()` can be passed straight to `diagnose`.
 */
export interface DoctorSpan {
  /** 32 lowercase hex characters. */
  traceId: string;
  /** 16 lowercase hex characters. */
  spanId: string;
  /** Absent (or empty) for a root span. */
  parentSpanId?: string;
  name: string;
  kind: DoctorSpanKind;
  /** `service.name` of the span's resource. */
  serviceName: string;
  attributes: Record<string, unknown>;
  links?: DoctorLink[];
  /** Milliseconds since the epoch. */
  startTimeMs: number;
  endTimeMs: number;
}

/** Thresholds of `diagnose` and the CLI. */
export interface DoctorOptions {
  /**
   * How long after a send ends a consumer may start and still be matched to it by time,
   * when the two sides do not share a message id (CLI `--window-ms`).
   * @default 10000
   */
  windowMs?: number;
  /**
   * A trace lasting longer than this, first span start to last span end, is reported as
   * never-ending (CLI `--max-trace-ms`).
   * @default 600000 (10 minutes)
   */
  maxTraceMs?: number;
  /**
   * A service whose consumer spans are new traces (roots without a link) in a greater share
   * than this is flagged (CLI `--root-ratio`). Between 0 and 1.
   * @default 0.5
   */
  rootRatio?: number;
  /**
   * More consumer spans than this directly under one non-messaging span of the same service
   * mark that span as a poll loop that chains unrelated messages into one trace
   * (CLI `--max-loop-children`).
   * @default 10
   */
  maxLoopChildren?: number;
  /**
   * Clock difference tolerated between processes when comparing span times: a consumer may
   * appear to start this much before its producer (CLI `--clock-skew-ms`).
   * @default 100
   */
  clockSkewMs?: number;
}

/** `DoctorOptions` with every default filled in. */
export type ResolvedDoctorOptions = Required<DoctorOptions>;

/** A short reference to one span in a report. */
export interface SpanRef {
  traceId: string;
  spanId: string;
  name: string;
  serviceName: string;
}

/** What a hop travels through: a messaging destination or a request endpoint. */
export interface Channel {
  /** `messaging` for brokers and queues, `request` for HTTP/RPC client → server calls. */
  type: 'messaging' | 'request';
  /** `messaging.system` (kafka, rabbitmq, aws_sqs, mongodb, …), or `http` / the `rpc.system`. */
  system?: string;
  /** Topic, exchange, queue or collection as the sending side names it; or `METHOD /path`. */
  destination: string;
  /** Human wording: `kafka topic`, `rabbitmq exchange`, `sqs queue`, `http endpoint`, … */
  label: string;
}

/** How the consumer side of a broken hop was tied to its producer. */
export type HopEvidence =
  /** The same `messaging.message.id` on both sides. */
  | 'message-id'
  /** A consumer span that starts a new trace within the time window after a send. */
  | 'time-window'
  /** No consumer span at all: the consumer service's new traces start within the window after each send. */
  | 'no-consumer-span';

/** Section 1: one hop where traces break. */
export interface BrokenHop {
  channel: Channel;
  producerService: string;
  /** `messaging.operation.name` of the sending spans (`send`, `publish`, …). */
  producerOperation: string;
  consumerService: string;
  /** `messaging.operation.name` of the consumer spans; `process` when there are none. */
  consumerOperation: string;
  /** Messages whose consumer started a new trace. */
  broken: number;
  /** Messages the consumer service got from the producer service through this channel. */
  messages: number;
  evidence: HopEvidence;
  /** Up to three producer → consumer span pairs. */
  examples: Array<{ producer: SpanRef; consumer: SpanRef }>;
  /** The sentence the table prints. */
  message: string;
}

/** Section 1, for information (not a gap): sends no consumer span in the input answered. */
export interface UnconsumedSends {
  channel: Channel;
  producerService: string;
  messages: number;
}

/**
 * Section 1, a gap: the consumer span of a pull is in the producer's trace (or linked to it), but
 * the work the service does right after it starts a new trace. The code after `await get()`,
 * `await receive()` or a claim ran outside the message's context, in a shape threadline does not
 * follow by itself.
 */
export interface UnfollowedPull {
  channel: Channel;
  consumerService: string;
  /** `messaging.operation.name` of the consumer spans. */
  consumerOperation: string;
  /** Consumer spans that carried a context (a parent or a link). */
  messages: number;
  /** Of those, the ones right after which the service started a new trace. */
  outside: number;
  /** Up to three consumer span → new-trace span pairs. */
  examples: Array<{ consumer: SpanRef; work: SpanRef }>;
  /** The one line that puts the work in the message's context. */
  fix: string;
  /** The sentence the report prints. */
  message: string;
}

/** Section 2: consumer spans of one service. */
export interface ServiceRootRatio {
  serviceName: string;
  /** Consumer-side messaging spans (process, receive, deliver). */
  consumerSpans: number;
  /** Consumer spans that start a new trace and carry no link. */
  roots: number;
  /** Consumer spans that start a new trace but link to the producer (`useLinks`). */
  linkedRoots: number;
  /** `roots / consumerSpans`. */
  ratio: number;
  flagged: boolean;
}

/** Section 3: spans of one service whose parent never arrived. */
export interface OrphanGroup {
  serviceName: string;
  /** Orphaned spans. */
  spans: number;
  /** Distinct missing parent span ids. */
  missingParents: number;
  traces: number;
  /**
   * Orphans that are consumer or server spans: their parent lives in another process whose
   * spans are missing (exporter not configured, or that service is not in the input).
   */
  remoteParent: number;
  /** Other orphans: a parent in the same process never ended or was dropped. */
  localParent: number;
  /** Most frequent orphan span names with their counts. */
  examples: Array<{ name: string; count: number }>;
}

/** Section 4: a hop joined by links rather than parent/child (not a break). */
export interface LinkedHop {
  channel?: Channel;
  /** The service of the linked span, or `undefined` when that span is not in the input. */
  producerService?: string;
  consumerService: string;
  /** Links (one per message). */
  messages: number;
  /** Consumer spans carrying them. */
  consumerSpans: number;
  message: string;
}

/** Section 5: one trace that does not end or chains unrelated work. */
export interface NeverEndingTrace {
  traceId: string;
  /** The earliest span of the trace. */
  first: SpanRef;
  durationMs: number;
  spanCount: number;
  services: string[];
  /** `duration`: longer than `maxTraceMs`; `poll-loop`: one span parents many consumer spans. */
  reasons: Array<'duration' | 'poll-loop'>;
  /** The poll-loop span, when `poll-loop` is a reason. */
  loop?: {
    spanId: string;
    /** Absent when the loop span itself never arrived (it never ended). */
    name?: string;
    serviceName: string;
    consumerChildren: number;
  };
}

/** Everything `diagnose` found; `--json` prints exactly this. */
export interface DoctorReport {
  /** True when no gap was found (the CLI exits 0). */
  clean: boolean;
  /** Broken hops + unfollowed pulls + flagged services + orphan groups + never-ending traces. */
  gaps: number;
  summary: { spans: number; traces: number; services: string[] };
  brokenHops: BrokenHop[];
  unconsumedSends: UnconsumedSends[];
  unfollowedPulls: UnfollowedPull[];
  rootRatios: ServiceRootRatio[];
  orphans: OrphanGroup[];
  linkedHops: LinkedHop[];
  neverEndingTraces: NeverEndingTrace[];
  options: ResolvedDoctorOptions;
}

/** Nearest-rank percentiles of one set of durations, in milliseconds. */
export interface LatencyStats {
  /** Values the percentiles were taken over. */
  count: number;
  p50: number;
  p99: number;
  min: number;
  max: number;
}

/** A producer → consumer pair whose consumer span started before its producer span: clocks disagree. */
export interface SkewedMessage {
  producer: SpanRef;
  consumer: SpanRef;
  /** Consumer span start − producer span start: negative. */
  queueMs: number;
}

/** `latency`: one hop, a destination between a producing and a consuming service. */
export interface HopLatency {
  channel: Channel;
  producerService: string;
  /** `messaging.operation.name` of the sending spans. */
  producerOperation: string;
  consumerService: string;
  /** `messaging.operation.name` of the first consumer span of each message (`process`, `receive`, …). */
  consumerOperation: string;
  /** Messages the consumer service got through this hop (joined by parent or by link). */
  messages: number;
  /** Of those, joined by a link rather than a parent. */
  linked: number;
  /**
   * Consumer span start − producer span start, over the messages not skewed. Undefined when every
   * message is skewed.
   */
  queueTime?: LatencyStats;
  /** Messages left out of `queueTime` because the consumer span started before its producer span. */
  skewed: number;
  /** Up to three skewed pairs, to look up. */
  skewedExamples: SkewedMessage[];
  /** Duration of the message's process span. Undefined when no message had one (receive spans only). */
  processing?: LatencyStats;
}

/** `latency`: one trace that holds at least one hop joined by parent. */
export interface TraceLatency {
  traceId: string;
  /** The trace's first producer span. */
  first: SpanRef;
  /** The trace's consumer-side span that ended last. */
  last: SpanRef;
  /** Last consumer-side span end − first producer span start. */
  endToEndMs: number;
  /** Messages handed from service to service inside this trace. */
  hops: number;
  services: string[];
  /** A hop of the trace is skewed (or the end lies before the start): left out of `endToEnd`. */
  skewed: boolean;
}

/** Everything `latency` found; `threadline-doctor latency --json` prints exactly this. */
export interface LatencyReport {
  summary: { spans: number; traces: number; services: string[] };
  hops: HopLatency[];
  traces: TraceLatency[];
  /** Over the traces not skewed. Undefined when there is none. */
  endToEnd?: LatencyStats;
  /** Traces left out of `endToEnd`. */
  skewedTraces: number;
}
