import type { MessagingInstrumentationConfig } from '@threadline/carrier';

/**
 * An amqplib message as `publishHook`, `consumeHook` and `incomingContext` see it. For a consumed
 * or fetched message it is amqplib's own message object; for a publish it is
 * `{ content, fields: { exchange, routingKey }, properties: options }`. Do not mutate it.
 */
export interface AmqplibMessage {
  content: Buffer;
  fields: {
    exchange: string;
    routingKey: string;
    deliveryTag?: number;
    redelivered?: boolean;
    consumerTag?: string;
    messageCount?: number;
  };
  properties: {
    headers?: Record<string, unknown> | null;
    messageId?: unknown;
    correlationId?: unknown;
    [property: string]: unknown;
  };
}

/** Options of `AmqplibInstrumentation`, on top of those every threadline transport takes. */
export interface AmqplibInstrumentationConfig extends MessagingInstrumentationConfig<AmqplibMessage> {
  /**
   * The most consumer spans kept open while their messages wait for ack, nack or reject, across
   * all channels. When a new message would exceed it, the oldest open span is ended (attribute
   * `threadline.amqplib.settlement` = `evicted`) and a diag message is logged. Environment:
   * `THREADLINE_AMQPLIB_MAX_UNSETTLED_SPANS`.
   * @default 1000
   */
  maxUnsettledSpans?: number;
  /**
   * How long a consumer span waits for its message to be settled before it is ended anyway
   * (attribute `threadline.amqplib.settlement` = `timeout`). Environment:
   * `THREADLINE_AMQPLIB_UNSETTLED_TIMEOUT_MS`.
   * @default 60000
   */
  unsettledTimeoutMs?: number;
}
