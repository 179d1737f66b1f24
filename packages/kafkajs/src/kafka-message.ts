import type { Attributes } from '@opentelemetry/api';
import { ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import { kafkaHeadersAdapter, withExtractedContext } from '@threadline/carrier';
import type { IHeaders } from 'kafkajs';
import type { AnyFunction, LooseObject } from './internal-types';

/** Kafka's default `message.max.bytes`. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1048588;
// A record batch's fixed header plus the worst case of one record's own varints and attributes.
const RECORD_BATCH_OVERHEAD = 61 + 36;
// Worst case of the two varints (key length, value length) framing one header.
const HEADER_OVERHEAD = 10;

export const isObject = (value: unknown): value is LooseObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Headers a context can be added to: a plain object (not an array, string or byte buffer). */
export const isHeaderObject = (value: unknown): value is IHeaders => isObject(value) && !ArrayBuffer.isView(value);

/**
 * A copy of `source` with the same prototype and property descriptors, and `overrides` as plain
 * writable properties. The caller's object is never touched, and getters or a frozen source are
 * copied faithfully.
 */
export function cloneWith<T extends object>(source: T, overrides: LooseObject): T {
  // The common case, a plain object literal, is copied the fast way; anything else keeps its
  // prototype and property descriptors.
  if (Object.getPrototypeOf(source) === Object.prototype) return { ...source, ...overrides } as T;
  const descriptors: PropertyDescriptorMap = Object.getOwnPropertyDescriptors(source);
  for (const key of Object.keys(overrides)) {
    descriptors[key] = { value: overrides[key], writable: true, enumerable: true, configurable: true };
  }
  return Object.create(Object.getPrototypeOf(source), descriptors) as T;
}

/** `host:port` or `[v6]:port` → attributes; nothing when the string is not an address. */
export function serverAttributes(broker: string): Attributes {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(broker.trim());
  if (match === null) return {};
  const port = Number(match[2]);
  return Number.isInteger(port) && port > 0 && port < 65536
    ? { [ATTR_SERVER_ADDRESS]: match[1], [ATTR_SERVER_PORT]: port }
    : {};
}

function byteSize(value: unknown, exact: boolean): number | undefined {
  if (value === null || value === undefined) return 0;
  // A UTF-16 code unit never needs more than 3 bytes of UTF-8: a cheap upper bound.
  if (typeof value === 'string') return exact ? Buffer.byteLength(value, 'utf8') : value.length * 3;
  if (Buffer.isBuffer(value)) return value.length;
  return undefined;
}

/**
 * The bytes one message takes in a record batch on its own (an upper bound), or undefined when
 * it holds something kafkajs cannot encode (kafkajs rejects it by itself).
 */
export function recordBytes(message: LooseObject, headers: LooseObject | undefined, exact: boolean): number | undefined {
  let total = RECORD_BATCH_OVERHEAD;
  const key = byteSize(message.key, exact);
  const value = byteSize(message.value, exact);
  if (key === undefined || value === undefined) return undefined;
  total += key + value;
  if (headers === undefined) return total;
  for (const name of Object.keys(headers)) {
    const entry = headers[name];
    const nameBytes = byteSize(name, exact) ?? 0;
    for (const item of Array.isArray(entry) ? entry : [entry]) {
      const itemBytes = byteSize(item, exact);
      if (itemBytes === undefined) return undefined;
      total += HEADER_OVERHEAD + nameBytes + itemBytes;
    }
  }
  return total;
}

/**
 * Runs `fn` inside the context carried by one consumed message's headers. Use it in `eachBatch`
 * to put each message's work in that message's own trace:
 * `for (const message of batch.messages) await withMessageContext(message, () => handle(message));`
 */
export const withMessageContext = <R>(message: { headers?: IHeaders | null } | null | undefined, fn: () => R): R =>
  withExtractedContext(message?.headers, fn, kafkaHeadersAdapter);

/** A plain function (kafkajs may call it with any `this`) that hands its `this` and arguments to `handler`. */
export function forwarding(handler: (thisArg: unknown, args: unknown[]) => unknown): AnyFunction {
  return function (this: unknown, ...args: unknown[]) {
    return handler(this, args);
  };
}
