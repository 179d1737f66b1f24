import type { Attributes, DiagLogger, TimeInput } from '@opentelemetry/api';
import type { MessagingMetrics, MessagingScope, MessagingSpanPolicy } from '@threadline/carrier';
import type { AnyFunction } from './method-wrapper';
import type { MongoQueueInstrumentationConfig, MongoQueueMessage } from './types';

/** The parts of a driver `Collection` this package reads; typed loosely across driver majors. */
export interface CollectionLike {
  readonly dbName?: unknown;
  readonly collectionName?: unknown;
  readonly client?: ClientLike;
  readonly s?: { db?: { client?: ClientLike } };
}

export interface ClientLike {
  readonly options?: {
    hosts?: ReadonlyArray<{ host?: unknown; port?: unknown; socketPath?: unknown } | undefined>;
    srvHost?: unknown;
  };
}

/** The cursor methods this package wraps on each opted-in find cursor. */
export interface CursorLike {
  next(...args: unknown[]): unknown;
  tryNext(...args: unknown[]): unknown;
  toArray(...args: unknown[]): unknown;
  readBufferedDocuments(...args: unknown[]): unknown;
  close(...args: unknown[]): unknown;
  bufferedCount(): number;
}

/** The change stream methods this package wraps on each opted-in change stream. */
export interface ChangeStreamLike {
  next(...args: unknown[]): unknown;
  tryNext(...args: unknown[]): unknown;
  emit(event: string | symbol, ...args: unknown[]): boolean;
}

/** An opted-in collection, resolved once per collection object. */
export interface QueueTarget {
  /** `{db}.{collection}`, the span's destination. */
  namespace: string;
  attributes: Attributes;
}

/** Per-cursor state: the documents of the current server batch handed out so far. */
export interface CursorState {
  target: QueueTarget;
  pending: Record<string, unknown>[];
  /** When the call that fetched the current batch began (epoch ms). */
  batchStart: number | undefined;
  /** `metrics.start()` of that call; 0 with metrics off. */
  batchStartedAt: number;
  /** > 0 while toArray runs: its inner next()/readBufferedDocuments() calls are part of it. */
  bulkDepth: number;
}

/**
 * Runs a function in the context of a document handed out by an instrumented read; what
 * `withDocumentContext` finds for documents this package delivered.
 */
export type DocumentRunner = <R>(fn: () => R) => R;

/** A consumer span whose end waits for `withDocumentContext`, or for the end of the event-loop turn. */
export interface PendingDelivery {
  scope: MessagingScope;
  timer: NodeJS.Immediate | undefined;
  /** With metrics on: where the work `withDocumentContext` takes over is recorded as processing. */
  processing?: MeteredDestination;
}

/** The instruments and the metrics' destination name of one opted-in collection. */
export interface MeteredDestination {
  metrics: MessagingMetrics;
  destination: string;
}

/** What the cursor and change-stream read paths use of the instrumentation. */
export interface QueueReader {
  readonly policy: MessagingSpanPolicy<MongoQueueMessage>;
  readonly diag: DiagLogger;
  isEnabled(): boolean;
  getConfig(): MongoQueueInstrumentationConfig;
  /** The configured context field, or the default when it is not usable. */
  contextField(): string;
  /** The document's broker-side send time (insert-time field or ObjectId time), raw. */
  documentTime(document: Record<string, unknown>): unknown;
  /** The document as handed to the app: without the context field when `stripContextField` is set. */
  stripped(document: unknown): unknown;
  /** Starts the CONSUMER span of one delivered document; it ends as `runPending` says. */
  deliverOne(target: QueueTarget, operationName: string, document: Record<string, unknown>, startTime?: TimeInput): { handed: unknown; pending: PendingDelivery };
  /** The instrumentation's `_wrap`, so `disable()` can unwrap what a read path wrapped. */
  wrap(object: object, name: string, wrapper: (original: AnyFunction) => AnyFunction): void;
}
