// Metrics on the real broker: counts match what was sent, times agree with the clocks the
// fixtures read themselves, bad record timestamps are dropped, and with metrics off the wire is
// exactly as before.
import { startCollector, type CollectedMetricPoint, type SpanCollector } from '@threadline/testing';
import { CONFLUENT_KAFKA_SCOPE_NAME } from '../src';
import { CONFLUENT_NEWEST, createTopics, deleteCreatedTopics, runApp, uniqueGroup, uniqueTopic, V1, V2, type KafkaJsVersion } from './kafka';

let collector: SpanCollector;

beforeAll(async () => {
  collector = await startCollector();
});
afterAll(async () => {
  await collector.close();
  await deleteCreatedTopics();
});

const SCOPE = '@threadline/kafkajs';
/** The newest point of each series `name` that `service` exported for `topic`. */
function series(service: string, name: string, topic: string): CollectedMetricPoint[] {
  return collector
    .latestMetrics()
    .filter((point) => point.serviceName === service && point.name === name && point.attributes['messaging.destination.name'] === topic);
}
const one = (service: string, name: string, topic: string) => {
  const found = series(service, name, topic);
  if (found.length !== 1) throw new Error(`${service} ${name} ${topic}: ${found.length} series\n${JSON.stringify(collector.latestMetrics(), null, 1)}`);
  return found[0];
};
// The clock's resolution: Date.now() is in whole milliseconds, on both sides of each difference.
const RESOLUTION_S = 0.002;
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

describe.each([
  [V2.label, V2],
  [V1.label, V1],
])('%s', (_label: string, version: KafkaJsVersion) => {
  const tag = version === V2 ? 'v2' : 'v1';
  test('counts, queue time and pipeline duration across two hops; lag per partition', async () => {
    const first = uniqueTopic(`metrics-a-${tag}`);
    const second = uniqueTopic(`metrics-b-${tag}`);
    await createTopics([first, second]);
    const common = { app: 'cjs' as const, version, collector, metrics: true };
    const produced = await runApp({
      ...common,
      service: `m-${tag}-producer`,
      scenario: {
        role: 'produce',
        sends: [
          { topic: first, messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] },
          { topic: first, messages: [{ value: 'd' }, { value: 'e' }] },
        ],
      },
    });
    const hop = await runApp({
      ...common,
      service: `m-${tag}-hop`,
      scenario: { role: 'consume', topic: first, groupId: uniqueGroup(`metrics-hop-${tag}`), count: 5, forwardTo: second },
    });
    const last = await runApp({
      ...common,
      service: `m-${tag}-last`,
      scenario: { role: 'consume', handler: 'batch', topic: second, groupId: uniqueGroup(`metrics-last-${tag}`), count: 5 },
      env: { THREADLINE_FOLLOW_PULLS: 'false' },
    });
    await collector.waitForMetrics((points) =>
      points.some((point) => point.serviceName === `m-${tag}-last` && point.name === 'threadline.pipeline.duration'),
    );

    // Producer: 5 messages in 2 send calls.
    const sent = one(`m-${tag}-producer`, 'messaging.client.sent.messages', first);
    expect(sent).toMatchObject({ value: 5, scope: SCOPE, unit: '{message}' });
    expect(sent.attributes).toEqual({ 'messaging.system': 'kafka', 'messaging.destination.name': first, 'messaging.operation.name': 'send' });
    expect(one(`m-${tag}-producer`, 'messaging.client.operation.duration', first).count).toBe(2);

    // Hop: eachMessage, 5 consumed, timed from the record timestamps (broker time).
    const group = uniqueGroup(`metrics-hop-${tag}`);
    const consumed = one(`m-${tag}-hop`, 'messaging.client.consumed.messages', first);
    expect(consumed.value).toBe(5);
    expect(consumed.attributes['messaging.consumer.group.name']).toBe(group);
    expect(one(`m-${tag}-hop`, 'messaging.process.duration', first).count).toBe(5);
    const queue = one(`m-${tag}-hop`, 'threadline.messaging.queue.time', first);
    expect(queue.attributes['threadline.time.source']).toBe('broker');
    expect(queue.count).toBe(5);
    const received = hop.received as { receivedAt: number; timestamp: string }[];
    // Recorded after the consumer started (everything was produced before) and before each handler ran.
    const lower = sum(received.map((entry) => (hop.startedAt - Number(entry.timestamp)) / 1000)) - 5 * RESOLUTION_S;
    const upper = sum(received.map((entry) => (entry.receivedAt - Number(entry.timestamp)) / 1000)) + 5 * RESOLUTION_S;
    expect(queue.sum!).toBeGreaterThanOrEqual(lower);
    expect(queue.sum!).toBeLessThanOrEqual(upper);
    expect(queue.min!).toBeGreaterThanOrEqual(0);

    // The first hop's pipeline starts at the first send.
    const sends = produced.sends as { sentBefore: number; sentAfter: number }[];
    const firstSent = Math.min(...sends.map((send) => send.sentBefore));
    const lastSent = Math.max(...sends.map((send) => send.sentAfter));
    const hopPipeline = one(`m-${tag}-hop`, 'threadline.pipeline.duration', first);
    expect(hopPipeline.count).toBe(5);
    expect(hopPipeline.min!).toBeGreaterThanOrEqual((hop.startedAt - lastSent) / 1000 - RESOLUTION_S);
    expect(hopPipeline.max!).toBeLessThanOrEqual((Math.max(...received.map((entry) => entry.receivedAt)) - firstSent) / 1000 + RESOLUTION_S);

    // Last hop: eachBatch; its queue time covers only the forward, its pipeline the whole way.
    expect(one(`m-${tag}-last`, 'messaging.client.consumed.messages', second).value).toBe(5);
    const lastReceived = last.received as { receivedAt: number; timestamp: string }[];
    const lastQueue = one(`m-${tag}-last`, 'threadline.messaging.queue.time', second);
    expect(lastQueue.count).toBe(5);
    expect(lastQueue.max!).toBeLessThanOrEqual(Math.max(...lastReceived.map((entry) => entry.receivedAt - Number(entry.timestamp))) / 1000 + RESOLUTION_S);
    const pipeline = one(`m-${tag}-last`, 'threadline.pipeline.duration', second);
    expect(pipeline.count).toBe(5);
    expect(pipeline.min!).toBeGreaterThanOrEqual((last.startedAt - lastSent) / 1000 - RESOLUTION_S);
    expect(pipeline.max!).toBeLessThanOrEqual((Math.max(...lastReceived.map((entry) => entry.receivedAt)) - firstSent) / 1000 + RESOLUTION_S);
    expect(pipeline.min!).toBeGreaterThan(lastQueue.max!);

    // Lag: every message consumed, so the last value of partition 0 is 0, for both handler kinds.
    for (const [service, topic] of [[`m-${tag}-hop`, first], [`m-${tag}-last`, second]]) {
      const lag = one(service, 'threadline.kafka.consumer.lag', topic);
      expect(lag.value).toBe(0);
      expect(lag.attributes['messaging.destination.partition.id']).toBe('0');
    }

    // Metrics on: only the tracestate entry is added; Kafka has a broker time, so no threadline-sent-at.
    const headers = received[0] as unknown as { headers: Record<string, unknown> };
    expect(Object.keys(headers.headers).sort()).toEqual(['traceparent', 'tracestate']);
    const tracestate = headers.headers.tracestate as { b64: string };
    expect(Buffer.from(tracestate.b64, 'base64').toString('utf8')).toMatch(/^threadline=o:[0-9a-z]+$/);
  }, 120_000);
});

