import type { MessagingInstrumentationConfig } from '@threadline/carrier';

/** A MongoDB document as the driver hands it over. */
export type MongoQueueDocument = Record<string, unknown>;

/**
 * What the hooks and `incomingContext` receive: `incomingContext` and `consumeHook` of a single
 * document get that document (for a change event: its `fullDocument`); `publishHook` and the
 * `consumeHook` of a cursor batch get the array of documents.
 */
export type MongoQueueMessage = MongoQueueDocument | readonly MongoQueueDocument[];

/**
 * Selects opted-in collections by their namespace `{db}.{collection}`: an exact namespace
 * (`'shop.jobs'`, or `'shop.*'` for every collection of a database), a regular expression
 * tested against the namespace, or a function of the namespace.
 */
export type CollectionMatcher = string | RegExp | ((namespace: string) => boolean);

/** Configuration of `MongoQueueInstrumentation`. */
export interface MongoQueueInstrumentationConfig extends MessagingInstrumentationConfig<MongoQueueMessage> {
  /**
   * The collections used as queues. Nothing is written to, and no span is created for, a
   * collection that no entry matches. Merged with the comma-separated namespaces of the
   * `THREADLINE_MONGODB_QUEUE_COLLECTIONS` environment variable (for example `shop.outbox,shop.jobs`).
   * @default [] (only the collections named in THREADLINE_MONGODB_QUEUE_COLLECTIONS)
   */
  collections?: CollectionMatcher[];
  /**
   * The document field that holds the context, an object `{ traceparent, tracestate?, baggage? }`.
   * A top-level field name: no dots, not starting with `$`.
   * @default '_otel'
   */
  contextField?: string;
  /**
   * Remove `contextField` from documents handed to the consumer (claims, cursors, change-stream
   * `fullDocument`). The consumer gets a shallow copy; the stored document keeps the field.
   * Off by default so the consumer sees exactly what the collection holds, no document is
   * copied on the read path, and a document written back (a `replaceOne`, a move to a
   * dead-letter collection) keeps its context.
   * @default false
   */
  stripContextField?: boolean;
  /**
   * A top-level field holding each document's insert time (a `Date`, or epoch milliseconds), for
   * the queue-time metric. Without it (or when a document lacks it) the time in the ObjectId
   * `_id` is used, which has a resolution of one second; a document with another kind of `_id`
   * then carries its send time in `contextField` (`threadline-sent-at`) while metrics are on.
   * @default undefined (the `_id`'s time)
   */
  insertTimeField?: string;
}
