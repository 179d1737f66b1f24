import type { TimeInput } from '@opentelemetry/api';
import { documentFieldAdapter, isThenable, runAndEnd, runTimed, type MessagingScope } from '@threadline/carrier';
import { withDriverOperation, withMessageId } from './attributes';
import { isDocument, originals, registerRunner, type Doc } from './document-context';
import type { CursorLike, CursorState, QueueReader, QueueTarget } from './internal-types';
import { methodWrapper, type AnyFunction } from './method-wrapper';
import { followDocuments } from './pull';

/**
 * One `receive` span for documents that arrived together, with a link to each one's producer. With
 * metrics on, each document is counted consumed and the call that fetched them (`startedAt`) is the
 * receive operation.
 */
function receiveBatch(reader: QueueReader, state: CursorState, documents: readonly unknown[], operationName: string, startTime?: TimeInput, startedAt = 0): void {
  if (documents.length === 0) return;
  const metrics = reader.policy.metrics;
  const namespace = state.target.namespace;
  if (metrics.enabled) metrics.operation(namespace, 'receive', startedAt);
  reader.policy
    .startBatch({
      destination: state.target.namespace,
      operation: 'receive',
      carriers: documents as Doc[],
      getter: documentFieldAdapter(reader.contextField()),
      messages: documents as Doc[],
      attributes: withDriverOperation(state.target.attributes, operationName),
      message: documents as Doc[],
      startTime,
      metrics: metrics.enabled
        ? { destination: namespace, brokerTimes: documents.map((document) => (isDocument(document) ? reader.documentTime(document) : undefined)), carriedTime: true, process: false }
        : undefined,
    })
    .end();
}

function flushPending(reader: QueueReader, state: CursorState): void {
  if (state.pending.length === 0) return;
  const documents = state.pending;
  state.pending = [];
  try {
    receiveBatch(reader, state, documents, 'find', state.batchStart, state.batchStartedAt);
  } catch (error) {
    reader.diag.debug('could not record a cursor batch', error);
  }
}

/** The CONSUMER span of one document read from a cursor, child of (or linked to) its producer. */
function startProcess(reader: QueueReader, target: QueueTarget, document: Doc): MessagingScope {
  return reader.policy.startProcess({
    destination: target.namespace,
    carrier: document,
    getter: documentFieldAdapter(reader.contextField()),
    message: document,
    attributes: withMessageId(target.attributes, document._id),
    operationName: 'process',
  });
}

/** A CONSUMER span for one document read from a cursor; undefined when it is not a document. */
function startDocument(reader: QueueReader, target: QueueTarget, handed: unknown): MessagingScope | undefined {
  const document = originals.get(handed as object) ?? handed;
  if (!isDocument(document)) return undefined;
  return startProcess(reader, target, document);
}

/** What a cursor hands to the app: the document (or a stripped copy) that knows its producer. */
function handOverFromCursor(reader: QueueReader, target: QueueTarget, document: unknown): unknown {
  if (!isDocument(document)) return document;
  const handed = reader.stripped(document);
  if (handed !== document && isDocument(handed)) originals.set(handed, document);
  registerRunner(handed, (fn) => {
    let scope: MessagingScope;
    try {
      scope = startProcess(reader, target, document);
    } catch (error) {
      reader.diag.debug('no consumer span for this document', error);
      return fn();
    }
    return runTimed(reader.policy.metrics, target.namespace, () => runAndEnd(scope, fn));
  });
  return handed;
}

function deliverFromCursor(reader: QueueReader, cursor: CursorLike, state: CursorState, document: unknown, callStart: number, callStartedAt: number): unknown {
  try {
    if (document === null || document === undefined) {
      flushPending(reader, state);
      return document;
    }
    // The first document of a server batch: the call that returned it fetched the batch (or, after
    // hasNext(), took its first document from the buffer).
    if (state.pending.length === 0) {
      state.batchStart = callStart;
      state.batchStartedAt = callStartedAt;
    }
    state.pending.push(document as Doc);
    // The cursor's buffer holds the rest of the server batch this document came in.
    if (cursor.bufferedCount() === 0) flushPending(reader, state);
    return handOverFromCursor(reader, state.target, document);
  } catch (error) {
    reader.diag.debug('cursor document handed over without context', error);
    return document;
  }
}

