// The same SDK set-up for every variant: BatchSpanProcessor and an exporter that drops spans.
// BENCH_VARIANT picks what is instrumented: none | wire-context (none, but the app writes a fixed
// context on every message) | threadline | propagation-only | no-follow (threadline with
// followPulls off) | upstream | metrics (threadline with an SDK MeterProvider: the messaging
// metrics recorded, exported every second to an exporter that drops them).
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');

const dropExporter = {
  export(spans, done) {
    done({ code: 0 });
  },
  shutdown: () => Promise.resolve(),
};
const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropExporter)] });
provider.register();

const THREADLINE = {
  kafkajs: () => new (require('@threadline/kafkajs').KafkaJsInstrumentation)(config()),
  'platformatic-kafka': () => new (require('@threadline/platformatic-kafka').PlatformaticKafkaInstrumentation)(config()),
  'confluent-kafka': () => new (require('@threadline/kafkajs').ConfluentKafkaInstrumentation)(config()),
  amqplib: () => new (require('@threadline/amqplib').AmqplibInstrumentation)(config()),
  sqs: () => new (require('@threadline/sqs').SqsInstrumentation)(config()),
  mongodb: () =>
    new (require('@threadline/mongodb-queue').MongoQueueInstrumentation)({ ...config(), collections: ['bench.queue'] }),
};
const UPSTREAM = {
  kafkajs: () => new (require('@opentelemetry/instrumentation-kafkajs').KafkaJsInstrumentation)(),
  amqplib: () => new (require('@opentelemetry/instrumentation-amqplib').AmqplibInstrumentation)(),
  sqs: () => new (require('@opentelemetry/instrumentation-aws-sdk').AwsInstrumentation)(),
};

function config() {
  if (process.env.BENCH_VARIANT === 'propagation-only') return { mode: 'propagation-only' };
  // The pull benchmarks' baseline: threadline's spans, without following the work.
  if (process.env.BENCH_VARIANT === 'no-follow') return { followPulls: false };
  return {};
}

const variant = process.env.BENCH_VARIANT;
const transport = process.env.BENCH_TRANSPORT;
let instrumentation;
let meterProvider;
// `metrics-no-pipeline`: as `metrics`, with `pipelineLatency: false` (no tracestate entry on the wire).
if (variant === 'metrics-no-pipeline') process.env.THREADLINE_PIPELINE_LATENCY = 'false';
if (variant === 'metrics' || variant === 'metrics-sdk' || variant === 'metrics-no-pipeline') {
  const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = require('@opentelemetry/sdk-metrics');
  const dropMetrics = {
    export(_metrics, done) {
      done({ code: 0 });
    },
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  // `metrics` as register sets it up (histograms aggregated by threadline, handed to the reader);
  // `metrics-sdk` a MeterProvider of the user's own that threadline's histograms go through.
  const { LocalHistogramProducer } = require('@threadline/register/local-histograms');
  const producer = variant === 'metrics-sdk' ? undefined : new LocalHistogramProducer(undefined);
  meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: dropMetrics, exportIntervalMillis: 1000, metricProducers: producer ? [producer] : [] })] });
  producer?.adopt(meterProvider);
  require('@opentelemetry/api').metrics.setGlobalMeterProvider(meterProvider);
  instrumentation = THREADLINE[transport]();
} else if (variant === 'threadline' || variant === 'propagation-only' || variant === 'no-follow') instrumentation = THREADLINE[transport]();
else if (variant === 'upstream') instrumentation = UPSTREAM[transport]();
else if (variant !== 'none' && variant !== 'wire-context') throw new Error(`unknown BENCH_VARIANT ${variant}`);
if (instrumentation) registerInstrumentations({ instrumentations: [instrumentation], tracerProvider: provider, meterProvider });

globalThis.__benchFlush = () => Promise.all([provider.forceFlush(), meterProvider?.forceFlush()]);
