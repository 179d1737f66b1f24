// Profiling aid (not part of `pnpm bench`): what the messaging metrics add to one message sent
// and processed through the carrier's policy (spans on in all), against OpenTelemetry's no-op
// meter: with threadline's histograms aggregated in carrier (as register sets it up) and with
// them going through the SDK. `node profile/metrics-record.cjs`
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = require('@opentelemetry/sdk-metrics');
const api = require('@opentelemetry/api');
const { MessagingSpanPolicy, amqpHeadersAdapter, kafkaHeadersAdapter } = require('@threadline/carrier');
const { LocalHistogramProducer } = require('@threadline/register/local-histograms');

const drop = { export(s, d) { d({ code: 0 }); }, shutdown: () => Promise.resolve() };
const tracerProvider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(drop)] });
tracerProvider.register();
const dropMetrics = { export(m, d) { d({ code: 0 }); }, selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE, forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
function meterProvider(local) {
  const producer = local ? new LocalHistogramProducer(undefined) : undefined;
  const provider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: dropMetrics, exportIntervalMillis: 1000, metricProducers: producer ? [producer] : [] })] });
  producer?.adopt(provider);
  return provider;
}
const providers = { sdk: meterProvider(false), local: meterProvider(true) };
const tracer = api.trace.getTracer('bench');
const policy = (meter, pipelineLatency = true) => new MessagingSpanPolicy({ system: 'kafka', getTracer: () => tracer, getConfig: () => ({ pipelineLatency }), getMeter: () => meter });
const off = policy(api.createNoopMeter());
const variants = {
  'histograms in carrier': policy(providers.local.getMeter('bench')),
  'histograms in carrier, pipelineLatency: false': policy(providers.local.getMeter('bench'), false),
  'histograms through the SDK': policy(providers.sdk.getMeter('bench')),
};

function message(p, adapter, carried) {
  const send = p.startSend({ destination: 'orders' });
  const headers = {};
  send.inject(headers, adapter, { sentAt: carried });
  send.end();
  const scope = p.startProcess({ destination: 'orders', carrier: headers, getter: adapter, metrics: { consumerGroup: 'g', brokerTime: carried ? undefined : Date.now() - 3, carriedTime: carried } });
  scope.end();
}

async function cpuPerMessage(fn, n = 200000) {
  for (let i = 0; i < 20000; i++) fn(i);
  await tracerProvider.forceFlush();
  const c = process.cpuUsage();
  for (let i = 0; i < n; i++) { fn(i); if (i % 1000 === 0) await new Promise(setImmediate); }
  await tracerProvider.forceFlush();
  const u = process.cpuUsage(c);
  return (u.user + u.system) / n;
}
(async () => {
  for (let round = 0; round < 2; round++) {
    for (const [shape, adapter, carried] of [['kafka-like', kafkaHeadersAdapter, false], ['rabbitmq-like (sent-at)', amqpHeadersAdapter, true]]) {
      const base = await cpuPerMessage(() => message(off, adapter, carried));
      for (const [label, on] of Object.entries(variants)) {
        const added = (await cpuPerMessage(() => message(on, adapter, carried))) - base;
        console.log(`${shape}, ${label}: ${added.toFixed(2)} µs added (metrics off ${base.toFixed(2)} µs)`);
      }
    }
  }
  await Promise.all(Object.values(providers).map((provider) => provider.shutdown()));
})();
