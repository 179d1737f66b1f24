import { beginPull, DEFAULT_PULL_TIMEOUT_MS, isThenable, kafkaHeadersAdapterFor, withExtractedContext, type MessagingScope } from '@threadline/carrier';
import type { LooseObject } from './internal-types';

const SHAPE = '@platformatic/kafka for await over a messages stream';
const ADVICE = "wrap the message's work in withMessageContext(message, fn) from @threadline/platformatic-kafka";

/**
 * Runs `fn` inside the context carried by one consumed message's headers (a Map or an object),
 * for work the instrumentation cannot follow by itself (messages kept for later, `stream.read()`).
 * It makes the carried context the parent without consulting `incomingContext`.
 */
export const withMessageContext = <R>(message: { headers?: unknown } | null | undefined, fn: () => R): R =>
  withExtractedContext(message?.headers, fn, READ_ADAPTER);

/** Reads headers as a Map or an object, names and values as text or bytes. */
export const READ_ADAPTER = kafkaHeadersAdapterFor({ keys: 'string', values: 'string' });

/**
 * The stream's async iterator, followed: each `next()` ends the previous message's scope and
 * attaches a context for the one it returns, so the body of `for await (const m of stream)` and
 * everything after its awaits runs in that message's `process {topic}` scope. The scope ends at
 * the next `next()`, when the loop ends (`break`, a throw, the stream's end), or after
 * DEFAULT_PULL_TIMEOUT_MS. The iterator's own results are handed over unchanged. The scope is
 * only made when something reads the context, so `delivered` is called for every message when
 * it is returned; what it returns runs when that message's turn ends. `start` undefined
 * (followPulls: false): no context is attached, only `delivered` is called.
 */
export function followIterator(
  iterator: unknown,
  stream: object,
  start: ((message: unknown) => MessagingScope | undefined) | undefined,
  delivered?: (message: unknown) => (() => void) | undefined,
): unknown {
  if (typeof iterator !== 'object' || iterator === null || typeof (iterator as LooseObject).next !== 'function') return iterator;
  const source = iterator as AsyncIterator<unknown> & LooseObject;
  const next = source.next;
  const finish = source.return;
  let last: ReturnType<typeof beginPull>;
  // The previous message's end when no slot carries it (not followed).
  let turnEnds: (() => void) | undefined;
  const endTurn = () => {
    const ends = turnEnds;
    turnEnds = undefined;
    ends?.();
  };
  const followed = Object.create(source) as AsyncIterator<unknown>;
  followed.next = function (this: unknown, ...args: unknown[]) {
    endTurn();
    const slot = start === undefined ? undefined : beginPull(stream, SHAPE, ADVICE);
    last = slot;
    const pending = (next as (...a: unknown[]) => unknown).apply(source, args);
    if ((slot !== undefined || delivered !== undefined) && isThenable(pending)) {
      // Registered before the caller's await: the message's scope is in place when the loop body runs.
      pending.then(
        (result) => {
          const item = result as IteratorResult<unknown> | undefined;
          if (item === undefined || item === null || item.done === true) return;
          const ends = delivered?.(item.value);
          if (slot === undefined || start === undefined) turnEnds = ends;
          else {
            slot.resolve(() => start(item.value), DEFAULT_PULL_TIMEOUT_MS, true);
            slot.onRelease = ends;
          }
        },
        () => undefined,
      );
    }
    return pending as Promise<IteratorResult<unknown>>;
  };
  if (typeof finish === 'function') {
    followed.return = function (this: unknown, ...args: unknown[]) {
      last?.release();
      last = undefined;
      endTurn();
      return (finish as (...a: unknown[]) => unknown).apply(source, args) as Promise<IteratorResult<unknown>>;
    };
  }
  (followed as unknown as LooseObject)[Symbol.asyncIterator] = function () {
    return followed;
  };
  return followed;
}