test('future and week-old record timestamps are dropped with a diag message; the messages arrive unaltered', async () => {
  const topic = uniqueTopic('metrics-bad-times');
  // Keep the week-old record: retention would otherwise be measured from its timestamp.
  await createTopics([{ topic, configEntries: [{ name: 'retention.ms', value: '-1' }] }]);
  const common = { app: 'cjs' as const, version: V2, collector, metrics: true };
  const future = String(Date.now() + 10 * 60 * 1000);
  const old = String(Date.now() - 8 * 24 * 3600 * 1000);
  await runApp({
    ...common,
    service: 'm-bad-producer',
    scenario: { role: 'produce', sends: [{ topic, messages: [{ value: 'future', timestamp: future }, { value: 'old', timestamp: old }, { value: 'fine' }] }] },
  });
  let stderr = '';
  const consumed = await runApp({
    ...common,
    service: 'm-bad-consumer',
    onOutput: (_stdout, output) => (stderr = output),
    env: { OTEL_LOG_LEVEL: 'warn' },
    scenario: { role: 'consume', topic, groupId: uniqueGroup('metrics-bad'), count: 3 },
  });
  const received = consumed.received as { value: { b64: string }; timestamp: string }[];
  expect(received.map((entry) => Buffer.from(entry.value.b64, 'base64').toString('utf8'))).toEqual(['future', 'old', 'fine']);
  expect(received.slice(0, 2).map((entry) => entry.timestamp)).toEqual([future, old]);
  expect(stderr).toContain('threadline.messaging.queue.time: future timestamp, value dropped');
  expect(stderr).toContain('threadline.messaging.queue.time: absurd timestamp, value dropped');
  await collector.waitForMetrics((points) => points.some((point) => point.serviceName === 'm-bad-consumer' && point.name === 'messaging.client.consumed.messages'));
  expect(one('m-bad-consumer', 'messaging.client.consumed.messages', topic).value).toBe(3);
  // Only the good one is timed, and never negatively.
  const queue = one('m-bad-consumer', 'threadline.messaging.queue.time', topic);
  expect(queue.count).toBe(1);
  expect(queue.min!).toBeGreaterThanOrEqual(0);
  expect(queue.max!).toBeLessThan(60);
}, 120_000);

