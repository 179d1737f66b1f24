/** amqplib encodes a message's field tables into one 65,536-byte buffer; this leaves room for the rest. */
export const HEADER_TABLE_BUDGET = 65536 - 1024;
const UNKNOWN_SIZE = Number.POSITIVE_INFINITY;

/**
 * An upper bound of the AMQP field-table encoding of `value` (type tag, length prefixes, UTF-8
 * that never exceeds 3 bytes per UTF-16 unit). Anything it cannot size counts as too large.
 */
export function tableBytesUpperBound(value: unknown, depth: number): number {
  if (value === null || value === undefined) return 1;
  if (typeof value === 'string') return 5 + value.length * 3;
  if (typeof value === 'number' || typeof value === 'bigint') return 9;
  if (typeof value === 'boolean') return 2;
  if (value instanceof Uint8Array) return 5 + value.byteLength;
  if (value instanceof Date) return 9;
  if (depth > 16) return UNKNOWN_SIZE;
  if (Array.isArray(value)) {
    let size = 5;
    for (const item of value) size += tableBytesUpperBound(item, depth + 1);
    return size;
  }
  if (typeof value === 'object') {
    let size = 5;
    for (const key in value) size += 1 + key.length * 3 + tableBytesUpperBound((value as Record<string, unknown>)[key], depth + 1);
    return size;
  }
  return UNKNOWN_SIZE;
}
