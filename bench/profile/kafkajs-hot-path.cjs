// Broker-free profiling harness (not part of `pnpm bench`): drives the kafkajs instrumentation's send and
// eachMessage wrappers directly, to see threadline's own CPU per message without the broker's noise.
// `node profile/kafkajs-hot-path.cjs none|propagation-only|threadline [rounds of 100 messages]`; add
// `--cpu-prof` to profile. It reaches private methods on purpose: measuring them is its whole job.
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const api = require('@opentelemetry/api');
const drop = { export(s, d) { d({ code: 0 }); }, shutdown: () => Promise.resolve() };
const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(drop)] });
provider.register();
const tracer = api.trace.getTracer('bench');
const { KafkaJsInstrumentation } = require('@threadline/kafkajs');
const variant = process.argv[2] ?? 'threadline';
const PAYLOAD = Buffer.alloc(1024, 'x');
const endpoint = { attributes: { 'server.address': '127.0.0.1', 'server.port': 9092, 'messaging.client.id': 'bench' }, groupId: 'g' };
let delivered = [];
const rawSend = async (record) => { delivered = record.messages; return []; };
const rawEach = async ({ message }) => { if (message.value.length !== 1024) throw new Error('x'); };
let send = rawSend, each = rawEach;
if (variant !== 'none') {
  const instr = new KafkaJsInstrumentation(variant === 'propagation-only' ? { mode: 'propagation-only' } : {});
  instr.setTracerProvider(provider);
  send = instr.wrapSend(rawSend, endpoint);
  each = instr.wrapEachMessage(rawEach, endpoint);
}
function asReceived(m, i) {
  const headers = {};
  for (const [k, v] of Object.entries(m.headers)) headers[k] = Buffer.from(v);
  return { topic: 't', partition: 0, message: { key: Buffer.from(m.key), value: m.value, headers, offset: String(i), timestamp: '1' } };
}
async function round(base) {
  const batch = Array.from({ length: 100 }, (_, i) => ({ key: String(base + i), value: PAYLOAD, headers: { app: 'bench' } }));
  await tracer.startActiveSpan('request', async (span) => { try { await send({ topic: 't', messages: batch }); } finally { span.end(); } });
  const received = delivered.map(asReceived);
  const c = process.cpuUsage();
  for (const p of received) await each(p);
  return process.cpuUsage(c);
}
(async () => {
  for (let i = 0; i < 300; i++) await round(i * 100);
  const rounds = Number(process.argv[3] ?? 1000);
  const c = process.cpuUsage();
  let consumeCpu = 0;
  for (let i = 0; i < rounds; i++) { const u = await round(i * 100); consumeCpu += u.user + u.system; }
  await provider.forceFlush();
  const u = process.cpuUsage(c);
  const total = (u.user + u.system) / (rounds * 100);
  console.log(variant.padEnd(17), 'total µs/msg', total.toFixed(2), 'consume µs/msg', (consumeCpu / rounds / 100).toFixed(2));
})();
