import { ValueType } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type CollectionResult, type MeterProvider, type MetricProducer, type ScopeMetrics } from '@opentelemetry/sdk-metrics';

// Loaded at the first meter handed out, not at start: the register hook loads no transport code
// until the app needs it (test/lazy.test.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const carrier = (): typeof import('@threadline/carrier') => require('@threadline/carrier');

/**
 * threadline's histograms, aggregated by the transports in this process (a map lookup per value
 * instead of the SDK's attribute hashing) and reported here at each collection, in the SDK's
 * own shape: cumulative explicit-bucket histograms of the meters this provider handed out.
 */
export class LocalHistogramProducer implements MetricProducer {
  private adopted = false;

  constructor(private readonly resource: Resource) {}

  /** Every meter `provider` hands out from now on is adopted: its threadline histograms come here. */
  adopt(provider: MeterProvider): void {
    const getMeter = provider.getMeter.bind(provider);
    provider.getMeter = (name, version = '', options = {}) => {
      const meter = getMeter(name, version, options);
      carrier().aggregateHistogramsLocally(meter, { name, version, schemaUrl: options.schemaUrl }, this);
      this.adopted = true;
      return meter;
    };
  }

  collect(): Promise<CollectionResult> {
    return Promise.resolve({ resourceMetrics: { resource: this.resource, scopeMetrics: this.scopeMetrics() }, errors: [] });
  }

  /** What has been recorded so far, copied (recording goes on while an export serializes it). */
  scopeMetrics(endMs: number = Date.now()): ScopeMetrics[] {
    const endTime = millisToHrTime(endMs);
    const result: ScopeMetrics[] = [];
    if (!this.adopted) return result;
    for (const { scope, histograms } of carrier().localHistogramScopes(this)) {
      const metrics: ScopeMetrics['metrics'] = [];
      for (const histogram of histograms) {
        if (histogram.points.series.size === 0) continue;
        const boundaries = [...histogram.boundaries];
        metrics.push({
          descriptor: { name: histogram.name, description: histogram.description, unit: histogram.unit, valueType: ValueType.DOUBLE },
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.HISTOGRAM,
          dataPoints: [...histogram.points.series.values()].map((point) => ({
            attributes: point.attributes,
            startTime: millisToHrTime(point.startTimeMs),
            endTime,
            value: { min: point.min, max: point.max, sum: point.sum, count: point.count, buckets: { boundaries, counts: [...point.counts] } },
          })),
        });
      }
      if (metrics.length > 0) result.push({ scope: { name: scope.name, version: scope.version, schemaUrl: scope.schemaUrl }, metrics });
    }
    return result;
  }
}
