import { documentFieldAdapter, isThenable, runAndEnd, type MessagingScope } from '@threadline/carrier';
import { withDriverOperation, withMessageId } from './attributes';
import { isDocument, registerRunner, runPending, type Doc } from './document-context';
import type { ChangeStreamLike, DocumentRunner, QueueReader, QueueTarget } from './internal-types';
import { methodWrapper, type AnyFunction } from './method-wrapper';

function strippedChange(reader: QueueReader, change: Doc): Doc {
  const fullDocument = reader.stripped(change.fullDocument);
  return fullDocument === change.fullDocument ? change : { ...change, fullDocument };
}

/** An iterated change event (next, tryNext, for await): a consumer span ended as `runPending` says. */
function deliverChange(reader: QueueReader, target: QueueTarget, change: unknown): unknown {
  try {
    if (!isDocument(change) || !isDocument(change.fullDocument)) return change;
    const fullDocument = change.fullDocument;
    const { pending } = reader.deliverOne(target, 'watch', fullDocument);
    const handed = strippedChange(reader, change);
    const runner: DocumentRunner = (fn) => runPending(pending, fn);
    registerRunner(handed, runner);
    registerRunner(handed.fullDocument, runner);
    return handed;
  } catch (error) {
    reader.diag.debug('change event handed over without a consumer span', error);
    return change;
  }
}

/** A `change` event: its listeners run inside a consumer span that ends when they return. */
function emitChange(reader: QueueReader, target: QueueTarget, emit: AnyFunction, stream: unknown, args: unknown[]): unknown {
  const change = args[1];
  if (!isDocument(change) || !isDocument(change.fullDocument)) return emit.apply(stream, args);
  let scope: MessagingScope;
  let handedArgs: unknown[];
  try {
    const fullDocument = change.fullDocument;
    scope = reader.policy.startProcess({
      destination: target.namespace,
      carrier: fullDocument,
      getter: documentFieldAdapter(reader.contextField()),
      message: fullDocument,
      attributes: withMessageId(withDriverOperation(target.attributes, 'watch'), fullDocument._id),
      // The listeners' synchronous run is the processing.
      metrics: reader.policy.metrics.enabled ? { destination: target.namespace, brokerTime: reader.documentTime(fullDocument), carriedTime: true } : undefined,
    });
    const handed = strippedChange(reader, change);
    const activeScope = scope;
    const runner: DocumentRunner = (fn) => activeScope.run(fn);
    registerRunner(handed, runner);
    registerRunner(handed.fullDocument, runner);
    handedArgs = args.slice();
    handedArgs[1] = handed;
  } catch (error) {
    reader.diag.debug('change event emitted without a consumer span', error);
    return emit.apply(stream, args);
  }
  return runAndEnd(scope, () => emit.apply(stream, handedArgs));
}

export function instrumentChangeStream(reader: QueueReader, changeStream: unknown, target: QueueTarget): void {
  if (typeof changeStream !== 'object' || changeStream === null) return;
  const candidate = changeStream as ChangeStreamLike;
  for (const name of ['next', 'tryNext', 'emit'] as const) {
    if (typeof candidate[name] !== 'function') return;
  }
  const wrapNext = (original: AnyFunction): AnyFunction =>
    methodWrapper((receiver, args) => {
      const result = original.apply(receiver, args);
      if (!reader.isEnabled() || !isThenable(result)) return result;
      return Promise.resolve(result).then((change) => deliverChange(reader, target, change));
    });
  const wrapEmit = (original: AnyFunction): AnyFunction =>
    methodWrapper((receiver, args) => {
      if (args[0] !== 'change' || !reader.isEnabled()) return original.apply(receiver, args);
      return emitChange(reader, target, original, receiver, args);
    });
  const wrap = (name: keyof ChangeStreamLike, wrapper: (original: AnyFunction) => AnyFunction): void => {
    reader.wrap(candidate, name, wrapper);
  };
  wrap('next', wrapNext);
  wrap('tryNext', wrapNext);
  wrap('emit', wrapEmit);
}
