// One trace across Kafka, on the real broker: A produces inside a span, B consumes and produces
// onward, C consumes. Each in its own process under the register hook; for kafkajs 1.x and 2.x,
// as ESM and as CJS apps. Plus transactional sends.
import {
  assertNoOrphans,
  assertParentChild,
  assertSingleTrace,
  brokerAddresses,
  findSpan,
  startCollector,
  type CollectedSpan,
  type SpanCollector,
} from '@threadline/testing';
import { createTopics, deleteCreatedTopics, removeEsmEntries, runApp, uniqueGroup, uniqueTopic, V1, V2, type AppKind, type KafkaJsVersion } from './kafka';

interface Combo {
  app: AppKind;
  version: KafkaJsVersion;
  name: string;
}
const COMBOS: Combo[] = [
  { app: 'esm', version: V2, name: 'esm-v2' },
  { app: 'cjs', version: V2, name: 'cjs-v2' },
  { app: 'esm', version: V1, name: 'esm-v1' },
  { app: 'cjs', version: V1, name: 'cjs-v1' },
];

let collector: SpanCollector;
const chains = new Map<string, { spans: CollectedSpan[]; first: string; second: string; a: any; b: any; c: any }>();
let transactional: { spans: CollectedSpan[]; topic: string; produced: any; consumed: any };

const KAFKA_SCOPE = '@threadline/kafkajs';

async function runChain(combo: Combo) {
  const first = uniqueTopic(`hop1-${combo.name}`);
  const second = uniqueTopic(`hop2-${combo.name}`);
  await createTopics([first, second]);
  const common = { app: combo.app, version: combo.version, collector };
  const service = (role: string) => `${role}-${combo.name}`;
  // B and C subscribe from the beginning of fresh topics, so the order of start-up does not matter.
  const [a, b, c] = await Promise.all([
    runApp({ ...common, service: service('A'), scenario: { role: 'produce', sends: [{ topic: first, messages: [{ key: 'order-1', value: 'first hop' }] }] } }),
    runApp({ ...common, service: service('B'), scenario: { role: 'consume', topic: first, groupId: uniqueGroup(service('B')), count: 1, forwardTo: second } }),
    runApp({ ...common, service: service('C'), scenario: { role: 'consume', topic: second, groupId: uniqueGroup(service('C')), count: 1 } }),
  ]);
  const names = new Set(['A', 'B', 'C'].map(service));
  const spans = await collector.waitFor((all) => all.filter((span) => names.has(span.serviceName)).length >= 7, { timeoutMs: 20000 });
  chains.set(combo.name, { spans: spans.filter((span) => names.has(span.serviceName)), first, second, a, b, c });
}

async function runTransactional() {
  const topic = uniqueTopic('transactional');
  await createTopics([topic]);
  const common = { app: 'esm' as const, version: V2, collector };
  const [produced, consumed] = await Promise.all([
    runApp({
      ...common,
      service: 'tx-producer',
      scenario: {
        role: 'produce',
        transactional: true,
        sends: [
          { span: 'tx-send', topic, messages: [{ value: 'one' }] },
          { span: 'tx-batch', topicMessages: [{ topic, messages: [{ value: 'two' }, { value: 'three' }] }] },
        ],
      },
    }),
    runApp({ ...common, service: 'tx-consumer', scenario: { role: 'consume', topic, groupId: uniqueGroup('tx'), count: 3 } }),
  ]);
  const spans = await collector.waitFor((all) => all.filter((span) => span.serviceName.startsWith('tx-')).length >= 10, { timeoutMs: 20000 });
  transactional = { spans: spans.filter((span) => span.serviceName.startsWith('tx-')), topic, produced, consumed };
}

beforeAll(async () => {
  collector = await startCollector();
  await createTopics([]); // fails fast, with a clear message, when the broker is not there
  await Promise.all([...COMBOS.map(runChain), runTransactional()]);
}, 150000);

afterAll(async () => {
  await collector?.close();
  removeEsmEntries();
  await deleteCreatedTopics();
});