test('metrics off (OTEL_METRICS_EXPORTER=none): the consumer sees exactly the context header, nothing else', async () => {
  const topic = uniqueTopic('metrics-off');
  await createTopics([topic]);
  const common = { app: 'cjs' as const, version: V2, collector };
  await runApp({ ...common, service: 'm-off-producer', scenario: { role: 'produce', sends: [{ topic, messages: [{ value: 'plain', headers: { mine: 'x' } }] }] } });
  const consumed = await runApp({ ...common, service: 'm-off-consumer', scenario: { role: 'consume', topic, groupId: uniqueGroup('metrics-off'), count: 1 } });
  const [entry] = consumed.received as { headers: Record<string, unknown> }[];
  expect(Object.keys(entry.headers).sort()).toEqual(['mine', 'traceparent']);
  expect(collector.metrics().filter((point) => point.serviceName.startsWith('m-off-'))).toEqual([]);
}, 120_000);

test('@confluentinc/kafka-javascript (the shared base class): sends, consumption, queue time and pipeline in its own scope; lag from eachBatch only', async () => {
  const topic = uniqueTopic('metrics-confluent');
  await createTopics([topic]);
  const common = { app: 'cjs' as const, version: CONFLUENT_NEWEST, collector, metrics: true };
  await runApp({
    ...common,
    service: 'm-ck-producer',
    scenario: { role: 'produce', sends: [{ topic, messages: [{ value: 'a' }, { value: 'b' }] }, { topic, messages: [{ value: 'c' }] }] },
  });
  const group = uniqueGroup('metrics-ck');
  // With metrics on, run() must still be instrumented: this client's `consumer.events` getter throws.
  const consumed = await runApp({ ...common, service: 'm-ck-consumer', scenario: { role: 'consume', topic, groupId: group, count: 3 } });
  await collector.waitForMetrics((points) => points.some((point) => point.serviceName === 'm-ck-consumer' && point.name === 'threadline.pipeline.duration'));
  const sent = one('m-ck-producer', 'messaging.client.sent.messages', topic);
  expect(sent).toMatchObject({ value: 3, scope: CONFLUENT_KAFKA_SCOPE_NAME });
  expect(one('m-ck-producer', 'messaging.client.operation.duration', topic).count).toBe(2);
  const count = one('m-ck-consumer', 'messaging.client.consumed.messages', topic);
  expect(count).toMatchObject({ value: 3, scope: CONFLUENT_KAFKA_SCOPE_NAME });
  expect(count.attributes['messaging.consumer.group.name']).toBe(group);
  expect(one('m-ck-consumer', 'messaging.process.duration', topic).count).toBe(3);
  const queue = one('m-ck-consumer', 'threadline.messaging.queue.time', topic);
  expect(queue.attributes['threadline.time.source']).toBe('broker');
  expect(queue.count).toBe(3);
  const received = consumed.received as { receivedAt: number; timestamp: string }[];
  expect(queue.max!).toBeLessThanOrEqual(Math.max(...received.map((entry) => entry.receivedAt - Number(entry.timestamp))) / 1000 + RESOLUTION_S);
  expect(queue.min!).toBeGreaterThanOrEqual(0);
  expect(one('m-ck-consumer', 'threadline.pipeline.duration', topic).count).toBe(3);
  // eachMessage gets no high watermark from this client (no batch events): no lag series.
  expect(series('m-ck-consumer', 'threadline.kafka.consumer.lag', topic)).toEqual([]);
  // eachBatch does: the batch's highWatermark.
  await runApp({ ...common, service: 'm-ck-batch', scenario: { role: 'consume', handler: 'batch', topic, groupId: uniqueGroup('metrics-ck-batch'), count: 3 } });
  await collector.waitForMetrics((points) => points.some((point) => point.serviceName === 'm-ck-batch' && point.name === 'threadline.kafka.consumer.lag'));
  const lag = one('m-ck-batch', 'threadline.kafka.consumer.lag', topic);
  expect(lag.value).toBe(0);
  expect(lag.attributes['messaging.destination.partition.id']).toBe('0');
  expect(one('m-ck-batch', 'messaging.client.consumed.messages', topic).value).toBe(3);
}, 120_000);
