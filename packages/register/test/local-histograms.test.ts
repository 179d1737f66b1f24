import { createTraceState, diag, DiagLogLevel, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { DataPointType, MeterProvider, MetricReader, type HistogramMetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { MessagingMetrics, METRIC_OPERATION_DURATION, METRIC_PIPELINE_DURATION, METRIC_PROCESS_DURATION, METRIC_QUEUE_TIME } from '@threadline/carrier';
import { LocalHistogramProducer } from '../src/local-histograms';

class CollectingReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const HISTOGRAMS = [METRIC_OPERATION_DURATION, METRIC_PROCESS_DURATION, METRIC_QUEUE_TIME, METRIC_PIPELINE_DURATION];

function histograms(collected: ResourceMetrics) {
  const found = collected.scopeMetrics.flatMap((scope) => scope.metrics.filter((metric) => HISTOGRAMS.includes(metric.descriptor.name)).map((metric) => ({ scope: scope.scope, metric: metric as HistogramMetricData })));
  return found.map(({ scope, metric }) => ({
    scope: { name: scope.name, version: scope.version },
    name: metric.descriptor.name,
    unit: metric.descriptor.unit,
    description: metric.descriptor.description,
    temporality: metric.aggregationTemporality,
    type: metric.dataPointType,
    points: metric.dataPoints.map((point) => ({ attributes: point.attributes, value: point.value })).sort((a, b) => JSON.stringify(a.attributes).localeCompare(JSON.stringify(b.attributes))),
  }));
}

function setUp() {
  const resource = resourceFromAttributes({ 'service.name': 'local-histograms' });
  const sdkReader = new CollectingReader();
  const sdk = new MeterProvider({ resource, readers: [sdkReader] });
  const producer = new LocalHistogramProducer(resource);
  const localReader = new CollectingReader({ metricProducers: [producer] });
  const local = new MeterProvider({ resource, readers: [localReader] });
  producer.adopt(local);
  return { sdkReader, localReader, producer, viaSdk: new MessagingMetrics(sdk.getMeter('@threadline/test', '1.2.3'), 'kafka'), viaLocal: new MessagingMetrics(local.getMeter('@threadline/test', '1.2.3'), 'kafka') };
}

afterEach(() => jest.restoreAllMocks());
const silent = { error() {}, warn() {}, info() {}, debug() {}, verbose() {} };

test('histograms aggregated in carrier export the same points as the SDK aggregates from the same values, once each', async () => {
  const { sdkReader, localReader, viaSdk, viaLocal } = setUp();
  const now = 1_800_000_000_000;
  jest.spyOn(Date, 'now').mockReturnValue(now);
  let clock = 0;
  jest.spyOn(performance, 'now').mockImplementation(() => clock);
  const origin = (ms: number) => trace.setSpanContext(ROOT_CONTEXT, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, traceState: createTraceState(`threadline=o:${(now - ms).toString(36)}`) });
  // Values on bucket boundaries (upper bounds are inclusive), between them, 0, and past the last.
  const waits = [0, 1, 5, 7, 10, 2500, 86_400_000, 90_000_000];
  const durations = [0, 5, 5.000001, 0.5, 7500, 20_000];
  for (const metrics of [viaSdk, viaLocal]) {
    for (const [index, waited] of waits.entries()) {
      metrics.received(`orders-${index % 2}`, { consumerGroup: 'g', sentAt: now - waited, source: index % 3 === 0 ? 'broker' : 'carried', context: origin(waited * 2) });
    }
    for (const [index, ms] of durations.entries()) {
      const start = metrics.start() + 1;
      clock = start + ms;
      metrics.processed('orders', start, index === 2 ? 'TypeError' : undefined, 'g');
      metrics.sent('orders', 1, start, undefined);
      metrics.operation('orders', 'receive', start, undefined, 'g');
      clock = 0;
    }
  }
  const fromSdk = histograms((await sdkReader.collect()).resourceMetrics);
  const fromLocal = histograms((await localReader.collect()).resourceMetrics);
  expect(fromSdk.map((each) => each.name).sort()).toEqual([...HISTOGRAMS].sort());
  // Each once: the adopted meter created no SDK histogram beside the local one.
  expect(fromLocal.map((each) => each.name).sort()).toEqual([...HISTOGRAMS].sort());
  expect(fromLocal.every((each) => each.type === DataPointType.HISTOGRAM)).toBe(true);
  const byName = (list: typeof fromSdk) => Object.fromEntries(list.map((each) => [each.name, each]));
  expect(byName(fromLocal)).toEqual(byName(fromSdk));
});

test('a collection copies the points: values recorded while an export is under way do not change what it holds', async () => {
  const { localReader, viaLocal } = setUp();
  viaLocal.received('orders', { sentAt: Date.now() - 10 });
  const first = histograms((await localReader.collect()).resourceMetrics).find((each) => each.name === METRIC_QUEUE_TIME)!;
  viaLocal.received('orders', { sentAt: Date.now() - 10 });
  expect(first.points[0]!.value).toMatchObject({ count: 1 });
  const second = histograms((await localReader.collect()).resourceMetrics).find((each) => each.name === METRIC_QUEUE_TIME)!;
  expect(second.points[0]!.value).toMatchObject({ count: 2 });
});

test("a meter of another provider is not adopted: its histograms stay the SDK's", async () => {
  const { sdkReader, viaSdk, producer } = setUp();
  viaSdk.received('orders', { sentAt: Date.now() - 10 });
  expect(producer.scopeMetrics()).toEqual([]);
  expect(histograms((await sdkReader.collect()).resourceMetrics).map((each) => each.name)).toEqual([METRIC_QUEUE_TIME]);
});


test('an adopted histogram keeps at most 2000 attribute sets: the next one is not recorded, with one warning', async () => {
  const { localReader, viaLocal } = setUp();
  const warnings: string[] = [];
  diag.setLogger({ ...silent, warn: (...args: unknown[]) => void warnings.push(args.join(' ')) }, DiagLogLevel.WARN);
  try {
    for (let index = 0; index <= 2000; index++) viaLocal.received(`queue-${index}`, { sentAt: Date.now() - 10 });
  } finally {
    diag.disable();
  }
  const queueTime = histograms((await localReader.collect()).resourceMetrics).find((each) => each.name === METRIC_QUEUE_TIME)!;
  expect(queueTime.points).toHaveLength(2000);
  expect(queueTime.points.some((point) => point.attributes['messaging.destination.name'] === 'queue-2000')).toBe(false);
  expect(warnings.filter((message) => message.includes(`${METRIC_QUEUE_TIME}: more than 2000 attribute sets`))).toHaveLength(1);
});
