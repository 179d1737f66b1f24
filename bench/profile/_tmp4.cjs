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
const benchMeter = meterProvider.getMeter('bench'); if (process.env.LOCAL) require('@threadline/carrier').aggregateHistogramsLocally(benchMeter, { name: 'bench' }, {});
const on = policy(benchMeter);
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
  return (u.user + u.system) / n;
}
(async () => {
  for (let round = 0; round < 3; round++) {
    const kOff = await run('k off', () => message(off, kafkaHeadersAdapter, false));
    const kOn = await run('k on', () => message(on, kafkaHeadersAdapter, false));
    const aOff = await run('a off', () => message(off, amqpHeadersAdapter, true));
    const aOn = await run('a on', () => message(on, amqpHeadersAdapter, true));
    console.log(`${process.env.LOCAL ? 'local' : 'sdk  '} added: kafka-like ${(kOn - kOff).toFixed(2)} µs, rabbitmq-like ${(aOn - aOff).toFixed(2)} µs (off ${kOff.toFixed(2)})`);
  }
  await meterProvider.shutdown();
})();
