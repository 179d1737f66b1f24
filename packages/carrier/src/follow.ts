import { context, diag, type Context, type ContextManager } from '@opentelemetry/api';
import type { MessagingScope } from './policy';

const logger = diag.createComponentLogger({ namespace: '@threadline/carrier' });

/** What `ContextManager.attach` (experimental in context-async-hooks 2.x) returns. */
interface AttachToken {
  dispose(): void;
}
type Attach = (ctx: Context) => AttachToken;

/**
 * The global context manager's imperative `attach`, or undefined when the manager has none (an
 * older or custom manager). Looked up on every call: the SDK may register its manager late.
 */
export function contextAttach(): Attach | undefined {
  try {
    // `_getContextManager` is the API's own accessor for the registered manager.
    const manager = (context as unknown as { _getContextManager?: () => ContextManager })._getContextManager?.();
    const attach = (manager as { attach?: unknown } | undefined)?.attach;
    if (typeof attach !== 'function') return undefined;
    return (ctx) => (attach as Attach).call(manager, ctx);
  } catch {
    return undefined;
  }
}

const warnedSites = new Set<string>();
const siteCache = new WeakMap<object, Map<string, string>>();
const OWN_FRAME = /[\\/](?:carrier|kafkajs|platformatic-kafka|amqplib|sqs|mongodb-queue)[\\/](?:dist|src)[\\/]|[\\/]@threadline[\\/]|node:internal|\(native\)|node_modules[\\/](?:kafkajs|@platformatic[\\/]kafka|amqplib|mongodb|@aws-sdk|@smithy)[\\/]/;

/** The first stack frame outside threadline, the instrumented library and Node itself. */
export function callSite(stack: string | undefined): string {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const frame = line.trim();
    if (frame.startsWith('at ') && !OWN_FRAME.test(frame)) return frame.slice(3);
  }
  return 'unknown call site';
}

/**
 * Warns once per call site that a shape is not followed. The stack is captured only the first
 * time for each `(key, shape)`, so a poll loop does not pay for it on every turn.
 */
