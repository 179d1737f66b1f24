import { metrics, type Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricReader,
} from '@opentelemetry/sdk-metrics';

/** One recorded point, flattened: a counter/gauge value or a histogram's count, sum, min and max. */
export interface MetricPoint {
  name: string;
  unit: string;
  scope: string;
  attributes: Attributes;
  value?: number;
  count?: number;
  sum?: number;
  min?: number;
  max?: number;
}

/** A MeterProvider with a reader the test collects from on demand (cumulative), optionally set as the global one. */
export function setupInMemoryMetrics(options: { global?: boolean } = {}) {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // A long interval: the test collects by hand.
  const reader: MetricReader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  if (options.global === true) {
    metrics.disable();
    metrics.setGlobalMeterProvider(meterProvider);
  }
  /** Every point the provider holds now. */
  async function collect(): Promise<MetricPoint[]> {
    const { resourceMetrics } = await reader.collect();
    const points: MetricPoint[] = [];
    for (const scopeMetrics of resourceMetrics.scopeMetrics) {
      for (const metric of scopeMetrics.metrics) {
        for (const point of metric.dataPoints) {
          const base = { name: metric.descriptor.name, unit: metric.descriptor.unit, scope: scopeMetrics.scope.name, attributes: point.attributes };
          if (metric.dataPointType === DataPointType.HISTOGRAM) {
            const value = point.value as { count: number; sum?: number; min?: number; max?: number };
            points.push({ ...base, count: value.count, sum: value.sum, min: value.min, max: value.max });
          } else {
            points.push({ ...base, value: point.value as number });
          }
        }
      }
    }
    return points;
  }
  return { meterProvider, reader, collect };
}
