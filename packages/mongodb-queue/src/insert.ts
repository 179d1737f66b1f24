import { isDocument, type Doc } from './document-context';

/** MongoDB's document size limit (BSON `maxBsonObjectSize`). */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
/**
 * A document whose copy with the context would be larger than this is inserted without context:
 * the added field must never be what pushes a document over the limit. The headroom covers the
 * command around the document, which some servers count against the same limit.
 */
export const CONTEXT_SIZE_LIMIT = MAX_DOCUMENT_BYTES - 16 * 1024;

/** `BSON.calculateObjectSize` of the patched driver. */
export type ObjectSizer = (document: Doc) => number;

/**
 * True when `document` is at most CONTEXT_SIZE_LIMIT bytes of BSON. Without the driver's sizer
 * (never seen in supported versions) the document is assumed to fit.
 */
export function fitsWithContext(document: Doc, sizer: ObjectSizer | undefined): boolean {
  if (sizer === undefined) return true;
  try {
    return sizer(document) <= CONTEXT_SIZE_LIMIT;
  } catch {
    // The serializer rejects this document (a cycle, a bad value): the driver will say so itself.
    return false;
  }
}

/** The driver's own `BSON.calculateObjectSize`, for documents near the size limit. */
export function objectSizer(moduleExports: unknown): ObjectSizer | undefined {
  for (const candidate of [moduleExports, (moduleExports as { default?: unknown } | undefined)?.default]) {
    const bson = (candidate as { BSON?: { calculateObjectSize?: unknown } } | undefined)?.BSON;
    const calculate = bson?.calculateObjectSize;
    if (typeof calculate === 'function') return (document) => calculate.call(bson, document) as number;
  }
  return undefined;
}

/**
 * Makes the copy's `_id` read and write the caller's document, so `_id` lands on the caller's
 * object exactly when the driver assigns it. Not enumerable (not serialized) until assigned, as a
 * missing `_id` is not serialized either (the server then generates one).
 */
export function mirrorId(copy: Doc, caller: Doc): void {
  const descriptor = Object.getOwnPropertyDescriptor(caller, '_id');
  Object.defineProperty(copy, '_id', {
    configurable: true,
    enumerable: descriptor?.enumerable === true,
    get: () => caller._id,
    set(value: unknown) {
      caller._id = value;
      Object.defineProperty(copy, '_id', { enumerable: true });
    },
  });
}

/** The document a bulkWrite operation inserts, as the driver reads it; undefined for other operations. */
export function insertedDocument(operation: unknown): unknown {
  if (!isDocument(operation) || !('insertOne' in operation)) return undefined;
  const insert = operation.insertOne;
  if (!isDocument(insert)) return undefined;
  // The driver still accepts `{ insertOne: doc }` for `{ insertOne: { document: doc } }`.
  return insert.document === undefined || insert.document === null ? insert : insert.document;
}

export function replaceInsertedDocument(operation: Doc, prepared: unknown): Doc {
  const insert = operation.insertOne as Doc;
  if (insert.document === undefined || insert.document === null) return { ...operation, insertOne: prepared };
  return { ...operation, insertOne: { ...insert, document: prepared } };
}