export function warnUnfollowed(key: object, shape: string, advice: string, knownSite?: string): void {
  let sites = siteCache.get(key);
  if (sites === undefined) siteCache.set(key, (sites = new Map()));
  let site = sites.get(shape) ?? knownSite;
  if (site === undefined) {
    const holder: { stack?: string } = {};
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 40;
    Error.captureStackTrace(holder, warnUnfollowed);
    Error.stackTraceLimit = limit;
    site = callSite(holder.stack);
  }
  sites.set(shape, site);
  const id = `${shape}@${site}`;
  if (warnedSites.has(id)) return;
  warnedSites.add(id);
  logger.warn(`${shape} at ${site}: each message's work is not followed automatically; ${advice}`);
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';

/** Ends `held` when `result` settles. The caller keeps `result` itself, unchanged. */
function releaseWhenSettled(held: FollowedContext, result: unknown): void {
  if (!isThenable(result)) {
    held.release();
    return;
  }
  try {
    result.then(
      () => held.release(),
      (error: unknown) => held.release(error ?? new Error('rejected')),
    );
  } catch {
    held.release();
  }
}

/**
 * Starts the scope of the message at `index`, called the first time that message's work reads
 * its context (so a loop that never starts a span, `messages.map((m) => m.offset)`, makes none).
 * Undefined runs that message's work in the surrounding context.
 */
export type StartMessageScope<T> = (item: T, index: number) => MessagingScope | undefined;

export interface FollowOptions {
  /** The shape, as the warning names it: `kafkajs eachBatch batch.messages`. */
  shape: string;
  /** The one-liner that does it by hand, for the warning: `withMessageContext(message, fn)`. */
  advice: string;
  /** Identifies the call site for the once-per-site warning (the handler, the client). */
  siteKey: object;
}

/** The loop methods defined on a followed array (own, non-enumerable properties). */
export const FOLLOWED_METHODS = ['forEach', 'map'] as const;

/** A followed array: which loop ran, and how to stop following. */
export interface FollowedArray {
  /** True once a followed loop (for…of, forEach, map) touched the array. */
  readonly iterated: boolean;
  /** Stops following: removes the own properties and ends every scope still open. Idempotent. */
  release(): void;
}

/**
 * Follows the loops over `array` (never replaced, its elements never changed): `for…of` (and
 * anything else that uses `Symbol.iterator`), `forEach` and `map` run each element's work inside
 * the scope `start` returns for it.
 *
 * - `forEach`/`map`: each callback runs in `context.with(…)`; the scope ends when the callback
 *   returns, throws, or its promise settles. Return values are the callback's own.
 * - `for…of`: `next()` ends the previous element's scope and attaches the next one's with the
 *   context manager's `attach`; when the loop ends (done, `break`, a throw) the last scope ends
 *   and the context is back to what it was before the loop. Without `attach` the loop runs
 *   exactly as before and a warning names the call site.
 *
 * Each element's context is a `FollowedContext`: once that element's scope ends it falls back to
 * the surrounding context, so work still running from an earlier element, or a caller that
 * captured it (attach before an async function's first await reaches the caller), never sees a
 * message that is no longer being worked on.
 */
export function followArray<T>(array: T[], start: StartMessageScope<T>, options: FollowOptions): FollowedArray {
  const open = new Set<FollowedContext>();
  let iterated = false;
  let released = false;
  const hold = (item: T, index: number): FollowedContext => {
    const held = new FollowedContext(context.active());
    held.resolve(
      () => {
        if (released) return undefined;
        try {
          return start(item, index);
        } catch (error) {
          logger.debug(`${options.shape}: no scope for this message`, error);
          return undefined;
        }
      },
      0,
      true,
    );
    open.add(held);
    return held;
  };
  const wrapCallback = (callback: (value: T, index: number, arr: T[]) => unknown, thisArg: unknown) =>
    function followed(value: T, index: number, arr: T[]): unknown {
      const held = hold(value, index);
      let result: unknown;
      try {
        result = context.with(held, () => callback.call(thisArg, value, index, arr));
      } catch (error) {
        held.release(error ?? new Error('thrown'));
        open.delete(held);
        throw error;
      }
      releaseWhenSettled(held, result);
      if (!isThenable(result)) open.delete(held);
      return result;
    };
  const methods: Record<(typeof FOLLOWED_METHODS)[number], (this: T[], callback: unknown, thisArg?: unknown) => unknown> = {
    forEach(this: T[], callback: unknown, thisArg?: unknown) {
      if (this !== array || typeof callback !== 'function' || released) return Array.prototype.forEach.call(this, callback as never, thisArg);
      iterated = true;
      return Array.prototype.forEach.call(this, wrapCallback(callback as never, thisArg));
    },
    map(this: T[], callback: unknown, thisArg?: unknown) {
      if (this !== array || typeof callback !== 'function' || released) return Array.prototype.map.call(this, callback as never, thisArg);
      iterated = true;
      return Array.prototype.map.call(this, wrapCallback(callback as never, thisArg));
    },
  };
  const nativeIterator = Array.prototype[Symbol.iterator];
  function iterator(this: T[]): IterableIterator<T> {
    const attach = released || this !== array ? undefined : contextAttach();
    if (attach === undefined) {
      if (!released && this === array) warnUnfollowed(options.siteKey, `${options.shape} for…of (the context manager has no attach)`, options.advice);
      return nativeIterator.call(this) as IterableIterator<T>;
    }
    // From here on `this` is `array`.
    const source = array;
    iterated = true;
    let index = 0;
    let token: AttachToken | undefined;
    let current: FollowedContext | undefined;
    const close = () => {
      // Restore the context first: ending the span may run exporters' code.
      const closing = token;
      token = undefined;
      try {
        closing?.dispose();
      } catch (error) {
        logger.debug(`${options.shape}: could not restore the context`, error);
      }
      const held = current;
      current = undefined;
      if (held !== undefined) {
        held.release();
        open.delete(held);
      }
    };
    const it: IterableIterator<T> = {
      next() {
        close();
        if (index >= source.length) {
          index = Infinity;
          return { done: true, value: undefined };
        }
        const position = index++;
        const value = source[position];
        if (!released) {
          current = hold(value, position);
          try {
            token = attach(current);
          } catch (error) {
            logger.debug(`${options.shape}: could not attach the message's context`, error);
          }
        }
        return { done: false, value };
      },
      return(value?: unknown) {
        close();
        index = Infinity;
        return { done: true, value: value as T };
      },
      [Symbol.iterator]() {
        return it;
      },
    };
    return it;
  }
  try {
    const define = (key: PropertyKey, value: unknown) =>
      Object.defineProperty(array, key, { value, writable: true, configurable: true, enumerable: false });
    define(Symbol.iterator, iterator);
    define('forEach', methods.forEach);
    define('map', methods.map);
  } catch (error) {
    // A frozen or non-extensible array: it is left exactly as it is.
    logger.debug(`${options.shape}: array not followed`, error);
    released = true;
  }
  return {
    get iterated() {
      return iterated;
    },
    release() {
      if (released) return;
      released = true;
      for (const key of [Symbol.iterator, 'forEach', 'map'] as PropertyKey[]) {
        try {
          if (Object.prototype.hasOwnProperty.call(array, key)) delete (array as unknown as Record<PropertyKey, unknown>)[key];
        } catch {
          // A user froze the array after it was handed over: the properties stay, inert.
        }
      }
      for (const held of open) held.release();
      open.clear();
    },
  };
}

/**
 * Runs `fn` (a handler that loops over `followed`) and releases `followed` when `fn` returns,
 * throws or its promise settles; `onReleased` runs then (to warn when no followed loop ran).
 * Returns `fn`'s own result.
 */
export function followWhile<R>(followed: FollowedArray | undefined, fn: () => R, onReleased?: (followed: FollowedArray) => void): R {
  if (followed === undefined) return fn();
  const release = () => {
    followed.release();
    if (onReleased !== undefined) {
      try {
        onReleased(followed);
      } catch (error) {
        logger.debug('follow: onReleased threw', error);
      }
    }
  };
  let result: R;
  try {
    result = fn();
  } catch (error) {
    release();
    throw error;
  }
  if (!isThenable(result)) {
    release();
    return result;
  }
  try {
    // Observed on a derived promise: the caller's promise and its handling are unchanged.
    result.then(release, release);
  } catch {
    release();
  }
  return result;
}

/**
 * A context whose content follows one message: the surrounding context (`base`) until the message
 * is known, the message's context while its scope is open, and `base` again once it ends (settled,
 * the next pull or loop element, or the safety timer). Attached when a pull (`channel.get`, a
 * receive, a claim) is called, so the code after its `await` runs in the pulled message's context,
 * and per element of a followed loop.
 */
export class FollowedContext implements Context {
  private scope: MessagingScope | undefined;
  private make: (() => MessagingScope | undefined) | undefined;
  private live = false;
  private owned = false;
  private outlive = false;
  private timer: NodeJS.Timeout | undefined;
  /** Runs once when this message's context is released (a transport's own bookkeeping). */
  onRelease: (() => void) | undefined;

  constructor(readonly base: Context) {}

  /** The context in effect now. */
  current(): Context {
    if (!this.live) return this.base;
    let scope = this.scope;
    if (scope === undefined) {
      const make = this.make;
      this.make = undefined;
      scope = this.scope = make?.();
      if (scope === undefined) {
        this.live = false;
        return this.base;
      }
    }
    if (scope.isEnded && !this.outlive) {
      this.live = false;
      return this.base;
    }
    return scope.context;
  }

  getValue(key: symbol): unknown {
    return this.current().getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    return this.current().setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    return this.current().deleteValue(key);
  }

  /**
   * The message is known: its scope (or a function that starts it on first use) is in effect until
   * the scope ends, `release()`, or `timeoutMs` passes (0: no timer). `owned`: releasing ends the
   * scope too (otherwise the transport ends it, e.g. at ack). `outlive`: the message's context stays
   * in effect after its span ended (a span that must end before the process may exit), until release.
   */
  resolve(scope: MessagingScope | (() => MessagingScope | undefined), timeoutMs: number, owned: boolean, outlive = false): void {
    this.release();
    this.outlive = outlive;
    if (typeof scope === 'function') this.make = scope;
    else this.scope = scope;
    this.live = true;
    this.owned = owned;
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      this.timer = setTimeout(() => this.release(), timeoutMs);
      this.timer.unref?.();
    }
  }

  /** The message's scope ends here (if owned and still open); `base` is in effect again. */
  release(error?: unknown): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const scope = this.scope;
    this.scope = undefined;
    this.make = undefined;
    this.live = false;
    if (this.owned) scope?.end(error);
    const onRelease = this.onRelease;
    this.onRelease = undefined;
    if (onRelease !== undefined) {
      try {
        onRelease();
      } catch (hookError) {
        logger.debug('follow: onRelease threw', hookError);
      }
    }
  }
}

/**
 * Called synchronously when a pull is made: ends the scope of the message the previous pull in this
 * async chain handed over, and attaches a fresh `FollowedContext` for this one. Undefined (nothing
 * attached) when the context manager has no `attach`; the pull then behaves as before.
 */
export function beginPull(siteKey: object, shape: string, advice: string): FollowedContext | undefined {
  const active = context.active();
  let base = active;
  if (active instanceof FollowedContext) {
    active.release();
    base = active.base;
  }
  const attach = contextAttach();
  if (attach === undefined) {
    warnUnfollowed(siteKey, `${shape} (the context manager has no attach)`, advice);
    return undefined;
  }
  const slot = new FollowedContext(base);
  try {
    // The token is dropped on purpose: the slot stays attached in this async chain and falls back
    // to the caller's context by itself; the next pull in the chain replaces it.
    attach(slot);
  } catch (error) {
    logger.debug(`${shape}: could not attach`, error);
    return undefined;
  }
  return slot;
}

/** Default lifetime of a pulled message's scope that nothing settles. */
export const DEFAULT_PULL_TIMEOUT_MS = 60_000;
