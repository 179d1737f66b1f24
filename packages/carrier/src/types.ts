import type { Span } from '@opentelemetry/api';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';

/**
 * `spans`: producer and consumer spans plus propagation.
 * `propagation-only`: no spans at all; context is still carried in every message and made
 * active around the consumer's handler, so spans the app or other instrumentations create
 * join the producer's trace.
 */
export type InstrumentationMode = 'spans' | 'propagation-only';

/**
 * What a consumer does with the context a message carries.
 * `parent`: the consumer span is a child of the producer's span.
 * `link`: the consumer span starts a new trace and links to the producer's span.
 * `ignore`: the carried context is not used at all (messages from outside a trust boundary).
 */
export type IncomingContextPolicy = 'parent' | 'link' | 'ignore';

export interface MessagingHookInfo<Message = unknown> {
  /** The destination the span is named after (topic, exchange, queue, collection). */
  destination: string;
  /** The library's own message, request or document object. Do not mutate it. */
  message: Message;
}

/** Options every threadline messaging instrumentation accepts. */
export interface MessagingInstrumentationConfig<Message = unknown> extends InstrumentationConfig {
  /**
   * Create spans, or only carry and activate context.
   * @default 'spans'
   */
  mode?: InstrumentationMode;
  /**
   * Start every consumer span as a new trace with a link to the producer, instead of as its
   * child. Shorthand for `incomingContext: 'link'`; `incomingContext` wins when both are set.
   * @default false
   */
  useLinks?: boolean;
  /**
   * How a consumer treats the context a message carries; a function decides per message.
   * Use `'link'` or `'ignore'` for messages from outside your trust boundary.
   * @default 'parent' ('link' when useLinks is true)
   */
  incomingContext?: IncomingContextPolicy | ((message: Message) => IncomingContextPolicy);
  /**
   * Keep the W3C baggage an incoming message carries. Baggage is always dropped from messages
   * whose incoming context policy is `link` or `ignore`.
   * @default true
   */
  propagateBaggage?: boolean;
  /**
   * Follow the user's work after a pull (`channel.get`, a receive, a claim) and through loops over
   * a received batch (for…of, forEach, map), so each message's work runs in that message's
   * context. See the carrier README, "Following pulls and batch loops".
   * Environment (register hook): `THREADLINE_FOLLOW_PULLS=false` turns it off.
   * @default true
   */
  followPulls?: boolean;
  /**
   * Carry the pipeline's first send time in the W3C tracestate (entry `threadline=o:<ms>`) and
   * record `threadline.pipeline.duration`. Only when a MeterProvider is set; false keeps every
   * other metric. Environment (register hook): `THREADLINE_PIPELINE_LATENCY=false`.
   * @default true
   */
  pipelineLatency?: boolean;
  /** Called with each producer span after it starts. Errors it throws are caught and logged. */
  publishHook?: (span: Span, info: MessagingHookInfo<Message>) => void;
  /** Called with each consumer span after it starts. Errors it throws are caught and logged. */
  consumeHook?: (span: Span, info: MessagingHookInfo<Message>) => void;
}
