import { ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { defaultResource, detectResources, envDetector } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { exportersFromEnv, type ExitSafeExporter } from './exporters';
import { startMetrics, type MetricsSdk } from './metrics';
import { propagatorFromEnv } from './propagators';

/**
 * Async-local context whose empty state is the process's own context (the trace it was started
 * in through TRACEPARENT), so top-level code, timers and promise chains all join that trace.
 */
export class ProcessContextManager extends AsyncLocalStorageContextManager {
  processContext: Context = ROOT_CONTEXT;

  override active(): Context {
    const active = super.active();
    return active === ROOT_CONTEXT ? this.processContext : active;
  }
}

/** Ended spans not yet handed to an exporter, so that the `exit` event can still send them. */
const MAX_PENDING = 4096;

class ExitSafeProcessor implements SpanProcessor {
  readonly pending = new Set<ReadableSpan>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly batch: BatchSpanProcessor;

  constructor(readonly exporter: ExitSafeExporter) {
    const { pending, inFlight } = this;
    this.batch = new BatchSpanProcessor({
      export(spans, done) {
        // Spans stay pending until their export has finished, so that an export still in flight
        // when process.exit() ends the process is sent again synchronously rather than lost.
        let settle = () => {};
        const exported = new Promise<void>((resolve) => (settle = resolve));
        inFlight.add(exported);
        exporter.export(spans, (result) => {
          for (const span of spans) pending.delete(span);
          inFlight.delete(exported);
          settle();
          done(result);
        });
      },
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    });
  }

  onStart(span: Span, parentContext: Context): void {
    this.batch.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    if (span.spanContext().traceFlags & 1) {
      // The batch processor drops spans when its queue is full; never let this set outgrow it.
      if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.values().next().value as ReadableSpan);
      this.pending.add(span);
    }
    this.batch.onEnd(span);
  }

  /** Sends what is buffered and waits for every export already on its way. */
  async forceFlush(): Promise<void> {
    await this.batch.forceFlush();
    await Promise.all(this.inFlight);
  }

  shutdown(): Promise<void> {
    return this.batch.shutdown();
  }

  /** Sends what is still buffered, synchronously. For the `exit` event only. */
  exportPendingSync(): void {
    if (this.pending.size === 0) return;
    const spans = [...this.pending];
    this.pending.clear();
    this.exporter.exportSync(spans);
  }
}

export interface Sdk {
  provider: NodeTracerProvider;
  /** Undefined for OTEL_METRICS_EXPORTER=none. */
  metrics: MetricsSdk | undefined;
  contextManager: ProcessContextManager;
  hasPending(): boolean;
  flush(): Promise<void>;
  exportPendingSync(): void;
}

/** A tracer provider built from the standard OTEL_* environment and registered globally. */
export function startSdk(env: NodeJS.ProcessEnv): Sdk {
  const processors = exportersFromEnv(env).map((exporter) => new ExitSafeProcessor(exporter));
  const resource = defaultResource().merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: processors });
  const contextManager = new ProcessContextManager();
  provider.register({ contextManager, propagator: propagatorFromEnv(env) });
  // Set globally before any transport is constructed: each takes its meter at construction.
  const metrics = startMetrics(env, resource);
  return {
    provider,
    metrics,
    contextManager,
    hasPending: () => processors.some((processor) => processor.pending.size > 0),
    flush: () => Promise.all([provider.forceFlush(), metrics?.flush()]).then(() => undefined),
    exportPendingSync: () => {
      processors.forEach((processor) => processor.exportPendingSync());
      metrics?.exportPendingSync();
    },
  };
}
