// Consumer shapes and modes on the real broker: eachBatch with links and the per-message
// one-liner, useLinks, and propagation-only (no kafka spans, one trace all the same).
import { assertParentChild, findSpan, findSpans, startCollector, type CollectedSpan, type SpanCollector } from '@threadline/testing';
import { createTopics, deleteCreatedTopics, removeEsmEntries, runApp, uniqueGroup, uniqueTopic, V1, V2, type AppKind, type KafkaJsVersion } from './kafka';

const KAFKA_SCOPE = '@threadline/kafkajs';
let collector: SpanCollector;
const spansOf = (prefix: string) => collector.spans().filter((span) => span.serviceName.startsWith(prefix));

interface BatchRun {
  topic: string;
  produced: any;
  consumed: any;
  spans: CollectedSpan[];
}
const batchRuns = new Map<string, BatchRun>();

/** Three sends, each in its own trace, all produced before the consumer starts: one batch. */
async function runBatch(app: AppKind, version: KafkaJsVersion, name: string) {
  const topic = uniqueTopic(`batch-${name}`);
  await createTopics([topic]);
  const common = { app, version, collector };
  const produced = await runApp({
    ...common,
    service: `${name}-producer`,
    scenario: { role: 'produce', sends: ['one', 'two', 'three'].map((value) => ({ span: `order ${value}`, topic, messages: [{ value }] })) },
  });
  const consumed = await runApp({
    ...common,
    service: `${name}-consumer`,
    scenario: { role: 'consume', handler: 'batch', topic, groupId: uniqueGroup(name), count: 3 },
    // The one-liner's contract with following off; test/pull.test.ts covers the followed loops.
    env: { THREADLINE_FOLLOW_PULLS: 'false' },
  });
  const spans = await collector.waitFor(() => spansOf(name).length >= 10, { timeoutMs: 20000 });
  batchRuns.set(name, { topic, produced, consumed, spans: spans.filter((span) => span.serviceName.startsWith(name)) });
}

let linked: BatchRun;
async function runUseLinks() {
  const topic = uniqueTopic('links');
  await createTopics([topic]);
  const common = { app: 'cjs' as const, version: V2, collector };
  const [produced, consumed] = await Promise.all([
    runApp({ ...common, service: 'links-producer', scenario: { role: 'produce', sends: [{ topic, messages: [{ value: 'linked' }] }] } }),
    runApp({
      ...common,
      service: 'links-consumer',
      env: { THREADLINE_USE_LINKS: 'true' },
      scenario: { role: 'consume', topic, groupId: uniqueGroup('links'), count: 1 },
    }),
  ]);
  const spans = await collector.waitFor(() => spansOf('links-').length >= 4, { timeoutMs: 20000 });
  linked = { topic, produced, consumed, spans: spans.filter((span) => span.serviceName.startsWith('links-')) };
}

let propagationOnly: BatchRun & { second: string };
/** Both sides in propagation-only mode, with a hop in the middle. */
async function runPropagationOnly() {
  const topic = uniqueTopic('propagation');
  const second = uniqueTopic('propagation-2');
  await createTopics([topic, second]);
  const common = { app: 'esm' as const, version: V1, collector, env: { THREADLINE_MODE: 'propagation-only' } };
  const [produced, consumed] = await Promise.all([
    runApp({ ...common, service: 'quiet-producer', scenario: { role: 'produce', sends: [{ topic, messages: [{ value: 'quiet' }] }] } }),
    runApp({ ...common, service: 'quiet-relay', scenario: { role: 'consume', topic, groupId: uniqueGroup('quiet-relay'), count: 1, forwardTo: second } }),
    runApp({ ...common, service: 'quiet-consumer', scenario: { role: 'consume', topic: second, groupId: uniqueGroup('quiet-consumer'), count: 1 } }),
  ]);
  const spans = await collector.waitFor(() => spansOf('quiet-').length >= 3, { timeoutMs: 20000 });
  propagationOnly = { topic, second, produced, consumed, spans: spans.filter((span) => span.serviceName.startsWith('quiet-')) };
}