function deliverArray(reader: QueueReader, state: CursorState, documents: unknown, operationName: string, startTime?: number, startedAt?: number): unknown {
  if (!Array.isArray(documents)) return documents;
  try {
    flushPending(reader, state);
    receiveBatch(reader, state, documents, operationName, startTime, startedAt);
    for (let index = 0; index < documents.length; index++) {
      documents[index] = handOverFromCursor(reader, state.target, documents[index]);
    }
    if (operationName === 'toArray' && reader.getConfig().followPulls !== false) {
      followDocuments(documents, (document) => startDocument(reader, state.target, document), state);
    }
  } catch (error) {
    reader.diag.debug('cursor documents handed over without context', error);
  }
  return documents;
}

/**
 * Wraps this cursor's own methods (only cursors of opted-in collections): every read path of
 * the driver — next, tryNext, for await, forEach, stream, toArray — goes through them.
 */
export function instrumentCursor(reader: QueueReader, cursor: unknown, target: QueueTarget): void {
  if (typeof cursor !== 'object' || cursor === null) return;
  const candidate = cursor as CursorLike;
  for (const name of ['next', 'tryNext', 'toArray', 'readBufferedDocuments', 'close', 'bufferedCount'] as const) {
    if (typeof candidate[name] !== 'function') return;
  }
  const state: CursorState = { target, pending: [], batchStart: undefined, batchStartedAt: 0, bulkDepth: 0 };
  const wrapNext = (original: AnyFunction): AnyFunction =>
    methodWrapper((receiver, args) => {
      const callStart = Date.now();
      const callStartedAt = reader.policy.metrics.start();
      const result = original.apply(receiver, args);
      if (state.bulkDepth > 0 || !reader.isEnabled() || !isThenable(result)) return result;
      return Promise.resolve(result).then(
        (document) => deliverFromCursor(reader, receiver as CursorLike, state, document, callStart, callStartedAt),
        (error: unknown) => {
          flushPending(reader, state);
          throw error;
        },
      );
    });
  const wrapToArray = (original: AnyFunction): AnyFunction =>
    methodWrapper((receiver, args) => {
      if (state.bulkDepth > 0 || !reader.isEnabled()) return original.apply(receiver, args);
      // toArray reads through next() and readBufferedDocuments(): those calls are part of it.
      const callStart = Date.now();
      const callStartedAt = reader.policy.metrics.start();
      state.bulkDepth++;
      let result: unknown;
      try {
        result = original.apply(receiver, args);
      } catch (error) {
        state.bulkDepth--;
        throw error;
      }
      if (!isThenable(result)) {
        state.bulkDepth--;
        return result;
      }
      return Promise.resolve(result).then(
        (documents) => {
          state.bulkDepth--;
          return deliverArray(reader, state, documents, 'toArray', callStart, callStartedAt);
        },
        (error: unknown) => {
          state.bulkDepth--;
          throw error;
        },
      );
    });
  const wrapReadBuffered = (original: AnyFunction): AnyFunction =>
    methodWrapper((receiver, args) => {
      const documents = original.apply(receiver, args);
      if (state.bulkDepth > 0 || !reader.isEnabled()) return documents;
      return deliverArray(reader, state, documents, 'readBufferedDocuments');
    });
  const wrapClose = (original: AnyFunction): AnyFunction =>
    methodWrapper((receiver, args) => {
      flushPending(reader, state);
      return original.apply(receiver, args);
    });
  const wrap = (name: keyof CursorLike, wrapper: (original: AnyFunction) => AnyFunction): void => {
    reader.wrap(candidate, name, wrapper);
  };
  wrap('next', wrapNext);
  wrap('tryNext', wrapNext);
  wrap('toArray', wrapToArray);
  wrap('readBufferedDocuments', wrapReadBuffered);
  wrap('close', wrapClose);
}
