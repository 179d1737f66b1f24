// Profiling aid (not part of `pnpm bench`): the floor under the messaging metrics, one SDK
// Histogram.record with a cached four-attribute set and nothing of threadline's around it.
// `node profile/histogram-record.cjs`
const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = require('@opentelemetry/sdk-metrics');

const drop = { export: (_metrics, done) => done({ code: 0 }), forceFlush: async () => {}, shutdown: async () => {}, selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE };
const provider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: drop, exportIntervalMillis: 1000 })] });
const histogram = provider.getMeter('floor').createHistogram('floor', { unit: 's' });
const attributes = { 'messaging.system': 'kafka', 'messaging.destination.name': 'orders', 'messaging.operation.name': 'process', 'messaging.consumer.group.name': 'group' };

const N = 1_000_000;
for (let i = 0; i < N / 5; i++) histogram.record(i / 1e6, attributes);
const before = process.cpuUsage();
for (let i = 0; i < N; i++) histogram.record(i / 1e6, attributes);
const used = process.cpuUsage(before);
process.stdout.write(`one Histogram.record: ${((used.user + used.system) / N).toFixed(2)} µs cpu\n`);
process.exit(0);
