// Metrics on the real broker: counts match what was sent, the queue time agrees with the
// clocks the fixtures read themselves (threadline-sent-at, else the `timestamp` property),
// bad send times are dropped with a diag message, server-named queues collapse, and with
// metrics off the wire holds the context alone.
import { startCollector, type CollectedMetricPoint, type SpanCollector } from '@threadline/testing';
import { printed, requireRabbitMq, runRole, unique } from './helpers';
import { encode } from './fixtures/lib/codec.cjs';

const SENT_AT = 'threadline-sent-at';
let collector: SpanCollector;

beforeAll(async () => {
  await requireRabbitMq();
  collector = await startCollector();
});
afterAll(() => collector.close());

function one(service: string, name: string, destination: string): CollectedMetricPoint {
  const found = collector
    .latestMetrics()
    .filter((point) => point.serviceName === service && point.name === name && point.attributes['messaging.destination.name'] === destination);
  if (found.length !== 1) throw new Error(`${service} ${name} ${destination}: ${found.length} series\n${JSON.stringify(collector.latestMetrics(), null, 1)}`);
  return found[0];
}
const none = (service: string, name: string) => collector.latestMetrics().filter((point) => point.serviceName === service && point.name === name);
const waitFor = (service: string, name: string) =>
  collector.waitForMetrics((points) => points.some((point) => point.serviceName === service && point.name === name));
const RESOLUTION_S = 0.002;
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
const messages = (count: number, options: (index: number) => object = () => ({})) =>
  encode(Array.from({ length: count }, (_, index) => ({ content: Buffer.from(`m${index}`).toString('base64'), options: options(index) })));

test('threadline-sent-at times each hop; counts match; the pipeline spans both hops', async () => {
  const queue = unique('metrics');
  const next = unique('metrics-next');
  const [producer, relay, last] = ['producer', 'relay', 'last'].map((role) => unique(`m-${role}`));
  const produced = printed((await runRole({ role: 'produce', service: producer, collector, metrics: true, env: { QUEUE: queue, MESSAGES: messages(4) } })).stdout, 'RESULT')[0];
  const relayed = printed((await runRole({ role: 'consume', service: relay, collector, metrics: true, env: { QUEUE: queue, COUNT: '4', FORWARD_QUEUE: next } })).stdout, 'RECEIVED');
  const arrived = printed((await runRole({ role: 'consume', service: last, collector, metrics: true, env: { QUEUE: next, COUNT: '4' } })).stdout, 'RECEIVED');
  await waitFor(last, 'threadline.pipeline.duration');

  expect(one(producer, 'messaging.client.sent.messages', queue)).toMatchObject({
    value: 4,
    scope: '@threadline/amqplib',
    attributes: { 'messaging.system': 'rabbitmq', 'messaging.destination.name': queue, 'messaging.operation.name': 'send' },
  });
  expect(one(producer, 'messaging.client.operation.duration', queue).count).toBe(4);

  // The wire: the context, the tracestate origin and the send time, each message.
  for (const message of relayed) {
    expect(Object.keys(message.properties.headers).sort()).toEqual([SENT_AT, 'traceparent', 'tracestate']);
    expect(message.properties.headers[SENT_AT]).toMatch(/^\d+$/);
    expect(Number(message.properties.headers[SENT_AT])).toBeGreaterThanOrEqual(produced.sentBefore);
    expect(Number(message.properties.headers[SENT_AT])).toBeLessThanOrEqual(produced.sentAfter);
  }
  expect(one(relay, 'messaging.client.consumed.messages', queue).value).toBe(4);
  expect(one(relay, 'messaging.process.duration', queue).count).toBe(4);
  const queueTime = one(relay, 'threadline.messaging.queue.time', queue);
  expect(queueTime.attributes['threadline.time.source']).toBe('carried');
  expect(queueTime.count).toBe(4);
  const sentAt = (message: any) => Number(message.properties.headers[SENT_AT]);
  expect(queueTime.sum!).toBeGreaterThanOrEqual(sum(relayed.map((message) => (message.startedAt - sentAt(message)) / 1000)) - 4 * RESOLUTION_S);
  expect(queueTime.sum!).toBeLessThanOrEqual(sum(relayed.map((message) => (message.receivedAt - sentAt(message)) / 1000)) + 4 * RESOLUTION_S);

  // Second hop: its own send time (the relay's), the pipeline from the producer's first send.
  expect(one(relay, 'messaging.client.sent.messages', next).value).toBe(4);
  expect(one(last, 'messaging.client.consumed.messages', next).value).toBe(4);
  const lastQueue = one(last, 'threadline.messaging.queue.time', next);
  expect(lastQueue.sum!).toBeLessThanOrEqual(sum(arrived.map((message) => (message.receivedAt - sentAt(message)) / 1000)) + 4 * RESOLUTION_S);
  const pipeline = one(last, 'threadline.pipeline.duration', next);
  expect(pipeline.count).toBe(4);
  expect(pipeline.min!).toBeGreaterThanOrEqual((arrived[0].startedAt - produced.sentAfter) / 1000 - RESOLUTION_S);
  expect(pipeline.max!).toBeLessThanOrEqual((Math.max(...arrived.map((message) => message.receivedAt)) - produced.sentBefore) / 1000 + RESOLUTION_S);
  expect(pipeline.min!).toBeGreaterThan(lastQueue.max!);
}, 120_000);

