import type { MessagingInstrumentationConfig } from '@threadline/carrier';
import type { Message, MessageToProduce } from '@platformatic/kafka' with { 'resolution-mode': 'import' };

/** What a `publishHook` sees for one `send {topic}` span: the caller's messages for that topic. */
export interface PlatformaticKafkaSendInfo {
  kind: 'send';
  topic: string;
  /** The caller's own message objects (before the context headers are added). Do not mutate them. */
  messages: readonly MessageToProduce<unknown, unknown, unknown, unknown>[];
}

/** One consumed message, as `incomingContext` and `consumeHook` see it. */
export interface PlatformaticKafkaReceivedMessage {
  kind: 'message';
  topic: string;
  partition: number;
  message: Message<unknown, unknown, unknown, unknown>;
}

/** The object handed to hooks and to an `incomingContext` function; `kind` tells which one it is. */
export type PlatformaticKafkaHookMessage = PlatformaticKafkaSendInfo | PlatformaticKafkaReceivedMessage;

/**
 * Options of `PlatformaticKafkaInstrumentation`. Besides these, every option of
 * `MessagingInstrumentationConfig` from `@threadline/carrier` applies (`mode`, `useLinks`,
 * `incomingContext`, `propagateBaggage`, `followPulls`, `publishHook`, `consumeHook`, `enabled`).
 * An `incomingContext` function is called with a `PlatformaticKafkaReceivedMessage`.
 */
export interface PlatformaticKafkaInstrumentationConfig extends MessagingInstrumentationConfig<PlatformaticKafkaHookMessage> {
  /**
   * Record each consumed message's key as `messaging.kafka.message.key`. Off by default
   * because keys often hold personal data (user or account ids).
   * Environment (register hook): `THREADLINE_PLATFORMATIC_KAFKA_CAPTURE_MESSAGE_KEY=true`.
   * @default false
   */
  captureMessageKey?: boolean;
}
