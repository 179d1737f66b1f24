import { errorMonitor } from 'node:events';
import { promisify } from 'node:util';
import { context, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { InstrumentationBase, InstrumentationNodeModuleDefinition, isWrapped, type InstrumentationModuleDefinition } from '@opentelemetry/instrumentation';
import { ATTR_PROCESS_EXECUTABLE_NAME, ATTR_PROCESS_EXIT_CODE, ATTR_PROCESS_PID, envAdapter, injectContext, MessagingScope } from '@threadline/carrier';
import { commandName, locateOptions, runName } from './child-process-args';
import { holdsPropagationVariable, propagationEnvNames, RUN_NAME_ENV, SENT_AT_ENV } from './env';
import type { AnyFunction, ChildProcessExports } from './internal-types';
import type { ChildProcessInstrumentationConfig, ChildProcessMethod } from './types';

import { isObject, PACKAGE_VERSION } from './package-info';

/**
 * The instrumentation scope of child_process spans: apart from the Kubernetes spans, because a
 * process start is not a Kubernetes operation.
 */
export const CHILD_PROCESS_SCOPE_NAME = '@threadline/k8s-job/child-process';

const CHILD_PROCESS_METHODS: readonly ChildProcessMethod[] = [
  'spawn',
  'spawnSync',
  'exec',
  'execSync',
  'execFile',
  'execFileSync',
  'fork',
];
const SYNC_METHODS = new Set<ChildProcessMethod>(['spawnSync', 'execSync', 'execFileSync']);

interface SpawnPlan {
  args: unknown[];
  scope: MessagingScope;
}

/**
 * Carries the active trace context into processes started with `child_process` (`spawn`,
 * `exec`, `execFile`, `fork` and the sync variants) as `TRACEPARENT`/`TRACESTATE`/`BAGGAGE` in a
 * copy of the child's env. The parent's `process.env` is never touched.
 */
export class ChildProcessInstrumentation extends InstrumentationBase<ChildProcessInstrumentationConfig> {
  /** Above zero while an instrumented call runs: `exec` calls `execFile`, which must not start a second span. */
  private depth = 0;

  constructor(config: ChildProcessInstrumentationConfig = {}) {
    super(CHILD_PROCESS_SCOPE_NAME, PACKAGE_VERSION, config);
  }

  protected init(): InstrumentationModuleDefinition[] {
    // A core module: the version range is not checked; the supported Node versions are the package's engines.
    return ['child_process', 'node:child_process'].map(
      (name) =>
        new InstrumentationNodeModuleDefinition(
          name,
          ['*'],
          (moduleExports: ChildProcessExports) => this.patchChildProcess(moduleExports),
          (moduleExports: ChildProcessExports) => this.unpatchChildProcess(moduleExports),
        ),
    );
  }

  /**
   * Under the ESM loader the module arrives as a namespace whose `default` is the CommonJS
   * exports object: `import cp from 'node:child_process'` calls through `default`, named imports
   * through the namespace, so both are patched.
   */
  private exportObjects(moduleExports: ChildProcessExports): ChildProcessExports[] {
    const objects = [moduleExports];
    const commonJsExports = (moduleExports as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'Module' ? moduleExports.default : undefined;
    if (isObject(commonJsExports) && commonJsExports !== moduleExports) objects.push(commonJsExports);
    return objects;
  }

  private patchChildProcess(moduleExports: ChildProcessExports): ChildProcessExports {
    for (const target of this.exportObjects(moduleExports)) {
      for (const method of CHILD_PROCESS_METHODS) {
        const original = target[method];
        if (typeof original !== 'function') continue;
        if (isWrapped(original)) this._unwrap(target, method);
        this._wrap(target, method, (unwrapped) => this.wrapperFor(method, unwrapped as AnyFunction) as never);
      }
    }
    return moduleExports;
  }

  private unpatchChildProcess(moduleExports: ChildProcessExports): void {
    for (const target of this.exportObjects(moduleExports)) {
      for (const method of CHILD_PROCESS_METHODS) {
        if (isWrapped(target[method])) this._unwrap(target, method);
      }
    }
  }

  /**
   * The wrapper of one child_process function, with `util.promisify` support kept: `exec` and
   * `execFile` carry a custom promisified form that resolves `{ stdout, stderr }`; it is wrapped
   * too, or `promisify(exec)` would change what it resolves to.
   */
  private wrapperFor(method: ChildProcessMethod, original: AnyFunction): AnyFunction {
    const wrapper = this.spawnWrapper(method, original, false);
    const promisified = (original as unknown as Record<symbol, unknown>)[promisify.custom];
    if (typeof promisified === 'function') {
      Object.defineProperty(wrapper, promisify.custom, {
        value: this.spawnWrapper(method, promisified as AnyFunction, true),
        configurable: true,
        enumerable: false,
        writable: true,
      });
    }
    return wrapper;
  }

  private spawnWrapper(method: ChildProcessMethod, original: AnyFunction, promisified: boolean): AnyFunction {
    const run = (receiver: unknown, args: unknown[]) => this.runSpawn(method, original, promisified, receiver, args);
    return function spawnWithContext(this: unknown, ...args: unknown[]): unknown {
      return run(this, args);
    };
  }

  private runSpawn(method: ChildProcessMethod, original: AnyFunction, promisified: boolean, receiver: unknown, args: unknown[]): unknown {
    if (this.depth > 0) return original.apply(receiver, args);
    const plan = this.plan(method, args);
    if (plan === undefined) return original.apply(receiver, args);
    this.depth++;
    let result: unknown;
    try {
      result = original.apply(receiver, plan.args);
    } catch (error) {
      this.endSyncFailure(plan.scope, error);
      throw error;
    } finally {
      this.depth--;
    }
    this.finish(method, plan.scope, promisified && isObject(result) ? result.child : result);
    return result;
  }

  /** What the call becomes; undefined to run it exactly as the caller wrote it. Never throws. */
  private plan(method: ChildProcessMethod, args: unknown[]): SpawnPlan | undefined {
    let scope: MessagingScope | undefined;
    try {
      const config = this.getConfig();
      const active = context.active();
      // Suppressed (the SDK's own work, such as an exporter's helper process): no span, no context.
      if (isTracingSuppressed(active)) return undefined;
      const parent = trace.getSpanContext(active);
      const hasParent = parent !== undefined && trace.isSpanContextValid(parent);
      const spansOn = config.mode !== 'propagation-only';
      if (!hasParent && (config.requireParentSpan !== false || !spansOn)) return undefined;
      const slot = locateOptions(method, args);
      if (slot === undefined) {
        this._diag.debug(`${method}: arguments Node would reject; passed through unchanged`);
        return undefined;
      }
      const command = commandName(method, args);
      if (spansOn) {
        const span = this.tracer.startSpan(
          `spawn ${command}`,
          { kind: SpanKind.PRODUCER, attributes: { [ATTR_PROCESS_EXECUTABLE_NAME]: command } },
          active,
        );
        this._runSpanCustomizationHook(config.spawnHook, 'spawnHook', span, { method, command });
        scope = new MessagingScope(span, trace.setSpan(active, span));
      } else {
        scope = new MessagingScope(undefined, active);
      }
      const options = slot.options ?? {};
      const env = this.childEnv(options.env, scope.context, config.runInfoEnv === false ? undefined : runName(method, args));
      return { args: slot.withOptions({ ...options, env }), scope };
    } catch (error) {
      this._diag.debug(`${method}: could not carry context; the process starts without it`, error);
      scope?.end();
      return undefined;
    }
  }

  /**
   * A copy of the env the child would get (`options.env`, else `process.env`, prototype keys
   * included as Node does) carrying `carried`. Propagation variables the child would only
   * inherit from this process's own parent are replaced: they describe the context this process
   * started in, not the current one. A value the caller put in `options.env` themselves wins.
   */
  private childEnv(callerEnv: unknown, carried: Context, name: string | undefined): Record<string, unknown> {
    const allowLowercase = this.getConfig().allowLowercaseEnv === true;
    const explicit = isObject(callerEnv);
    const source = (explicit ? callerEnv : process.env) as Record<string, unknown>;
    const env: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const key in source) env[key] = source[key];

    const carriers = new Set(propagationEnvNames());
    const folded = new Set([...carriers].map((key) => key.toLowerCase()));
    for (const key of Object.keys(env)) {
      const isCarrier = carriers.has(key) || (allowLowercase && folded.has(key.toLowerCase()));
      if (!isCarrier && key !== RUN_NAME_ENV && key !== SENT_AT_ENV) continue;
      // Only a copy of this process's own value counts as inherited. A key the caller set that this
      // process lacks is theirs, even `TRACEPARENT: undefined` (Node then passes none: an opt-out).
      if (!explicit || (Object.prototype.hasOwnProperty.call(process.env, key) && env[key] === process.env[key])) delete env[key];
    }
    if (!holdsPropagationVariable(Object.keys(env), allowLowercase)) {
      injectContext(carried, env as Record<string, string>, envAdapter, { keepExisting: false });
    }
    const carrying = Object.keys(env).filter((key) => env[key] !== undefined);
    if (name !== undefined && env[RUN_NAME_ENV] === undefined && holdsPropagationVariable(carrying, allowLowercase)) {
      env[RUN_NAME_ENV] = name;
    }
    return env;
  }

  /** Ends the span of a call that threw: a launch failure, or a sync call's non-zero exit. */
  private endSyncFailure(scope: MessagingScope, error: unknown): void {
    try {
      const status = isObject(error) ? error.status : undefined;
      if (scope.span !== undefined && typeof status === 'number') scope.span.setAttribute(ATTR_PROCESS_EXIT_CODE, status);
      scope.end(error);
    } catch (failure) {
      // The caller's own error is what must surface.
      this._diag.debug('could not record the failed start', failure);
    }
  }

  /**
   * Ends the span. A sync call has run the child to the end: its exit is recorded. An async
   * call's span covers the launch only: it ends once the child has a pid, or with the launch
   * error (seen through `errorMonitor`, so an `error` event the caller does not handle still
   * reaches Node's default handling).
   */
  private finish(method: ChildProcessMethod, scope: MessagingScope, result: unknown): void {
    const span = scope.span;
    if (span === undefined) return;
    try {
      if (SYNC_METHODS.has(method)) {
        if (method === 'spawnSync' && isObject(result)) {
          if (typeof result.pid === 'number' && result.pid > 0) span.setAttribute(ATTR_PROCESS_PID, result.pid);
          if (typeof result.status === 'number') span.setAttribute(ATTR_PROCESS_EXIT_CODE, result.status);
          if (result.error !== undefined) {
            scope.end(result.error);
            return;
          }
          if (result.status !== 0) {
            span.setStatus({
              code: SpanStatusCode.ERROR,
              message: result.status === null ? `killed by ${String(result.signal)}` : `exited with code ${String(result.status)}`,
            });
          }
        } else {
          span.setAttribute(ATTR_PROCESS_EXIT_CODE, 0);
        }
        scope.end();
        return;
      }
      const child = result as { pid?: unknown; once?: (event: string | symbol, listener: (...args: unknown[]) => void) => unknown } | undefined;
      if (child !== undefined && child !== null && typeof child.pid === 'number') {
        span.setAttribute(ATTR_PROCESS_PID, child.pid);
        scope.end();
        return;
      }
      if (child !== undefined && child !== null && typeof child.once === 'function') {
        child.once(errorMonitor, (error: unknown) => scope.end(error));
        child.once('spawn', () => scope.end());
        return;
      }
      scope.end();
    } catch (error) {
      this._diag.debug('could not end the spawn span', error);
      scope.end();
    }
  }
}