beforeAll(async () => {
  collector = await startCollector();
  await createTopics([]); // fails fast, with a clear message, when the broker is not there
  await Promise.all([runBatch('esm', V2, 'batch-esm-v2'), runBatch('cjs', V1, 'batch-cjs-v1'), runUseLinks(), runPropagationOnly()]);
}, 150000);

afterAll(async () => {
  await collector?.close();
  removeEsmEntries();
  await deleteCreatedTopics();
});

describe.each([
  ['batch-esm-v2', 'ESM, kafkajs 2.x'],
  ['batch-cjs-v1', 'CJS, kafkajs 1.x'],
])('eachBatch (%s: %s)', (name) => {
  test('one process span, a new trace, with one link per message to that message\'s send span', () => {
    const { spans, topic } = batchRuns.get(name)!;
    const batch = findSpan(spans, { name: `process ${topic}`, kind: 'CONSUMER' });
    expect(batch.scope).toBe(KAFKA_SCOPE);
    expect(batch.parentSpanId).toBeUndefined();
    const sends = findSpans(spans, { name: `send ${topic}`, kind: 'PRODUCER' });
    expect(sends).toHaveLength(3);
    expect(batch.links.map((link) => `${link.traceId}/${link.spanId}`).sort()).toEqual(sends.map((send) => `${send.traceId}/${send.spanId}`).sort());
    expect(batch.attributes).toMatchObject({
      'messaging.batch.message_count': 3,
      'messaging.operation.type': 'process',
      'messaging.destination.partition.id': '0',
      'messaging.consumer.group.name': uniqueGroup(name),
    });
  });

  test('the one-liner puts each message\'s work in that message\'s own trace', () => {
    const { spans, topic, consumed } = batchRuns.get(name)!;
    const batch = findSpan(spans, { name: `process ${topic}` });
    for (const value of ['one', 'two', 'three']) {
      const order = findSpan(spans, `order ${value}`);
      const send = findSpan(spans, (span) => span.name === `send ${topic}` && span.parentSpanId === order.spanId);
      const entry = consumed.received.find((candidate: any) => Buffer.from(candidate.value.b64, 'base64').toString() === value);
      // Inside the handler, outside the one-liner, the batch span is active; inside it, the message's send span.
      expect(entry.batch).toEqual({ traceId: batch.traceId, spanId: batch.spanId });
      expect(entry.active).toEqual({ traceId: send.traceId, spanId: send.spanId });
      const handle = findSpan(spans, (span) => span.name === `handle ${topic}` && span.spanId === entry.handle.spanId);
      expect(handle.parentSpanId).toBe(send.spanId);
      expect(handle.traceId).toBe(order.traceId);
    }
  });
});

describe('useLinks (CJS, kafkajs 2.x)', () => {
  test('the process span starts a new trace that links back to the send span', () => {
    const { spans, topic, consumed } = linked;
    const send = findSpan(spans, { name: `send ${topic}`, service: 'links-producer' });
    const process = findSpan(spans, { name: `process ${topic}`, service: 'links-consumer' });
    expect(process.parentSpanId).toBeUndefined();
    expect(process.traceId).not.toBe(send.traceId);
    expect(process.links).toEqual([expect.objectContaining({ traceId: send.traceId, spanId: send.spanId })]);
    assertParentChild(spans, { name: `process ${topic}` }, { name: `handle ${topic}` });
    expect(consumed.received[0].active.spanId).toBe(process.spanId);
  });
});

describe('propagation-only (ESM, kafkajs 1.x)', () => {
  test('no kafka spans at all, and the handlers\' spans still join the producer\'s trace', () => {
    const { spans, topic, second, produced } = propagationOnly;
    expect(spans.filter((span) => span.scope === KAFKA_SCOPE)).toEqual([]);
    expect(spans.map((span) => span.name).sort()).toEqual(['checkout', `handle ${second}`, `handle ${topic}`].sort());
    // The context carried is the producer's active span; the relay's handle span carries on.
    expect(produced.sends[0].span.spanId).toBe(findSpan(spans, 'checkout').spanId);
    assertParentChild(spans, 'checkout', `handle ${topic}`);
    assertParentChild(spans, `handle ${topic}`, `handle ${second}`);
  });
});
