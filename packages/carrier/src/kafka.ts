import type { Attributes } from '@opentelemetry/api';
import { ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import {
  ATTR_MESSAGING_CLIENT_ID,
  ATTR_MESSAGING_KAFKA_MESSAGE_KEY,
  ATTR_MESSAGING_KAFKA_MESSAGE_TOMBSTONE,
  ATTR_MESSAGING_KAFKA_OFFSET,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
} from './semconv';

/*
 * What every Kafka client instrumentation (kafkajs, @platformatic/kafka) computes the same way:
 * copying the caller's objects, the client's span attributes and a consumed record's attributes.
 */

type Loose = Record<string | symbol, unknown>;

/**
 * A copy of `source` with the same prototype and property descriptors, and `overrides` as plain
 * writable properties. The caller's object is never touched, and getters or a frozen source are
 * copied faithfully.
 */
export function cloneWith<T extends object>(source: T, overrides: Loose): T {
  // The common case, a plain object literal, is copied the fast way (own symbols included).
  if (Object.getPrototypeOf(source) === Object.prototype) return { ...source, ...overrides } as T;
  const descriptors: PropertyDescriptorMap = Object.getOwnPropertyDescriptors(source);
  for (const key of Object.keys(overrides)) {
    descriptors[key] = { value: overrides[key], writable: true, enumerable: true, configurable: true };
  }
  return Object.create(Object.getPrototypeOf(source), descriptors) as T;
}

/** A plain function (a library may call it with any `this`) that hands its `this` and arguments to `handler`. */
export function forwarding(handler: (thisArg: unknown, args: unknown[]) => unknown): (this: unknown, ...args: unknown[]) => unknown {
  return function (this: unknown, ...args: unknown[]) {
    return handler(this, args);
  };
}

/** `host:port` or `[v6]:port` → `server.address`/`server.port`; nothing when the string is not an address. */
export function kafkaServerAttributes(broker: string): Attributes {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(broker.trim());
  if (match === null) return {};
  return serverFrom(match[1], Number(match[2]));
}

function serverFrom(host: unknown, port: unknown): Attributes {
  return typeof host === 'string' && host !== '' && typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536
    ? { [ATTR_SERVER_ADDRESS]: host, [ATTR_SERVER_PORT]: port }
    : {};
}

/**
 * `messaging.client.id` and, when the client was given exactly one broker (`host:port` or
 * `{ host, port }`), `server.address`/`server.port`: with several, the one a request goes to is
 * not known here.
 */
export function kafkaClientAttributes(clientId: unknown, brokers: unknown): Attributes {
  const attributes: Attributes = {};
  if (typeof clientId === 'string' && clientId !== '') attributes[ATTR_MESSAGING_CLIENT_ID] = clientId;
  if (!Array.isArray(brokers)) return attributes;
  const unique = new Set(
    brokers.map((broker: unknown) =>
      typeof broker === 'object' && broker !== null ? `${String((broker as Loose).host)}:${String((broker as Loose).port)}` : broker,
    ),
  );
  if (unique.size !== 1) return attributes;
  const [only] = unique;
  if (typeof only === 'string') Object.assign(attributes, kafkaServerAttributes(only));
  return attributes;
}

/** A consumed Kafka record, as both clients hand it over (offset a string, a number or a bigint). */
export interface KafkaRecordLike {
  offset?: unknown;
  value?: unknown;
  key?: unknown;
}

/**
 * Offset, tombstone, body size and (with `captureKey`) the key of one consumed record, added to
 * `attributes`. Never the body itself.
 */
export function kafkaRecordAttributes(record: KafkaRecordLike, captureKey: boolean, attributes: Attributes = {}): Attributes {
  const offset = typeof record.offset === 'bigint' ? Number(record.offset) : Number(record.offset);
  if (record.offset !== undefined && record.offset !== null && Number.isSafeInteger(offset)) attributes[ATTR_MESSAGING_KAFKA_OFFSET] = offset;
  const value = record.value;
  if (value === null) attributes[ATTR_MESSAGING_KAFKA_MESSAGE_TOMBSTONE] = true;
  else if (Buffer.isBuffer(value)) attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = value.length;
  else if (typeof value === 'string') attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = Buffer.byteLength(value, 'utf8');
  if (captureKey && record.key !== null && record.key !== undefined) {
    const key: unknown = record.key;
    if (typeof key === 'string') attributes[ATTR_MESSAGING_KAFKA_MESSAGE_KEY] = key;
    else if (Buffer.isBuffer(key)) attributes[ATTR_MESSAGING_KAFKA_MESSAGE_KEY] = key.toString('utf8');
  }
  return attributes;
}