describe.each(COMBOS)('$app app, $version.label', (combo) => {
  const chain = () => chains.get(combo.name)!;
  const svc = (role: string) => `${role}-${combo.name}`;

  test('two processes: one trace; B\'s process span is the child of A\'s send span', () => {
    const { spans, first, a, b } = chain();
    const send = findSpan(spans, { name: `send ${first}`, service: svc('A'), kind: 'PRODUCER' });
    const process = findSpan(spans, { name: `process ${first}`, service: svc('B'), kind: 'CONSUMER' });
    assertParentChild(spans, { name: 'checkout', service: svc('A') }, { name: `send ${first}`, service: svc('A') });
    assertParentChild(spans, { name: `send ${first}`, service: svc('A') }, { name: `process ${first}`, service: svc('B') });
    expect(a.sends).toEqual([{ ok: true, sentBefore: expect.any(Number), sentAfter: expect.any(Number), span: { traceId: send.traceId, spanId: expect.any(String) } }]);
    // The handler itself ran inside B's process span.
    expect(b.received[0].active).toEqual({ traceId: send.traceId, spanId: process.spanId });
    expect(process.scope).toBe(KAFKA_SCOPE);
  });

  test('three hops: B produces onward and C consumes; still one trace, no orphans', () => {
    const { spans, first, second } = chain();
    assertSingleTrace(spans);
    assertNoOrphans(spans);
    assertParentChild(spans, { name: `process ${first}`, service: svc('B') }, { name: `handle ${first}`, service: svc('B') });
    assertParentChild(spans, { name: `handle ${first}`, service: svc('B') }, { name: `send ${second}`, service: svc('B') });
    assertParentChild(spans, { name: `send ${second}`, service: svc('B') }, { name: `process ${second}`, service: svc('C') });
    assertParentChild(spans, { name: `process ${second}`, service: svc('C') }, { name: `handle ${second}`, service: svc('C') });
    expect(spans).toHaveLength(7);
  });

  test('attributes follow the messaging conventions; the key is not recorded by default', () => {
    const { spans, first } = chain();
    const send = findSpan(spans, { name: `send ${first}`, service: svc('A') });
    const process = findSpan(spans, { name: `process ${first}`, service: svc('B') });
    expect(send.attributes).toEqual({
      'messaging.system': 'kafka',
      'messaging.destination.name': first,
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.client.id': svc('A'),
      'server.address': '127.0.0.1',
      'server.port': brokerAddresses().kafka.port,
    });
    expect(process.attributes).toEqual({
      'messaging.system': 'kafka',
      'messaging.destination.name': first,
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.partition.id': '0',
      'messaging.kafka.offset': 0,
      'messaging.consumer.group.name': uniqueGroup(svc('B')),
      'messaging.message.body.size': Buffer.byteLength('first hop'),
      'messaging.client.id': svc('B'),
      'server.address': '127.0.0.1',
      'server.port': brokerAddresses().kafka.port,
    });
    expect(process.status.code).toBe('UNSET');
  });
});

describe('transactions (kafkajs 2.x, ESM)', () => {
  test('transaction().send and .sendBatch carry context: each consumer span is the child of its send span', () => {
    const { spans, topic, produced, consumed } = transactional;
    expect(produced.sends.map((send: any) => send.ok)).toEqual([true, true]);
    expect(consumed.received.map((entry: any) => entry.value)).toHaveLength(3);
    const sendOne = findSpan(spans, (span) => span.name === `send ${topic}` && span.parentSpanId === findSpan(spans, 'tx-send').spanId);
    const sendBatch = findSpan(spans, (span) => span.name === `send ${topic}` && span.parentSpanId === findSpan(spans, 'tx-batch').spanId);
    expect(sendBatch.attributes['messaging.batch.message_count']).toBe(2);
    const processes = spans.filter((span) => span.name === `process ${topic}`);
    expect(processes.map((span) => span.parentSpanId).sort()).toEqual([sendOne.spanId, sendBatch.spanId, sendBatch.spanId].sort());
  });
});
