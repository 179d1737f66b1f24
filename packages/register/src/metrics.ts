import { diag, metrics, type Attributes } from '@opentelemetry/api';
import { millisToHrTime, type ExportResult } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  ConsoleMetricExporter,
  InstrumentType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { exportersNamed, otlpHeaders, otlpProtocol, otlpUrl, postSync, type OtlpProtocol } from './exporters';
import { LocalHistogramProducer } from './local-histograms';

const logger = diag.createComponentLogger({ namespace: '@threadline/register' });

const DEFAULT_INTERVAL_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * What was exported last: the points' values, without their times. A delta collection starts
 * again at each collect, so with times in it no two would ever match and each beforeExit would
 * export again, keeping the loop alive. Points with nothing in them (a delta counter at 0, a
 * delta histogram with no count) are left out for the same reason.
 */
function fingerprint(resourceMetrics: ResourceMetrics): string {
  const parts: unknown[] = [];
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints) {
        if (isEmptyDelta(metric.aggregationTemporality, point.value)) continue;
        parts.push([scope.scope.name, metric.descriptor.name, point.attributes, point.value]);
      }
    }
  }
  return parts.length === 0 ? '' : JSON.stringify(parts);
}

function isEmptyDelta(temporality: AggregationTemporality, value: unknown): boolean {
  if (temporality !== AggregationTemporality.DELTA) return false;
  if (typeof value === 'number') return value === 0;
  return typeof value === 'object' && value !== null && (value as { count?: unknown }).count === 0;
}

/** An exporter that can also send one collection synchronously, from the `exit` event. */
interface ExitSafeMetricExporter extends PushMetricExporter {
  exportSync(resourceMetrics: ResourceMetrics): void;
}

type Temporality = 'cumulative' | 'delta' | 'lowmemory';

function temporalityPreference(env: NodeJS.ProcessEnv): Temporality {
  const raw = (env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE || 'cumulative').trim().toLowerCase();
  if (raw === 'cumulative' || raw === 'delta' || raw === 'lowmemory') return raw;
  throw new Error(`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=${raw} is not one of cumulative, delta, lowmemory`);
}

/** The spec's temporality per instrument kind for each preference (what the OTLP exporters do). */
function temporalitySelector(preference: Temporality): (type: InstrumentType) => AggregationTemporality {
  return (type) => {
    if (preference === 'cumulative') return AggregationTemporality.CUMULATIVE;
    const deltaKinds = preference === 'delta' ? [InstrumentType.COUNTER, InstrumentType.OBSERVABLE_COUNTER, InstrumentType.HISTOGRAM] : [InstrumentType.COUNTER, InstrumentType.HISTOGRAM];
    return deltaKinds.includes(type) ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
  };
}

function loadOtlpMetricExporter(protocol: OtlpProtocol, url: string, headers: Record<string, string>, preference: Temporality): PushMetricExporter {
  const temporalityPreference = { cumulative: 0, delta: 1, lowmemory: 2 }[preference];
  const config = { url, headers, temporalityPreference };
  /* eslint-disable @typescript-eslint/no-require-imports */
  if (protocol === 'http/json') return new (require('@opentelemetry/exporter-metrics-otlp-http').OTLPMetricExporter)(config);
  if (protocol === 'http/protobuf') return new (require('@opentelemetry/exporter-metrics-otlp-proto').OTLPMetricExporter)(config);
  return new (require(require.resolve('@opentelemetry/exporter-metrics-otlp-grpc', { paths: [__dirname, process.cwd()] })).OTLPMetricExporter)({ temporalityPreference });
  /* eslint-enable @typescript-eslint/no-require-imports */
}

/** OTLP metrics: the exporter module loads at the first export, off the app's start-up path. */
class OtlpMetricExporter implements ExitSafeMetricExporter {
  private inner: PushMetricExporter | undefined;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly protocol: OtlpProtocol;
  readonly selectAggregationTemporality: (type: InstrumentType) => AggregationTemporality;
  private readonly preference: Temporality;

  constructor(env: NodeJS.ProcessEnv) {
    this.protocol = otlpProtocol(env, 'METRICS');
    this.url = otlpUrl(env, 'METRICS', 'metrics');
    this.headers = otlpHeaders(env, 'METRICS');
    this.preference = temporalityPreference(env);
    this.selectAggregationTemporality = temporalitySelector(this.preference);
    if (this.protocol === 'grpc') {
      try {
        require.resolve('@opentelemetry/exporter-metrics-otlp-grpc', { paths: [__dirname, process.cwd()] });
      } catch {
        throw new Error('OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=grpc needs @opentelemetry/exporter-metrics-otlp-grpc installed next to the app');
      }
    }
  }

  private get exporter(): PushMetricExporter {
    this.inner ??= loadOtlpMetricExporter(this.protocol, this.url, this.headers, this.preference);
    return this.inner;
  }

