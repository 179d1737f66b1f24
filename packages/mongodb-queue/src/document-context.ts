import { DEFAULT_DOCUMENT_CONTEXT_FIELD, documentFieldAdapter, runAndEnd, runTimed, withExtractedContext, type MessagingScope } from '@threadline/carrier';
import type { DocumentRunner, MeteredDestination, PendingDelivery } from './internal-types';

export type Doc = Record<string, unknown>;

export const hasOwn = (target: object, key: PropertyKey): boolean => Object.prototype.hasOwnProperty.call(target, key);
export const isDocument = (value: unknown): value is Doc => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A usable context field: a top-level key that cannot address `_id`, a sub-document or an
 * operator, and cannot reach an object's prototype.
 */
export function isValidContextField(field: unknown): field is string {
  return (
    typeof field === 'string' &&
    field.length > 0 &&
    field.length <= 128 &&
    field !== '_id' &&
    field !== '__proto__' &&
    !field.startsWith('$') &&
    !field.includes('.') &&
    !field.includes('\0')
  );
}

/**
 * Documents handed out by an instrumented read, mapped to what `withDocumentContext` runs them
 * in. Weak, so a document the app drops is collected with its entry.
 */
const RUNNERS_KEY = Symbol.for('threadline.mongodb-queue.document-runners');
// Shared through globalThis so that two copies of this package (the register hook's and the
// app's) still find each other's documents.
const documentRunners: WeakMap<object, DocumentRunner> = ((globalThis as { [RUNNERS_KEY]?: WeakMap<object, DocumentRunner> })[
  RUNNERS_KEY
] ??= new WeakMap());

/** Stripped copies handed to the app, to the stored documents whose context field they lost. */
export const originals = new WeakMap<object, Doc>();

export function registerRunner(document: unknown, runner: DocumentRunner): void {
  if (typeof document === 'object' && document !== null) documentRunners.set(document, runner);
}

/**
 * The first `withDocumentContext` call for a delivered document takes over the span: it then ends
 * when that call's function settles. Otherwise the span ends at the end of the event-loop turn.
 */
export function runPending<R>(pending: PendingDelivery, fn: () => R): R {
  if (pending.timer !== undefined && !pending.scope.isEnded) {
    clearImmediate(pending.timer);
    pending.timer = undefined;
    const run = () => runAndEnd(pending.scope, fn);
    return pending.processing === undefined ? run() : runTimed(pending.processing.metrics, pending.processing.destination, run);
  }
  return pending.scope.run(fn);
}

export function deferEnd(scope: MessagingScope, processing?: MeteredDestination): PendingDelivery {
  const pending: PendingDelivery = { scope, timer: undefined, processing };
  // With metrics the scope ends through the timer too, even without a span: a takeover needs it pending.
  if (scope.span !== undefined || processing !== undefined) {
    pending.timer = setImmediate(() => {
      pending.timer = undefined;
      scope.end();
    });
  }
  return pending;
}

export interface WithDocumentContextOptions {
  /**
   * The field to read for a document this package did not deliver (read by another client or
   * library). Documents delivered by an instrumented read already know their field.
   * @default '_otel'
   */
  contextField?: string;
}

/**
 * Runs `fn` inside the trace of a queue document and returns what `fn` returns.
 *
 * - A document (or change event) returned by an instrumented claim (`findOneAndUpdate`,
 *   `findOneAndDelete`, `findOne`) or change-stream `next()`/`tryNext()`/`for await`: `fn` runs in
 *   that read's CONSUMER span, and the span ends when `fn` settles, if this is the first call for the
 *   document and the read's span has not already ended (see README, "Span timing").
 * - A document from an instrumented `find` cursor: a CONSUMER span `process {db}.{collection}` is
 *   started for this document (child of, or linked to, its producer) and ends when `fn` settles.
 * - Any other document: `fn` runs in the context the document's field carries (no span); a
 *   document without a valid context runs `fn` in the active context.
 *
 * Never throws on its own account; errors `fn` throws or rejects with reach the caller unchanged.
 */
export function withDocumentContext<R>(document: unknown, fn: () => R, options?: WithDocumentContextOptions): R {
  let runner: DocumentRunner | undefined;
  if (typeof document === 'object' && document !== null) runner = documentRunners.get(document);
  if (runner !== undefined) return runner(fn);
  const field = isValidContextField(options?.contextField) ? options.contextField : DEFAULT_DOCUMENT_CONTEXT_FIELD;
  let carrier: unknown = document;
  if (isDocument(document) && !hasOwn(document, field) && isDocument(document.fullDocument)) carrier = document.fullDocument;
  return withExtractedContext(carrier as Doc, fn, documentFieldAdapter(field));
}
