/** Any function the instrumentations wrap. */
export type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/** A generated API class of `@kubernetes/client-node` (0.x or 1.x); only its prototype is patched. */
export interface ApiClass {
  prototype: Record<string, unknown>;
}

/** The parts of the `@kubernetes/client-node` module this package touches. */
export interface ClientNodeExports {
  BatchV1Api?: ApiClass;
  CoreV1Api?: ApiClass;
}

/** One create call, read from either API style. */
export interface CreateCall {
  /** `positional`: `(namespace, body, …)` of 0.x. `object`: `({ namespace, body, … }, options?)` of 1.x. */
  style: 'positional' | 'object';
  namespace: string;
  body: unknown;
  /** The call's arguments with another body; the caller's arguments are not changed. */
  withBody(body: unknown): unknown[];
}

/** The `child_process` module as far as this package touches it. */
export type ChildProcessExports = Record<string, unknown>;