  export(resourceMetrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this.exporter.export(resourceMetrics, done);
  }

  exportSync(resourceMetrics: ResourceMetrics): void {
    if (this.protocol === 'grpc') {
      logger.warn('metrics recorded since the last export cannot be sent synchronously over grpc at exit');
      return;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { JsonMetricsSerializer, ProtobufMetricsSerializer } = require('@opentelemetry/otlp-transformer');
    const json = this.protocol === 'http/json';
    const body = (json ? JsonMetricsSerializer : ProtobufMetricsSerializer).serializeRequest(resourceMetrics) as Uint8Array | undefined;
    if (body) postSync(this.url, this.headers, json ? 'application/json' : 'application/x-protobuf', body, 'metrics');
  }

  forceFlush(): Promise<void> {
    return this.inner?.forceFlush() ?? Promise.resolve();
  }

  shutdown(): Promise<void> {
    return this.inner?.shutdown() ?? Promise.resolve();
  }
}

class ConsoleExporter implements ExitSafeMetricExporter {
  private readonly inner = new ConsoleMetricExporter();
  readonly selectAggregationTemporality = (type: InstrumentType) => this.inner.selectAggregationTemporality(type);
  export(resourceMetrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this.inner.export(resourceMetrics, done);
  }
  exportSync(resourceMetrics: ResourceMetrics): void {
    this.inner.export(resourceMetrics, () => {});
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** The exporters OTEL_METRICS_EXPORTER names (otlp, console, none); otlp when unset, as for traces. */
function metricExportersFromEnv(env: NodeJS.ProcessEnv): ExitSafeMetricExporter[] {
  return exportersNamed<ExitSafeMetricExporter>(env, 'OTEL_METRICS_EXPORTER', { otlp: () => new OtlpMetricExporter(env), console: () => new ConsoleExporter() });
}

function positiveMs(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (Number.isFinite(value) && value > 0) return value;
  logger.warn(`${name}=${raw} is not a positive number of milliseconds; using ${fallback}`);
  return fallback;
}

/**
 * One reader and its exporter, remembering what it last sent, so that the ends of the process
 * send only what changed since (and `beforeExit` does not loop on an unchanged collection).
 */
class ExitSafeReader {
  readonly reader: PeriodicExportingMetricReader;
  private lastSent = '';

  constructor(
    readonly exporter: ExitSafeMetricExporter,
    intervalMs: number,
    timeoutMs: number,
    private readonly local: LocalHistogramProducer | undefined,
  ) {
    const remember = (resourceMetrics: ResourceMetrics, result: ExportResult) => {
      if (result.code === 0) this.lastSent = fingerprint(resourceMetrics);
    };
    const wrapped: PushMetricExporter = {
      export: (resourceMetrics, done) =>
        exporter.export(resourceMetrics, (result) => {
          remember(resourceMetrics, result);
          done(result);
        }),
      forceFlush: () => exporter.forceFlush(),
      shutdown: () => exporter.shutdown(),
      selectAggregationTemporality: exporter.selectAggregationTemporality?.bind(exporter),
    };
    this.reader = new PeriodicExportingMetricReader({ exporter: wrapped, exportIntervalMillis: intervalMs, exportTimeoutMillis: Math.min(timeoutMs, intervalMs), metricProducers: local ? [local] : [] });
  }

  /** What changed since the last export, collected now; undefined when nothing did. */
  changed(provider: MeterProvider): ResourceMetrics | undefined {
    const collected = collectSync(provider, this.reader, this.local);
    if (collected === undefined) return undefined;
    const print = fingerprint(collected);
    return print === '' || print === this.lastSent ? undefined : collected;
  }

  markSent(resourceMetrics: ResourceMetrics): void {
    this.lastSent = fingerprint(resourceMetrics);
  }
}

// The SDK's own state, as sdk-metrics ~2.12 holds it. Its collect() is async even for
// synchronous instruments, and the `exit` event runs no more microtasks; these storages are
// read synchronously instead. A change of shape is caught and logged, never thrown.
interface SdkObservable {
  callback: (result: { observe(value: number, attributes?: Attributes): void }) => unknown;
  instrument: { _metricStorages: { record(measurements: Map<Attributes, number>, time: unknown): void }[] };
}
interface SdkInternals {
  _sharedState: {
    resource: Resource;
    metricCollectors: { _metricReader: unknown }[];
    meterSharedStates: Map<
      string,
      {
        _instrumentationScope: ResourceMetrics['scopeMetrics'][number]['scope'];
        metricStorageRegistry: { getStorages(collector: unknown): { collect(collector: unknown, time: unknown): unknown }[] };
        observableRegistry: { _callbacks: SdkObservable[] };
      }
    >;
  };
}

/**
 * Runs the observable callbacks synchronously, as the SDK's own observe() does before each
 * collection (the transports count messages through asynchronous counters). A callback that
 * returns a promise has nothing to give synchronously: its last observation stands.
 */
function observeSync(callbacks: SdkObservable[], time: unknown): void {
  for (const { callback, instrument } of callbacks) {
    const buffer = new Map<Attributes, number>();
    let pending = false;
    try {
      const returned = callback({ observe: (value, attributes = {}) => void buffer.set(attributes, value) });
      pending = typeof (returned as { then?: unknown } | undefined)?.then === 'function';
    } catch (error) {
      logger.debug('an observable callback threw at exit', error);
      continue;
    }
    if (!pending) for (const storage of instrument._metricStorages) storage.record(buffer, time);
  }
}

/** The reader's collection, synchronously (observable instruments keep their last observation). */
export function collectSync(provider: MeterProvider, reader: PeriodicExportingMetricReader, local?: LocalHistogramProducer): ResourceMetrics | undefined {
  try {
    const shared = (provider as unknown as SdkInternals)._sharedState;
    const collector = shared.metricCollectors.find((candidate) => candidate._metricReader === reader);
    if (collector === undefined) return undefined;
    const time = millisToHrTime(Date.now());
    const scopeMetrics: ResourceMetrics['scopeMetrics'] = [];
    for (const meter of shared.meterSharedStates.values()) observeSync(meter.observableRegistry._callbacks, time);
    for (const meter of shared.meterSharedStates.values()) {
      const data = meter.metricStorageRegistry
        .getStorages(collector)
        .map((storage) => storage.collect(collector, time))
        .filter((metric) => metric !== null && metric !== undefined);
      if (data.length > 0) scopeMetrics.push({ scope: meter._instrumentationScope, metrics: data as ResourceMetrics['scopeMetrics'][number]['metrics'] });
    }
    if (local !== undefined) scopeMetrics.push(...local.scopeMetrics());
    return { resource: shared.resource, scopeMetrics };
  } catch (error) {
    logger.warn('could not collect metrics synchronously at exit; those recorded since the last export are lost', error);
    return undefined;
  }
}

export interface MetricsSdk {
  provider: MeterProvider;
  /** Exports what changed since the last export; undefined when nothing did (so `beforeExit` can stop). */
  flushChanged(): Promise<void> | undefined;
  flush(): Promise<void>;
  /** Sends what changed since the last export, synchronously. For the `exit` event only. */
  exportPendingSync(): void;
}

/**
 * A MeterProvider built from OTEL_METRICS_EXPORTER and the OTLP variables, set as the global
 * one; undefined for `none` (then no MeterProvider is set and the transports record nothing).
 */
export function startMetrics(env: NodeJS.ProcessEnv, resource: Resource): MetricsSdk | undefined {
  const exporters = metricExportersFromEnv(env);
  if (exporters.length === 0) return undefined;
  const interval = positiveMs(env.OTEL_METRIC_EXPORT_INTERVAL, DEFAULT_INTERVAL_MS, 'OTEL_METRIC_EXPORT_INTERVAL');
  const timeout = positiveMs(env.OTEL_METRIC_EXPORT_TIMEOUT, DEFAULT_TIMEOUT_MS, 'OTEL_METRIC_EXPORT_TIMEOUT');
  // threadline's histograms are aggregated in carrier when every reader wants them cumulative
  // (the default); a delta preference keeps them in the SDK, which resets them per collection.
  const cumulative = exporters.every((exporter) => (exporter.selectAggregationTemporality?.(InstrumentType.HISTOGRAM) ?? AggregationTemporality.CUMULATIVE) === AggregationTemporality.CUMULATIVE);
  const local = cumulative ? new LocalHistogramProducer(resource) : undefined;
  const readers = exporters.map((exporter) => new ExitSafeReader(exporter, interval, timeout, local));
  const provider = new MeterProvider({ resource, readers: readers.map((each) => each.reader) });
  local?.adopt(provider);
  metrics.setGlobalMeterProvider(provider);
  return {
    provider,
    flushChanged() {
      const exports: Promise<void>[] = [];
      for (const each of readers) {
        const changed = each.changed(provider);
        if (changed === undefined) continue;
        exports.push(
          new Promise<void>((resolve) => {
            // Marked before the outcome is known: a failed export (no collector) is logged, not
            // retried at the next beforeExit, which would keep the process alive for good.
            each.markSent(changed);
            each.exporter.export(changed, (result) => {
              if (result.code !== 0) logger.warn('metric export failed', result.error);
              resolve();
            });
          }),
        );
      }
      return exports.length === 0 ? undefined : Promise.all(exports).then(() => undefined);
    },
    flush: () => provider.forceFlush(),
    exportPendingSync() {
      for (const each of readers) {
        const changed = each.changed(provider);
        if (changed === undefined) continue;
        each.markSent(changed);
        each.exporter.exportSync(changed);
      }
    },
  };
}