test('metrics off: the headers hold the context alone; a consumer falls back to the timestamp property (seconds), marked broker', async () => {
  const queue = unique('metrics-off');
  const consumer = unique('m-fallback');
  const stamp = Math.floor(Date.now() / 1000) - 3;
  const produced = printed((await runRole({ role: 'produce', service: unique('m-off'), collector, env: { QUEUE: queue, MESSAGES: messages(2, () => ({ timestamp: stamp, headers: { mine: 'x' } })) } })).stdout, 'RESULT')[0];
  const received = printed((await runRole({ role: 'consume', service: consumer, collector, metrics: true, env: { QUEUE: queue, COUNT: '2' } })).stdout, 'RECEIVED');
  for (const message of received) expect(Object.keys(message.properties.headers).sort()).toEqual(['mine', 'traceparent']);
  expect(produced.optionsUnchanged).toEqual([true, true]);
  await waitFor(consumer, 'threadline.messaging.queue.time');
  const queueTime = one(consumer, 'threadline.messaging.queue.time', queue);
  expect(queueTime.attributes['threadline.time.source']).toBe('broker');
  expect(queueTime.count).toBe(2);
  // Seconds resolution: within one second of what the consumer's own clock says.
  expect(queueTime.min!).toBeGreaterThanOrEqual((received[0].startedAt - stamp * 1000) / 1000 - 1);
  expect(queueTime.max!).toBeLessThanOrEqual((Math.max(...received.map((message) => message.receivedAt)) - stamp * 1000) / 1000 + RESOLUTION_S);
  // No tracestate origin was carried: no pipeline duration.
  expect(none(consumer, 'threadline.pipeline.duration')).toEqual([]);
}, 120_000);

test('a garbage or future threadline-sent-at is dropped with a diag message; the message arrives unaltered', async () => {
  const queue = unique('metrics-bad');
  const consumer = unique('m-bad');
  const future = String(Date.now() + 3_600_000);
  const bad = ['soon', future, '-5'];
  await runRole({ role: 'produce', service: unique('m-bad-producer'), loader: 'none', env: { QUEUE: queue, MESSAGES: messages(3, (index) => ({ headers: { [SENT_AT]: bad[index] } })) } });
  const result = await runRole({ role: 'consume', service: consumer, collector, metrics: true, env: { QUEUE: queue, COUNT: '3', OTEL_LOG_LEVEL: 'warn' } });
  const received = printed(result.stdout, 'RECEIVED');
  expect(received.map((message) => message.properties.headers[SENT_AT])).toEqual(bad);
  expect(received.map((message) => Buffer.from(message.content, 'base64').toString())).toEqual(['m0', 'm1', 'm2']);
  for (const kind of ['garbage', 'future', 'negative']) expect(result.stderr).toContain(`threadline.messaging.queue.time: ${kind} timestamp, value dropped`);
  await waitFor(consumer, 'messaging.client.consumed.messages');
  expect(one(consumer, 'messaging.client.consumed.messages', queue).value).toBe(3);
  expect(none(consumer, 'threadline.messaging.queue.time')).toEqual([]);
}, 120_000);

test('a server-named queue (amq.gen-…) is one series, amq.gen-*', async () => {
  const service = unique('m-gen');
  const result = await runRole({ role: 'produce+consume', service, collector, metrics: true, env: { QUEUE: '(server-named)', MESSAGES: messages(2), COUNT: '2' } });
  expect(printed(result.stdout, 'RESULT')[0].queue).toMatch(/^amq\.gen-/);
  await waitFor(service, 'messaging.client.consumed.messages');
  expect(one(service, 'messaging.client.sent.messages', 'amq.gen-*').value).toBe(2);
  expect(one(service, 'messaging.client.consumed.messages', 'amq.gen-*').value).toBe(2);
  expect(collector.latestMetrics().filter((point) => point.serviceName === service && String(point.attributes['messaging.destination.name']).startsWith('amq.gen-') && point.attributes['messaging.destination.name'] !== 'amq.gen-*')).toEqual([]);
}, 120_000);
