// api: takes orders over HTTP and puts them on the Kafka topic `orders`.
// threadline's kafkajs instrumentation puts the trace context into each message's headers.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const kafka = new Kafka({
  clientId: 'api',
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  logLevel: logLevel.WARN,
});
const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
const tracer = trace.getTracer('order-pipeline-api');

const admin = kafka.admin();
await admin.connect();
if (!(await admin.listTopics()).includes('orders')) await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 1 }] });
await admin.disconnect();
await producer.connect();

async function readJson(request) {
  let body = '';
  for await (const chunk of request) body += chunk;
  return JSON.parse(body || '{}');
}

const server = createServer((request, response) => {
  if (request.method !== 'POST' || request.url !== '/orders') {
    response.writeHead(404).end();
    return;
  }
  // threadline loads no HTTP instrumentation, so the request span is made here; everything
  // started inside it (the Kafka send) becomes its child.
  tracer.startActiveSpan('POST /orders', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'POST', 'http.route': '/orders' } }, async (span) => {
    try {
      const order = { id: randomBytes(4).toString('hex'), ...(await readJson(request)), createdAt: new Date().toISOString() };
      span.setAttribute('order.id', order.id);
      await producer.send({ topic: 'orders', messages: [{ key: order.id, value: JSON.stringify(order) }] });
      console.log(`order ${order.id} accepted: ${order.quantity} × ${order.item}`);
      response.writeHead(202, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ orderId: order.id, traceId: span.spanContext().traceId }));
    } catch (error) {
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: error.message }));
    } finally {
      span.setAttribute('http.response.status_code', response.statusCode);
      span.end();
    }
  });
});

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`api ready on http://127.0.0.1:${server.address().port}`);
});

async function shutdown() {
  server.close();
  await producer.disconnect();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
