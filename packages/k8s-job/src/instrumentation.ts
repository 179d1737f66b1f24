import { context, SpanKind, trace, type Attributes, type Context } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  isWrapped,
  type InstrumentationModuleDefinition,
} from '@opentelemetry/instrumentation';
import { ATTR_ERROR_TYPE, ATTR_K8S_JOB_NAME, ATTR_K8S_JOB_UID, ATTR_K8S_NAMESPACE_NAME, ATTR_K8S_POD_NAME, ATTR_K8S_POD_UID } from '@opentelemetry/semantic-conventions';
import {
  endScope,
  errorType,
  K8S_MESSAGING_SYSTEM,
  MESSAGING_ENV_OPTIONS,
  MessagingMetrics,
  MessagingScope,
  metricDestinationName,
  recordSpanError,
  resolveEnvOptions,
  runSettled,
  withPipelineOrigin,
  type Outcome,
} from '@threadline/carrier';
import { isObject, PACKAGE_NAME, PACKAGE_VERSION } from './package-info';
import type { AnyFunction, ApiClass, ClientNodeExports, CreateCall } from './internal-types';
import { injectIntoWorkload, runEnvFor, workloadIdentity } from './pod-template';
import type { KubernetesJobInstrumentationConfig, WorkloadKind } from './types';

/** `@kubernetes/client-node` versions patched: the positional API of 0.22 and the object API of 1.x and 2.x. */
export const SUPPORTED_CLIENT_NODE_VERSIONS: string[] = ['>=0.22.0 <3'];

/** The API classes and methods patched, per kind. `…WithHttpInfo` exists only in 1.x. */
const CREATE_METHODS: ReadonlyArray<{ className: keyof ClientNodeExports; kind: WorkloadKind; methods: string[] }> = [
  { className: 'BatchV1Api', kind: 'Job', methods: ['createNamespacedJob', 'createNamespacedJobWithHttpInfo'] },
  { className: 'CoreV1Api', kind: 'Pod', methods: ['createNamespacedPod', 'createNamespacedPodWithHttpInfo'] },
];

/** Reads a create call in either API style; undefined for arguments neither style accepts. */
export function readCreateCall(args: readonly unknown[]): CreateCall | undefined {
  const first = args[0];
  if (typeof first === 'string') {
    return {
      style: 'positional',
      namespace: first,
      body: args[1],
      withBody: (body) => {
        const next = args.slice();
        next[1] = body;
        return next;
      },
    };
  }
  if (isObject(first) && typeof first.namespace === 'string') {
    return {
      style: 'object',
      namespace: first.namespace,
      body: first.body,
      withBody: (body) => [{ ...first, body }, ...args.slice(1)],
    };
  }
  return undefined;
}

/** The created object's metadata, from a 1.x object, a 1.x `HttpInfo` or a 0.x `{ response, body }`. */
function createdMetadata(result: unknown): Record<string, unknown> | undefined {
  if (!isObject(result)) return undefined;
  for (const candidate of [result, result.body, result.data]) {
    if (isObject(candidate) && isObject(candidate.metadata)) return candidate.metadata;
  }
  return undefined;
}

/** The HTTP status of a failed call: `code` on 1.x `ApiException`, `statusCode` on 0.x `HttpError`. */
function failedStatus(error: unknown): number | undefined {
  if (!isObject(error) && !(error instanceof Error)) return undefined;
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'number') return code;
  if (typeof statusCode === 'number') return statusCode;
  return undefined;
}

/**
 * Carries the active trace context into Kubernetes Jobs and Pods created with
 * `@kubernetes/client-node` (`BatchV1Api.createNamespacedJob`, `CoreV1Api.createNamespacedPod`),
 * as `TRACEPARENT`/`TRACESTATE`/`BAGGAGE` in every container's env, under a PRODUCER span.
 */
export class KubernetesJobInstrumentation extends InstrumentationBase<KubernetesJobInstrumentationConfig> {
  private instruments: MessagingMetrics | undefined;

