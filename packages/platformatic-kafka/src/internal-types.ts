import type { Attributes } from '@opentelemetry/api';

/** Loose shapes: the instrumentation must survive any input the library itself would accept or reject. */
export type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
export type LooseObject = Record<string | symbol, unknown>;

/** What `plt:kafka:instances` publishes: `{ type: 'producer' | 'consumer' | 'messages-stream' | …, instance }`. */
export interface InstanceEvent {
  type?: unknown;
  instance?: unknown;
}

/** What `plt:kafka:consumer:receives` publishes per record; `result` is the message about to be pushed. */
export interface ReceiveEvent {
  stream?: unknown;
  /** The parsed record of the fetch response, before deserialization. */
  raw?: unknown;
  result?: unknown;
}

/** What `plt:kafka:consumer:fetches` publishes when a fetch answers; `result` is the parsed response. */
export interface FetchEvent {
  result?: unknown;
}

/** What the instrumentation remembers about one producer or consumer. */
export interface ClientInfo {
  /** `messaging.client.id`, `server.*` and, for consumers, `messaging.consumer.group.name`. */
  attributes: Attributes;
  /** The consumer's `groupId`, for the metrics. */
  groupId?: string;
}
