import { kafkaHeadersAdapter, withExtractedContext } from '@threadline/carrier';
import type { IHeaders } from 'kafkajs';
import type { LooseObject } from './internal-types';

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