  constructor(config: KubernetesJobInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  /** Also called by the constructor: `pipelineLatency` left undefined comes from the environment. */
  override setConfig(config: KubernetesJobInstrumentationConfig = {}): void {
    super.setConfig(resolveEnvOptions(MESSAGING_ENV_OPTIONS, config));
  }

  /** The instruments of the current meter (rebuilt after setMeterProvider); disabled for the no-op meter. */
  private get metrics(): MessagingMetrics {
    if (this.instruments?.meter !== this.meter) this.instruments = new MessagingMetrics(this.meter, K8S_MESSAGING_SYSTEM);
    return this.instruments;
  }

  protected init(): InstrumentationModuleDefinition {
    return new InstrumentationNodeModuleDefinition(
      '@kubernetes/client-node',
      SUPPORTED_CLIENT_NODE_VERSIONS,
      (moduleExports: ClientNodeExports) => this.patchClientNode(moduleExports),
      (moduleExports: ClientNodeExports) => this.unpatchClientNode(moduleExports),
    );
  }

  private apiPrototype(moduleExports: ClientNodeExports, className: keyof ClientNodeExports): Record<string, unknown> | undefined {
    try {
      const apiClass: unknown = moduleExports?.[className];
      if (typeof apiClass !== 'function') return undefined;
      const prototype: unknown = (apiClass as ApiClass).prototype;
      return isObject(prototype) ? prototype : undefined;
    } catch {
      return undefined;
    }
  }

  private patchClientNode(moduleExports: ClientNodeExports): ClientNodeExports {
    for (const { className, kind, methods } of CREATE_METHODS) {
      const prototype = this.apiPrototype(moduleExports, className);
      if (prototype === undefined) {
        this._diag.debug(`${className} not found; ${kind}s created through it carry no context`);
        continue;
      }
      for (const method of methods) {
        if (typeof prototype[method] !== 'function') continue;
        if (isWrapped(prototype[method])) this._unwrap(prototype, method);
        this._wrap(prototype, method, (original) => this.createWrapper(kind, original as AnyFunction) as never);
      }
    }
    return moduleExports;
  }

  private unpatchClientNode(moduleExports: ClientNodeExports): void {
    for (const { className, methods } of CREATE_METHODS) {
      const prototype = this.apiPrototype(moduleExports, className);
      if (prototype === undefined) continue;
      for (const method of methods) {
        if (isWrapped(prototype[method])) this._unwrap(prototype, method);
      }
    }
  }

  /** The wrapper of one create method. */
  private createWrapper(kind: WorkloadKind, original: AnyFunction): AnyFunction {
    const create = (receiver: unknown, args: unknown[]) => this.create(kind, original, receiver, args);
    return function createWithContext(this: unknown, ...args: unknown[]): unknown {
      return create(this, args);
    };
  }

  private create(kind: WorkloadKind, original: AnyFunction, receiver: unknown, args: unknown[]): unknown {
    // Suppressed (the SDK's own work, or the user's choice): the call goes through as written.
    if (isTracingSuppressed(context.active())) return original.apply(receiver, args);
    const call = readCreateCall(args);
    if (call === undefined) {
      this._diag.debug(`create${kind} called with arguments neither API style accepts; passed through`);
      return original.apply(receiver, args);
    }
    let scope: MessagingScope | undefined;
    let callArgs: unknown[] = args;
    const metrics = this.metrics;
    let metered: { destination: string; startedAt: number } | undefined;
    try {
      scope = this.startCreate(kind, call);
      if (metrics.enabled) metered = { destination: this.metricDestination(call.body), startedAt: metrics.start() };
      callArgs = this.argumentsWithContext(kind, call, scope.context, metered !== undefined) ?? args;
    } catch (error) {
      this._diag.debug(`could not carry context into the ${kind}; created without it`, error);
    }
    const send = () => original.apply(receiver, callArgs);
    if (scope === undefined) return send();
    const creating = scope;
    // The client's own HTTP request (if instrumented) becomes a child of the create span.
    return runSettled(
      () => creating.run(send),
      (outcome) => {
        this.endCreate(kind, creating, outcome);
        if (metered !== undefined) metrics.sent(metered.destination, 1, metered.startedAt, outcome.failed ? this.createErrorType(outcome.error) : undefined, 'create');
      },
    );
  }

  /**
   * The metrics' `messaging.destination.name`: the Job's (or Pod's) `generateName` stem, else its
   * name without a generated suffix, so that per-run names do not make a series each. The job side
   * gets the same from `THREADLINE_RUN_NAME`.
   */
  private metricDestination(body: unknown): string {
    const identity = workloadIdentity(body);
    const generateName = identity.generateName?.replace(/-+$/, '');
    return metricDestinationName(identity.name ?? generateName ?? 'unknown', { kind: 'job', generateName: identity.name === undefined ? generateName : undefined });
  }

  /** A failed create's `error.type`: the API's HTTP status, else the error's class. */
  private createErrorType(error: unknown): string {
    const status = failedStatus(error);
    return status === undefined ? errorType(error) : String(status);
  }

  private startCreate(kind: WorkloadKind, call: CreateCall): MessagingScope {
    const active = context.active();
    if (this.getConfig().mode === 'propagation-only') return new MessagingScope(undefined, active);
    const identity = workloadIdentity(call.body);
    const attributes: Attributes = { [ATTR_K8S_NAMESPACE_NAME]: call.namespace };
    if (identity.name !== undefined) attributes[kind === 'Job' ? ATTR_K8S_JOB_NAME : ATTR_K8S_POD_NAME] = identity.name;
    const span = this.tracer.startSpan(
      `create ${kind.toLowerCase()} ${call.namespace}`,
      { kind: SpanKind.PRODUCER, attributes },
      active,
    );
    this._runSpanCustomizationHook(this.getConfig().requestHook, 'requestHook', span, {
      kind,
      namespace: call.namespace,
      body: call.body,
    });
    return new MessagingScope(span, trace.setSpan(active, span));
  }

  /** The call's arguments with a body that carries `carried`; undefined to send the caller's as they are. */
  private argumentsWithContext(kind: WorkloadKind, call: CreateCall, carried: Context, metered: boolean): unknown[] | undefined {
    const config = this.getConfig();
    const runEnv = config.runInfoEnv === false ? [] : runEnvFor(kind, call.namespace, workloadIdentity(call.body));
    const result = injectIntoWorkload(kind, call.body, {
      // With metrics, the job side learns when the pipeline began and when this create was sent.
      context: metered && config.pipelineLatency !== false ? withPipelineOrigin(carried) : carried,
      runEnv,
      allowLowercaseEnv: config.allowLowercaseEnv === true,
      sentAt: metered,
    });
    if (!result.valid) {
      this._diag.warn(`create${kind}: ${result.reason}; the body is sent unchanged, without trace context`);
      return undefined;
    }
    return result.body === call.body ? undefined : call.withBody(result.body);
  }

  /** Ends the create span: the created object's name and uid, or the API's HTTP status on failure. */
  private endCreate(kind: WorkloadKind, scope: MessagingScope, outcome: Outcome): void {
    const span = scope.span;
    if (span !== undefined && !outcome.failed) {
      const metadata = createdMetadata(outcome.value);
      if (metadata !== undefined) {
        if (typeof metadata.name === 'string') span.setAttribute(kind === 'Job' ? ATTR_K8S_JOB_NAME : ATTR_K8S_POD_NAME, metadata.name);
        if (typeof metadata.uid === 'string') span.setAttribute(kind === 'Job' ? ATTR_K8S_JOB_UID : ATTR_K8S_POD_UID, metadata.uid);
      }
    }
    if (span !== undefined && outcome.failed) {
      recordSpanError(span, outcome.error);
      // The API's HTTP status says more than the client's error class.
      const status = failedStatus(outcome.error);
      if (status !== undefined) span.setAttribute(ATTR_ERROR_TYPE, String(status));
      scope.end();
      return;
    }
    endScope(scope, outcome);
  }
}
