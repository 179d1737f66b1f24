import type { Attributes } from '@opentelemetry/api';

/** What the instrumentation remembers about one `new Kafka(config)` client. */
export interface KafkaClientInfo {
  /** `server.address`/`server.port` and `messaging.client.id`, set on every span of the client. */
  attributes: Attributes;
}

/** What a producer or consumer created by `kafka.producer()`/`kafka.consumer()` carries along. */
export interface KafkaEndpointInfo {
  attributes: Attributes;
  /** The consumer's `groupId`; undefined for producers. */
  groupId?: string;
}

/** Loose shapes: the instrumentation must survive any input kafkajs itself would accept or reject. */
export type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
export type LooseObject = Record<string | symbol, unknown>;

/** kafkajs' exports object (CJS `module.exports`, or the ESM namespace from import-in-the-middle). */
export interface KafkaJsModule {
  Kafka?: (new (config: unknown) => object) & { prototype: LooseObject };
  default?: KafkaJsModule;
  [key: string]: unknown;
}
