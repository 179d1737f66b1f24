import type { MessagingInstrumentationConfig } from '@threadline/carrier';
import type { KafkaMessage, Message } from 'kafkajs';

/** What a `publishHook` sees for one `send {topic}` span: the caller's messages for that topic. */
export interface KafkaJsSendInfo {
  kind: 'send';
  topic: string;
  /** The caller's own message objects (before the context headers are added). Do not mutate them. */
  messages: readonly Message[];
}

/** One consumed message, as `incomingContext` and the eachMessage `consumeHook` see it. */
export interface KafkaJsReceivedMessage {
  kind: 'message';
  topic: string;
  partition: number;
  message: KafkaMessage;
}

/** One eachBatch call, as the eachBatch `consumeHook` sees it. */
export interface KafkaJsReceivedBatch {
  kind: 'batch';
  topic: string;
  partition: number;
  messages: readonly KafkaMessage[];
}

/** The object handed to hooks and to an `incomingContext` function; `kind` tells which one it is. */
export type KafkaJsHookMessage = KafkaJsSendInfo | KafkaJsReceivedMessage | KafkaJsReceivedBatch;

/**
 * Options of `KafkaJsInstrumentation`. Besides these, every option of
 * `MessagingInstrumentationConfig` from `@threadline/carrier` applies (`mode`, `useLinks`,
 * `incomingContext`, `propagateBaggage`, `publishHook`, `consumeHook`, `enabled`).
 * An `incomingContext` function is called with a `KafkaJsReceivedMessage`.
 */
export interface KafkaJsInstrumentationConfig extends MessagingInstrumentationConfig<KafkaJsHookMessage> {
  /**
   * Record each consumed message's key as `messaging.kafka.message.key`. Off by default
   * because keys often hold personal data (user or account ids).
   * Environment (register hook): `THREADLINE_KAFKAJS_CAPTURE_MESSAGE_KEY=true`.
   * @default false
   */
  captureMessageKey?: boolean;
  /**
   * The parent of an eachBatch `process {topic}` span. `'none'`: a new trace with one link per
   * message. `'first'`: the first message's context becomes the parent (links are kept).
   * Environment (register hook): `THREADLINE_KAFKAJS_BATCH_PARENT`.
   * @default 'none'
   */
  batchParent?: 'none' | 'first';
  /**
   * The largest record the broker accepts (the topic's `max.message.bytes`). When a message
   * that fits would no longer fit once the context headers are added, it is sent without
   * them (and a warning is logged) instead of being rejected by the broker.
   * Environment (register hook): `THREADLINE_KAFKAJS_MAX_MESSAGE_BYTES`.
   * @default 1048588 (Kafka's default `message.max.bytes`)
   */
  maxMessageBytes?: number;
}

/**
 * Options of `ConfluentKafkaInstrumentation`: the same as `KafkaJsInstrumentationConfig`. From the
 * environment (register hook) they are read as `THREADLINE_CONFLUENT_KAFKA_CAPTURE_MESSAGE_KEY`,
 * `THREADLINE_CONFLUENT_KAFKA_BATCH_PARENT` and `THREADLINE_CONFLUENT_KAFKA_MAX_MESSAGE_BYTES`.
 */
export type ConfluentKafkaInstrumentationConfig = KafkaJsInstrumentationConfig;
