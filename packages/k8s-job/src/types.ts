import type { Span } from '@opentelemetry/api';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import type { InstrumentationMode } from '@threadline/carrier';

/** The Kubernetes object a create call makes. */
export type WorkloadKind = 'Job' | 'Pod';

/** The child_process functions that start a process. */
export type ChildProcessMethod = 'spawn' | 'spawnSync' | 'exec' | 'execSync' | 'execFile' | 'execFileSync' | 'fork';

export interface KubernetesRequestInfo {
  /** `Job` for `BatchV1Api.createNamespacedJob`, `Pod` for `CoreV1Api.createNamespacedPod`. */
  kind: WorkloadKind;
  /** The namespace the call creates the object in. */
  namespace: string;
  /** The caller's body, unchanged. Do not mutate it. */
  body: unknown;
}

export interface SpawnInfo {
  /** The child_process function called. */
  method: ChildProcessMethod;
  /** The executable's (or forked module's) basename; the span is named `spawn {command}`. */
  command: string;
}

/** Options of `KubernetesJobInstrumentation`. */
export interface KubernetesJobInstrumentationConfig extends InstrumentationConfig {
  /**
   * `spans`: a PRODUCER span around each create call, whose context the pods carry.
   * `propagation-only`: no span; the active context is carried as it is.
   * @default 'spans'
   */
  mode?: InstrumentationMode;
  /**
   * Treat a lowercase `traceparent` (or `tracestate`, `baggage`) variable the caller put in a
   * container's env as that container's context, so nothing is added beside it. By default only
   * the uppercase names count, as the OpenTelemetry env-carrier spec says, and the context is
   * added as `TRACEPARENT` next to the lowercase variable.
   * @default false
   */
  allowLowercaseEnv?: boolean;
  /**
   * Also add `THREADLINE_RUN_NAME`, `THREADLINE_K8S_NAMESPACE` and `THREADLINE_K8S_JOB_NAME`
   * (or `THREADLINE_K8S_POD_NAME`), which name and describe the job side's `run` span. Only
   * added to containers that carry a context, and never over a variable the caller set.
   * @default true
   */
  runInfoEnv?: boolean;
  /**
   * With a MeterProvider set: carry the pipeline's first send time in `TRACESTATE`
   * (`threadline=o:…`), so the job side records `threadline.pipeline.duration`; false keeps every
   * other metric. Environment: `THREADLINE_PIPELINE_LATENCY=false`.
   * @default true
   */
  pipelineLatency?: boolean;
  /** Called with each create span after it starts. Errors it throws are caught and logged. */
  requestHook?: (span: Span, info: KubernetesRequestInfo) => void;
}

/** Options of `ChildProcessInstrumentation`. */
export interface ChildProcessInstrumentationConfig extends InstrumentationConfig {
  /**
   * `spans`: a short PRODUCER span `spawn {command}` per started process, whose context the
   * child carries. `propagation-only`: no span; the active context is carried as it is.
   * @default 'spans'
   */
  mode?: InstrumentationMode;
  /**
   * Do nothing for processes started outside any span: no span, and the child's env is left as
   * the caller built it. Turn off to give such children a root `spawn` span to join.
   * @default true
   */
  requireParentSpan?: boolean;
  /**
   * Treat a lowercase `traceparent` (or `tracestate`, `baggage`) variable in the child's env as
   * the caller's context, so nothing is added beside it. By default only the uppercase names
   * count, as the OpenTelemetry env-carrier spec says.
   * @default false
   */
  allowLowercaseEnv?: boolean;
  /**
   * Also set `THREADLINE_RUN_NAME` (the command's basename, or the script of a `node` command)
   * so the child's `run` span is named after it. Never over a value the caller set.
   * @default true
   */
  runInfoEnv?: boolean;
  /** Called with each spawn span after it starts. Errors it throws are caught and logged. */
  spawnHook?: (span: Span, info: SpawnInfo) => void;
}
