export type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/** A method wrapper that hands its receiver to `body` (an arrow function keeps the instrumentation's `this`). */
export function methodWrapper(body: (receiver: unknown, args: unknown[]) => unknown): AnyFunction {
  return function wrapped(this: unknown, ...args: unknown[]): unknown {
    return body(this, args);
  };
}
