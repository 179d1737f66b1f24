import { diag } from '@opentelemetry/api';
import type { MessagingMetrics } from './metrics';
import type { MessagingScope } from './policy';

const logger = diag.createComponentLogger({ namespace: '@threadline/carrier' });

/** How a user's function (or a library call) ended: a throw or rejection of any value, `undefined` included, is a failure. */
export type Outcome = { failed: false; value: unknown } | { failed: true; error: unknown };

/** Called once with the outcome. Its own errors are logged, never thrown into user code. */
export type Settle = (outcome: Outcome) => void;

export interface SettleOptions {
  /**
   * False when the library drops what the function returns (a push consumer that ignores its
   * callback's result): a rejection is then re-raised on the side chain, so a rejection nobody
   * handles stays unhandled, as it would be without instrumentation. @default true
   */
  observed?: boolean;
}

export interface RunAndEndOptions extends SettleOptions {
  /** The scope whose context `fn` runs in. @default the scope, when one is given; none for a list */
  runIn?: MessagingScope | null;
}

/** A promise or any object/function with a `then` method. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function guarded(settle: Settle): Settle {
  let done = false;
  return (outcome) => {
    if (done) return;
    done = true;
    try {
      settle(outcome);
    } catch (error) {
      logger.debug('ending a span failed; the result reaches the caller unchanged', error);
    }
  };
}

/**
 * Calls `settle` when `result` settles: now for a plain value, later for a thenable. Returns
 * `result` itself, the caller's own promise included. The side chain never rejects (unless
 * `observed: false`), so it adds no unhandled rejection.
 */
export function settleWhen<R>(result: R, settle: Settle, options?: SettleOptions): R {
  const once = guarded(settle);
  if (!isThenable(result)) {
    once({ failed: false, value: result });
    return result;
  }
  const rethrow = options?.observed === false;
  try {
    result.then(
      (value) => once({ failed: false, value }),
      (error: unknown) => {
        once({ failed: true, error });
        if (rethrow) throw error;
      },
    );
  } catch (error) {
    // A thenable whose then() throws: the caller still gets it as it is.
    logger.debug('could not follow a thenable to its end', error);
    once({ failed: false, value: undefined });
  }
  return result;
}

/** Calls `fn`, then `settle` once its result settles; what `fn` throws or returns reaches the caller unchanged. */
export function runSettled<R>(fn: () => R, settle: Settle, options?: SettleOptions): R {
  let result: R;
  try {
    result = fn();
  } catch (error) {
    guarded(settle)({ failed: true, error });
    throw error;
  }
  return settleWhen(result, settle, options);
}

/** The low-cardinality `error.type` of a failure. */
export function errorType(error: unknown): string {
  if (error instanceof Error) return error.name || error.constructor?.name || 'Error';
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string') {
    return (error as { code: string }).code;
  }
  return '_OTHER';
}

/**
 * Runs `fn` and records its `messaging.process.duration` once it settles (returns, throws, or
 * its promise settles), with the outcome's `error.type`; while metrics are off it only runs it.
 * For handlers whose scope does not end with them (an ack, a document's end of turn).
 */
export function runTimed<R>(metrics: MessagingMetrics, destination: string, fn: () => R, options?: SettleOptions & { consumerGroup?: string }): R {
  if (!metrics.enabled) return fn();
  const startedAt = metrics.start();
  return runSettled(fn, (outcome) => metrics.processed(destination, startedAt, outcome.failed ? errorType(outcome.error) : undefined, options?.consumerGroup), options);
}

/** Ends a scope with an outcome. */
export function endScope(scope: MessagingScope, outcome: Outcome): void {
  if (outcome.failed) scope.end(outcome.error, true);
  else scope.end();
}

/**
 * Runs `fn` in the scope's context and ends the scope (or every scope of a list) when `fn`
 * returns, throws, or its promise settles. Without spans (propagation-only) no side chain is made.
 */
export function runAndEnd<R>(scope: MessagingScope | readonly MessagingScope[], fn: () => R, options?: RunAndEndOptions): R {
  const scopes: readonly MessagingScope[] = Array.isArray(scope) ? scope : [scope as MessagingScope];
  const runIn = options?.runIn === undefined ? (Array.isArray(scope) ? undefined : (scope as MessagingScope)) : (options.runIn ?? undefined);
  const call = runIn === undefined ? fn : () => runIn.run(fn);
  if (scopes.every((each) => each.span === undefined && each.onEnd === undefined)) {
    for (const each of scopes) each.end();
    return call();
  }
  return runSettled(call, (outcome) => {
    for (const each of scopes) endScope(each, outcome);
  }, options);
}

/**
 * A node-style callback `(error, ...results)` that settles first, then calls `callback` (when it
 * is a function) with the same `this` and arguments. `error == null` is a success.
 */
export function settlingCallback(callback: unknown, settle: Settle): (this: unknown, ...results: unknown[]) => unknown {
  const once = guarded(settle);
  return function settled(this: unknown, ...results: unknown[]): unknown {
    const [error] = results;
    once(error === null || error === undefined ? { failed: false, value: results[1] } : { failed: true, error });
    return typeof callback === 'function' ? (callback as (...args: unknown[]) => unknown).apply(this, results) : undefined;
  };
}
