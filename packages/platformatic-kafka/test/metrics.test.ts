// Metrics on the real broker: counts match what was sent, times agree with the clocks the
// fixtures read themselves, the lag comes from the fetches' high watermarks, bad record timestamps
// are dropped, and with metrics off the wire is exactly as before.
import { startCollector, type CollectedMetricPoint, type SpanCollector } from '@threadline/testing';
import { describeOnSupportedNode, NEWEST, OLDEST, runApp, uniqueName, type LibraryVersion } from './platformatic';

jest.setTimeout(180000);

interface Received {
  receivedAt: number;
  timestamp: string;
  value: string | null;
  headers: [string, string | null][];
}
type Consumed = { startedAt: number; received: Received[] };
type Produced = { sends: { sentBefore: number; sentAfter: number }[] };

const SCOPE = '@threadline/platformatic-kafka';
// The clock's resolution: Date.now() is in whole milliseconds, on both sides of each difference.
const RESOLUTION_S = 0.002;
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
const text = (b64: string | null) => Buffer.from(b64 ?? '', 'base64').toString('utf8');

describeOnSupportedNode('@platformatic/kafka metrics', () => {
  let collector: SpanCollector;
  beforeAll(async () => {
    collector = await startCollector();
  });
  afterAll(() => collector?.close());

  /** The newest point of each series `name` that `service` exported for `topic`. */
  const series = (service: string, name: string, topic: string): CollectedMetricPoint[] =>
    collector.latestMetrics().filter((point) => point.serviceName === service && point.name === name && point.attributes['messaging.destination.name'] === topic);
  const one = (service: string, name: string, topic: string) => {
    const found = series(service, name, topic);
    if (found.length !== 1) throw new Error(`${service} ${name} ${topic}: ${found.length} series\n${JSON.stringify(collector.latestMetrics(), null, 1)}`);
    return found[0];
  };
  const produce = (version: LibraryVersion, service: string, topics: string[], sends: unknown, metrics = true) =>
    runApp<Produced>({ file: 'metrics.cjs', service, version, collector, metrics, env: { ROLE: 'produce', TOPICS: JSON.stringify(topics), SENDS: JSON.stringify(sends) } });
  const consume = (version: LibraryVersion, service: string, env: Record<string, string>, metrics = true) =>
    runApp<Consumed>({ file: 'metrics.cjs', service, version, collector, metrics, env: { ROLE: 'consume', ...env } });

  test.each([OLDEST, NEWEST].map((version) => ({ version, title: version.label })))(
    '$title: counts, queue time and pipeline duration across two hops; lag per partition',
    async ({ version }) => {
      const tag = version.version.replace(/\./g, '');
      const first = uniqueName(`metrics-a-${tag}`);
      const second = uniqueName(`metrics-b-${tag}`);
      const [producer, hop, last] = ['producer', 'hop', 'last'].map((role) => uniqueName(`m-${tag}-${role}`));
      const produced = (
        await produce(version, producer, [first, second], [
          { topic: first, messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] },
          { topic: first, messages: [{ value: 'd' }, { value: 'e' }] },
        ])
      ).result;
      const hopGroup = `${hop}-group`;
      const hopRun = (await consume(version, hop, { TOPIC: first, GROUP: hopGroup, COUNT: '5', FORM: 'iterator', FORWARD_TO: second })).result;
      const lastRun = (await consume(version, last, { TOPIC: second, GROUP: `${last}-group`, COUNT: '5', FORM: 'stream' })).result;
      await collector.waitForMetrics((points) => points.some((point) => point.serviceName === last && point.name === 'threadline.pipeline.duration'));

      // Producer: 5 messages in 2 send calls.
      const sent = one(producer, 'messaging.client.sent.messages', first);
      expect(sent).toMatchObject({ value: 5, scope: SCOPE, unit: '{message}' });
      expect(sent.attributes).toEqual({ 'messaging.system': 'kafka', 'messaging.destination.name': first, 'messaging.operation.name': 'send' });
      expect(one(producer, 'messaging.client.operation.duration', first).count).toBe(2);
      // The hop forwarded each message in its own send call.
      expect(one(hop, 'messaging.client.sent.messages', second).value).toBe(5);

      // Hop (for await): 5 consumed, timed from the record timestamps (broker time).
      const consumed = one(hop, 'messaging.client.consumed.messages', first);
      expect(consumed.value).toBe(5);
      expect(consumed.attributes).toEqual({
        'messaging.system': 'kafka',
        'messaging.destination.name': first,
        'messaging.operation.name': 'process',
        'messaging.consumer.group.name': hopGroup,
      });
      expect(one(hop, 'messaging.process.duration', first).count).toBe(5);
      const queue = one(hop, 'threadline.messaging.queue.time', first);
      expect(queue.attributes['threadline.time.source']).toBe('broker');
      expect(queue.count).toBe(5);
      const received = hopRun.received;
      // Recorded after the consumer started (everything was produced before) and before the app saw each message.
      const lower = sum(received.map((entry) => (hopRun.startedAt - Number(entry.timestamp)) / 1000)) - 5 * RESOLUTION_S;
      const upper = sum(received.map((entry) => (entry.receivedAt - Number(entry.timestamp)) / 1000)) + 5 * RESOLUTION_S;
      expect(queue.sum!).toBeGreaterThanOrEqual(lower);
      expect(queue.sum!).toBeLessThanOrEqual(upper);
      expect(queue.min!).toBeGreaterThanOrEqual(0);
      // The broker's timestamps lie within the producer's send calls.
      const firstSent = Math.min(...produced.sends.map((send) => send.sentBefore));
      const lastSent = Math.max(...produced.sends.map((send) => send.sentAfter));
      for (const entry of received) {
        expect(Number(entry.timestamp)).toBeGreaterThanOrEqual(firstSent);
        expect(Number(entry.timestamp)).toBeLessThanOrEqual(lastSent);
      }

      // The first hop's pipeline starts at the first send.
      const hopPipeline = one(hop, 'threadline.pipeline.duration', first);
      expect(hopPipeline.count).toBe(5);
      expect(hopPipeline.min!).toBeGreaterThanOrEqual((hopRun.startedAt - lastSent) / 1000 - RESOLUTION_S);
      expect(hopPipeline.max!).toBeLessThanOrEqual((Math.max(...received.map((entry) => entry.receivedAt)) - firstSent) / 1000 + RESOLUTION_S);

      // Last hop ('data' listener): its queue time covers only the forward, its pipeline the whole way.
      expect(one(last, 'messaging.client.consumed.messages', second).value).toBe(5);
      expect(one(last, 'messaging.process.duration', second).count).toBe(5);
      const lastReceived = lastRun.received;
      const lastQueue = one(last, 'threadline.messaging.queue.time', second);
      expect(lastQueue.count).toBe(5);
      expect(lastQueue.max!).toBeLessThanOrEqual(Math.max(...lastReceived.map((entry) => entry.receivedAt - Number(entry.timestamp))) / 1000 + RESOLUTION_S);
      const pipeline = one(last, 'threadline.pipeline.duration', second);
      expect(pipeline.count).toBe(5);
      expect(pipeline.min!).toBeGreaterThanOrEqual((lastRun.startedAt - lastSent) / 1000 - RESOLUTION_S);
      expect(pipeline.max!).toBeLessThanOrEqual((Math.max(...lastReceived.map((entry) => entry.receivedAt)) - firstSent) / 1000 + RESOLUTION_S);
      expect(pipeline.min!).toBeGreaterThan(lastQueue.max!);

      // Lag: every message consumed, so the last value of partition 0 is 0, in both forms.
      for (const [service, topic, group] of [[hop, first, hopGroup], [last, second, `${last}-group`]]) {
        const lag = one(service, 'threadline.kafka.consumer.lag', topic);
        expect(lag.value).toBe(0);
        expect(lag.attributes['messaging.destination.partition.id']).toBe('0');
        expect(lag.attributes['messaging.consumer.group.name']).toBe(group);
      }

      // Metrics on: only the tracestate entry is added; Kafka has a broker time, so no threadline-sent-at.
      expect(received[0].headers.map(([key]) => key).sort()).toEqual(['mine', 'traceparent', 'tracestate']);
      const tracestate = received[0].headers.find(([key]) => key === 'tracestate')![1];
      expect(text(tracestate)).toMatch(/^threadline=o:[0-9a-z]+$/);
    },
  );

  test('a lag above 0 while messages are still to be read; loops that make no span (no context read, followPulls: false) metered all the same', async () => {
    const topic = uniqueName('metrics-lag');
    const [producer, consumer] = ['producer', 'consumer'].map((role) => uniqueName(`m-lag-${role}`));
    await produce(NEWEST, producer, [topic], [{ topic, messages: ['a', 'b', 'c', 'd'].map((value) => ({ value })) }]);
    // Only the first message is read (a loop body that never reads the context, so no span is made:
    // the metrics are recorded all the same); the fetch saw all four, so the lag is 4 − (0 + 1).
    await consume(NEWEST, consumer, { TOPIC: topic, GROUP: `${consumer}-group`, COUNT: '1', FORM: 'iterator' });
    await collector.waitForMetrics((points) => points.some((point) => point.serviceName === consumer && point.name === 'threadline.kafka.consumer.lag'));
    expect(one(consumer, 'threadline.kafka.consumer.lag', topic).value).toBe(3);
    expect(one(consumer, 'messaging.client.consumed.messages', topic).value).toBe(1);
    expect(one(consumer, 'threadline.messaging.queue.time', topic).count).toBe(1);
    expect(one(consumer, 'threadline.pipeline.duration', topic).count).toBe(1);
    expect(one(consumer, 'messaging.process.duration', topic).count).toBe(1);
    // followPulls: false: the loop is not followed, its messages are metered all the same.
    const unfollowed = uniqueName('m-lag-unfollowed');
    await consume(NEWEST, unfollowed, { TOPIC: topic, GROUP: `${unfollowed}-group`, COUNT: '2', FORM: 'iterator', THREADLINE_FOLLOW_PULLS: 'false' });
    await collector.waitForMetrics((points) => points.some((point) => point.serviceName === unfollowed && point.name === 'messaging.process.duration'));
    expect(one(unfollowed, 'messaging.client.consumed.messages', topic).value).toBe(2);
    expect(one(unfollowed, 'threadline.kafka.consumer.lag', topic).value).toBe(2);
    expect(one(unfollowed, 'threadline.messaging.queue.time', topic).count).toBe(2);
    expect(one(unfollowed, 'messaging.process.duration', topic).count).toBe(2);
  });

  test('future and week-old record timestamps are dropped with a diag message; the messages arrive unaltered', async () => {
    const topic = uniqueName('metrics-bad-times');
    const [producer, consumer] = ['producer', 'consumer'].map((role) => uniqueName(`m-bad-${role}`));
    const future = String(Date.now() + 10 * 60 * 1000);
    const old = String(Date.now() - 8 * 24 * 3600 * 1000);
    await produce(NEWEST, producer, [topic], [{ topic, messages: [{ value: 'future', timestamp: future }, { value: 'old', timestamp: old }, { value: 'fine' }] }]);
    const { result, output } = await consume(NEWEST, consumer, { TOPIC: topic, GROUP: `${consumer}-group`, COUNT: '3', FORM: 'stream', OTEL_LOG_LEVEL: 'warn' });
    expect(result.received.map((entry) => text(entry.value))).toEqual(['future', 'old', 'fine']);
    expect(result.received.slice(0, 2).map((entry) => entry.timestamp)).toEqual([future, old]);
    for (const entry of result.received) expect(entry.headers.find(([key]) => key === 'mine')).toEqual(['mine', Buffer.from('x').toString('base64')]);
    expect(output).toContain('threadline.messaging.queue.time: future timestamp, value dropped');
    expect(output).toContain('threadline.messaging.queue.time: absurd timestamp, value dropped');
    await collector.waitForMetrics((points) => points.some((point) => point.serviceName === consumer && point.name === 'messaging.client.consumed.messages'));
    expect(one(consumer, 'messaging.client.consumed.messages', topic).value).toBe(3);
    // Only the good one is timed, and never negatively.
    const queue = one(consumer, 'threadline.messaging.queue.time', topic);
    expect(queue.count).toBe(1);
    expect(queue.min!).toBeGreaterThanOrEqual(0);
    expect(queue.max!).toBeLessThan(60);
  });

  test('metrics off (OTEL_METRICS_EXPORTER=none): the consumer sees exactly the context header, nothing else', async () => {
    const topic = uniqueName('metrics-off');
    const [producer, consumer] = ['producer', 'consumer'].map((role) => uniqueName(`m-off-${role}`));
    await produce(NEWEST, producer, [topic], [{ topic, messages: [{ value: 'plain' }] }], false);
    const { result } = await consume(NEWEST, consumer, { TOPIC: topic, GROUP: `${consumer}-group`, COUNT: '1', FORM: 'iterator' }, false);
    const [entry] = result.received;
    expect(entry.headers.map(([key]) => key)).toEqual(['mine', 'traceparent']);
    expect(text(entry.headers[1][1])).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(collector.metrics().filter((point) => point.serviceName === producer || point.serviceName === consumer)).toEqual([]);
  });
});
