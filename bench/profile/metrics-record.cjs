// Profiling aid (not part of `pnpm bench`): what the messaging metrics add to one message sent
// and processed through the carrier's policy (spans on in both), with an SDK MeterProvider
// against OpenTelemetry's no-op meter. `node profile/metrics-record.cjs`
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = require('@opentelemetry/sdk-metrics');
const api = require('@opentelemetry/api');
const { MessagingSpanPolicy, amqpHeadersAdapter, kafkaHeadersAdapter } = require('@threadline/carrier');

const drop = { export(s, d) { d({ code: 0 }); }, shutdown: () => Promise.resolve() };
const tracerProvider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(drop)] });
tracerProvider.register();
const dropMetrics = { export(m, d) { d({ code: 0 }); }, selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE, forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: dropMetrics, exportIntervalMillis: 1000 })] });
const tracer = api.trace.getTracer('bench');
const policy = (meter) => new MessagingSpanPolicy({ system: 'kafka', getTracer: () => tracer, getConfig: () => ({}), getMeter: () => meter });
const off = policy(api.createNoopMeter());
const on = policy(meterProvider.getMeter('bench'));

function message(p, adapter, carried) {
  const send = p.startSend({ destination: 'orders' });
  const headers = {};
  send.inject(headers, adapter, { sentAt: carried });
  send.end();
  const scope = p.startProcess({ destination: 'orders', carrier: headers, getter: adapter, metrics: { consumerGroup: 'g', brokerTime: carried ? undefined : Date.now() - 3, carriedTime: carried } });
  scope.end();
}

async function run(label, fn, n = 200000) {
  for (let i = 0; i < 20000; i++) fn(i);
  await tracerProvider.forceFlush();
  const c = process.cpuUsage();
  for (let i = 0; i < n; i++) { fn(i); if (i % 1000 === 0) await new Promise(setImmediate); }
  await tracerProvider.forceFlush();
  const u = process.cpuUsage(c);
  const micros = (u.user + u.system) / n;
  console.log(label.padEnd(40), micros.toFixed(2), 'µs cpu/message');
  return micros;
}
(async () => {
  for (let round = 0; round < 2; round++) {
    const kOff = await run('kafka-like, metrics off', () => message(off, kafkaHeadersAdapter, false));
    const kOn = await run('kafka-like, metrics on', () => message(on, kafkaHeadersAdapter, false));
    const aOff = await run('rabbitmq-like (sent-at), metrics off', () => message(off, amqpHeadersAdapter, true));
    const aOn = await run('rabbitmq-like (sent-at), metrics on', () => message(on, amqpHeadersAdapter, true));
    console.log(`added: kafka-like ${(kOn - kOff).toFixed(2)} µs, rabbitmq-like ${(aOn - aOff).toFixed(2)} µs`);
  }
  await meterProvider.shutdown();
})();
