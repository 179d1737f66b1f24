import type { MessagingInstrumentationConfig, SqsMessageAttributes } from '@threadline/carrier';

/** A message as `ReceiveMessage` returns it: the fields threadline reads. */
export interface SqsReceivedMessage {
  MessageId?: string;
  ReceiptHandle?: string;
  Body?: string;
  Attributes?: Partial<Record<string, string>>;
  MessageAttributes?: SqsMessageAttributes;
}

/** The input of `SendMessage`, `SendMessageBatch` or `ReceiveMessage`: the copy threadline sends. */
export interface SqsCommandInput {
  QueueUrl?: string;
  [field: string]: unknown;
}

/**
 * What hooks and `incomingContext` are handed: the command input copy (`publishHook`), one
 * received message (`incomingContext`, `consumeHook` of a `process` span) or all of them
 * (`consumeHook` of a batch span). Never mutate it.
 */
export type SqsHookMessage = SqsCommandInput | SqsReceivedMessage | readonly SqsReceivedMessage[];

/**
 * What a send does when the message's attributes leave too little of SQS's 10-attribute budget
 * for every propagation field. Either way a diag warning is logged and the message is sent.
 * `all-or-none`: no context at all. `traceparent-only`: only the trace context (W3C
 * `traceparent`; tracestate and baggage are dropped), if that one attribute fits.
 */
export type AttributeBudgetPolicy = 'all-or-none' | 'traceparent-only';

/** Options of `SqsInstrumentation`. Explicit options win over the environment variables named here. */
export interface SqsInstrumentationConfig extends MessagingInstrumentationConfig<SqsHookMessage> {
  /**
   * What to inject when a message has too few free attribute slots for every propagation field.
   * Environment: `THREADLINE_SQS_ATTRIBUTE_BUDGET=traceparent-only`.
   * @default 'all-or-none'
   */
  attributeBudgetPolicy?: AttributeBudgetPolicy;
  /**
   * Also read the context from an SNS-to-SQS envelope (a subscription without raw message
   * delivery), whose body is `{"Type":"Notification","MessageAttributes":{"traceparent":
   * {"Type":"String","Value":"…"}}}`. The message's own SQS attributes win when they carry a
   * context. A body that is not such JSON is ignored (diag debug). Environment:
   * `THREADLINE_SQS_SNS_ENVELOPE=true`.
   * @default false
   */
  snsEnvelope?: boolean;
  /**
   * Queues whose names this matches are counted as `(temporary)` in the metrics'
   * `messaging.destination.name` (per-request reply queues with generated names), like the
   * temporary queue client's own (`__RequesterClientQueues__…`, `…__HostQueue…`). Spans keep the name.
   * @default undefined (only the temporary queue client's names)
   */
  temporaryQueuePattern?: RegExp;
}
