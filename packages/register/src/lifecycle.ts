import { basename } from 'node:path';
import { diag, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter } from '@opentelemetry/api';
import type * as CarrierCore from '@threadline/carrier/core';
import type { Sdk } from './sdk';

const logger = diag.createComponentLogger({ namespace: '@threadline/register' });
const SHUTDOWN_TIMEOUT_MS = 2000;

/** The span that covers this process's run when it was started inside a trace. */
let runSpan: Span | undefined;
/** Ends the job side's metrics of this run (a Job or Pod created with metrics on), with its error.type. */
let endJobRun: ((errorType: string | undefined) => void) | undefined;
let fatalError: unknown;

/** Letters and digits only, upper case: `x-b3-traceid` and `X_B3_TRACEID` both become `XB3TRACEID`. */
const loose = (name: string) => name.replace(/[^A-Za-z0-9]/g, '').toUpperCase();

/**
 * Whether any variable the global propagator would read is set. A deliberately loose pre-check
 * (case and punctuation ignored) so that the carrier, which applies the env-carrier spec's exact
 * names, is loaded only when there may be something to join. The propagator is asked which keys
 * it reads, so b3, jaeger and their fallbacks are covered as well as TRACEPARENT.
 */
function mayCarryContext(env: NodeJS.ProcessEnv): boolean {
  if (env.TRACEPARENT !== undefined) return true;
  const present = new Set(Object.keys(env).map(loose));
  let found = false;
  const probe: TextMapGetter<NodeJS.ProcessEnv> = {
    get(_carrier, key) {
      if (present.has(loose(key))) found = true;
      return undefined;
    },
    keys: () => [],
  };
  try {
    propagation.extract(ROOT_CONTEXT, env, probe);
  } catch {
    return true;
  }
  return found;
}

function runName(env: NodeJS.ProcessEnv, runNameEnv: string): string {
  return env[runNameEnv] || env.OTEL_SERVICE_NAME || (process.argv[1] ? basename(process.argv[1]) : 'node');
}

/**
 * Joins the trace the environment carries (TRACEPARENT, TRACESTATE, BAGGAGE per the OpenTelemetry
 * env-carrier spec). With a valid context, one CONSUMER span `run {name}` covers the whole run and
 * becomes the process's context; THREADLINE_RUN_SPAN=false joins without it.
 */
export function joinTraceFromEnv(sdk: Sdk, env: NodeJS.ProcessEnv, version: string): void {
  if (!mayCarryContext(env)) return;
  // Loaded only when the environment may carry a context: it costs start-up time.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const carrier = require('@threadline/carrier/core') as typeof CarrierCore;
  const carried = carrier.extractContextFrom(ROOT_CONTEXT, env, carrier.envAdapter);
  startJobMetrics(sdk, env, carrier, carried, version);
  const spanContext = trace.getSpanContext(carried);
  if (spanContext === undefined || !trace.isSpanContextValid(spanContext)) {
    if (env.TRACEPARENT !== undefined) logger.warn('TRACEPARENT in the environment is not a valid trace context; ignored');
    return;
  }
  if (env.THREADLINE_RUN_SPAN === 'false') {
    sdk.contextManager.processContext = carried;
    return;
  }
  const attributes: Record<string, string | number> = { 'process.pid': process.pid };
  const jobName = env[carrier.K8S_JOB_NAME_ENV];
  const podName = env[carrier.K8S_POD_NAME_ENV];
  const namespace = env[carrier.K8S_NAMESPACE_ENV];
  if (jobName) attributes['k8s.job.name'] = jobName;
  if (podName) attributes['k8s.pod.name'] = podName;
  if (namespace) attributes['k8s.namespace.name'] = namespace;
  runSpan = sdk.provider
    .getTracer('@threadline/register', version)
    .startSpan(`run ${runName(env, carrier.RUN_NAME_ENV)}`, { kind: SpanKind.CONSUMER, attributes }, carried);
  sdk.contextManager.processContext = trace.setSpan(carried, runSpan);
}

/**
 * The consumer side of a Job (or Pod) whose creator had metrics on: `THREADLINE_SENT_AT` holds when
 * the create call was made. This process's start is the Job's delivery: one consumed message, its
 * queue time (start − create call, source `carried`: the pod cannot read the Job's
 * creationTimestamp through the downward API), the pipeline duration from `TRACESTATE`, and at the
 * end of the run its process duration. Child processes never inherit the variable.
 */
