// Profiling aid (not part of `pnpm bench`): the SDK's own cost of one CONSUMER span with ten
// attributes, started and ended through a BatchSpanProcessor, with no messaging around it. The
// floor under any instrumentation that makes one span per message. `node profile/sdk-span.cjs`
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const api = require('@opentelemetry/api');
const drop = { export(s, d) { d({ code: 0 }); }, shutdown: () => Promise.resolve() };
const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(drop)] });
provider.register();
const tracer = api.trace.getTracer('x');
const parent = api.trace.setSpanContext(api.ROOT_CONTEXT, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 });
function attrs(i) { return { 'messaging.system': 'kafka', 'messaging.destination.name': 'bench', 'messaging.operation.type': 'process', 'messaging.operation.name': 'process', 'server.address': '127.0.0.1', 'server.port': 9092, 'messaging.consumer.group.name': 'g', 'messaging.destination.partition.id': '0', 'messaging.kafka.offset': i, 'messaging.message.body.size': 1024 }; }
async function run(label, fn, n = 200000) {
  for (let i = 0; i < 20000; i++) fn(i);
  await provider.forceFlush();
  const c = process.cpuUsage(); const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) { fn(i); if (i % 1000 === 0) await new Promise(setImmediate); }
  await provider.forceFlush();
  const u = process.cpuUsage(c);
  console.log(label, ((u.user + u.system) / n).toFixed(2), 'µs cpu/op', (Number(process.hrtime.bigint() - t) / n / 1000).toFixed(2), 'µs wall');
}
(async () => {
  await run('noop', (i) => i);
  await run('span+10attrs+end', (i) => tracer.startSpan('process bench', { kind: 4, attributes: attrs(i) }, parent).end());
  await run('span noattrs', (i) => tracer.startSpan('process bench', { kind: 4 }, parent).end());
  await run('span + context.with', (i) => { const s = tracer.startSpan('process bench', { kind: 4, attributes: attrs(i) }, parent); api.context.with(api.trace.setSpan(parent, s), () => i); s.end(); });
})();
