import type { Attributes } from '@opentelemetry/api';
import type { EnvOptionTable } from '@threadline/carrier';
import type { KafkaJsInstrumentationConfig } from './types';

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

/** Where a client's KafkaJS(-compatible) API lives and how its configs read: what differs between clients. */
export interface KafkaJsApi {
  /** The module name require/import uses. */
  module: string;
  versions: string[];
  /** The `THREADLINE_*` variables of the instrumentation's options. */
  env: EnvOptionTable<KafkaJsInstrumentationConfig>;
  /** The objects that export `Kafka` (the API itself first, then e.g. the CJS exports behind an ESM namespace). */
  namespaces(moduleExports: KafkaJsModule): unknown[];
  /** The client id and broker list of a `new Kafka(config)`. */
  client(config: LooseObject): { clientId?: string; brokers?: unknown };
  /** The group id of a `kafka.consumer(config)`. */
  groupId(config: LooseObject): string | undefined;
  /** The client sends a message with `headers: null` (as if it had none), so the context can be added. */
  nullHeaders: boolean;
}