function startJobMetrics(sdk: Sdk, env: NodeJS.ProcessEnv, carrier: typeof CarrierCore, carried: Context, version: string): void {
  const sentAt = carrier.readSentAt(env, carrier.envAdapter);
  if (sentAt === undefined || sdk.metrics === undefined) return;
  const metrics = new carrier.MessagingMetrics(sdk.metrics.provider.getMeter('@threadline/register', version), carrier.K8S_MESSAGING_SYSTEM);
  if (!metrics.enabled) return;
  const name = env[carrier.RUN_NAME_ENV] || env[carrier.K8S_JOB_NAME_ENV] || env[carrier.K8S_POD_NAME_ENV] || 'unknown';
  const destination = carrier.metricDestinationName(name, { kind: 'job' });
  metrics.received(destination, { sentAt, source: 'carried', context: carried, operationName: 'process' }, env.THREADLINE_PIPELINE_LATENCY !== 'false');
  const startedAt = metrics.start();
  endJobRun = (errorType) => metrics.processed(destination, startedAt, errorType);
}

/** The run's `error.type`: the crash's, the signal, or the non-zero exit code. */
function runErrorType(code: number, signal: NodeJS.Signals | undefined): string | undefined {
  if (fatalError !== undefined) return fatalError instanceof Error ? fatalError.name || 'Error' : '_OTHER';
  if (signal !== undefined) return signal;
  return code !== 0 ? String(code) : undefined;
}

/** The full carrier (span policy, semantic conventions) is loaded only when a run ends in a crash. */
function recordFatalError(span: Span, error: unknown): void {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('@threadline/carrier') as typeof import('@threadline/carrier')).recordSpanError(span, error);
  } catch {
    span.setStatus({ code: SpanStatusCode.ERROR, message: String((error as Error)?.message ?? error) });
  }
}

function endRunSpan(exitCode: number | string | undefined, signal?: NodeJS.Signals): void {
  const code = Number(exitCode ?? 0);
  if (endJobRun !== undefined) {
    const end = endJobRun;
    endJobRun = undefined;
    end(runErrorType(Number.isFinite(code) ? code : 1, signal));
  }
  const span = runSpan;
  if (span === undefined) return;
  runSpan = undefined;
  span.setAttribute('process.exit.code', Number.isFinite(code) ? code : 1);
  // A run span exists only when the carrier was loaded to extract its parent.
  if (fatalError !== undefined) recordFatalError(span, fatalError);
  else if (signal !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: `terminated by ${signal}` });
  else if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: `exit code ${exitCode}` });
  span.end();
}

function withinTimeout(work: Promise<void>, ms: number): Promise<void> {
  return Promise.race([work, new Promise<void>((resolve) => setTimeout(resolve, ms).unref())]);
}

function flushWithin(sdk: Sdk, ms: number): Promise<void> {
  return Promise.race([
    sdk.flush().catch((error: unknown) => logger.warn('span flush failed', error)),
    new Promise<void>((resolve) => setTimeout(resolve, ms).unref()),
  ]);
}

/**
 * Ends the run span and sends every buffered span on each way a Node process ends: the loop
 * draining (beforeExit), process.exit() and fatal exceptions (exit, synchronously), and
 * SIGTERM/SIGINT (flush, then die of the same signal unless the app handles it).
 */
export function installLifecycle(sdk: Sdk): void {
  let flushing = false;
  process.on('beforeExit', () => {
    if (flushing) return;
    // The run ends first, so that its span and its metrics go out with this flush.
    const running = runSpan !== undefined || endJobRun !== undefined;
    if (running) endRunSpan(process.exitCode);
    // Metrics: only what changed since the last export, or this would run at every beforeExit.
    const metricsSent = sdk.metrics?.flushChanged();
    if (!running && !sdk.hasPending()) {
      if (metricsSent === undefined) return;
      flushing = true;
      void withinTimeout(metricsSent, SHUTDOWN_TIMEOUT_MS).finally(() => {
        flushing = false;
      });
      return;
    }
    flushing = true;
    void Promise.all([flushWithin(sdk, SHUTDOWN_TIMEOUT_MS), metricsSent && withinTimeout(metricsSent, SHUTDOWN_TIMEOUT_MS)]).finally(() => {
      flushing = false;
    });
  });

  process.on('uncaughtExceptionMonitor', (error) => {
    // Only an exception nobody handles ends the process.
    if (process.listenerCount('uncaughtException') === 0) fatalError = error;
  });

  process.on('exit', (code) => {
    endRunSpan(code);
    sdk.exportPendingSync();
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      const appHandlesIt = process.listenerCount(signal) > 0;
      if (appHandlesIt) {
        void flushWithin(sdk, SHUTDOWN_TIMEOUT_MS);
        return;
      }
      endRunSpan(undefined, signal);
      void flushWithin(sdk, SHUTDOWN_TIMEOUT_MS).finally(() => process.kill(process.pid, signal));
    };
    process.once(signal, onSignal);
  }
}
