// @confluentinc/kafka-javascript's KafkaJS API on the real broker, each app in its own process
// under the register hook: A → B → C on the confluent client (oldest and newest supported, ESM
// and CJS), kafkajs → confluent and confluent → kafkajs, transactions, and eachBatch.
import {
  assertNoOrphans,
  assertParentChild,
  assertSingleTrace,
  brokerAddresses,
  findSpan,
  findSpans,
  startCollector,
  type CollectedSpan,
  type SpanCollector,
} from '@threadline/testing';
import {
  CONFLUENT_NEWEST,
  CONFLUENT_OLDEST,
  createTopics,
  deleteCreatedTopics,
  removeEsmEntries,
  runApp,
  uniqueGroup,
  uniqueTopic,
  V2,
  type AppKind,
  type KafkaJsVersion,
} from './kafka';

const CONFLUENT_SCOPE = '@threadline/kafkajs/confluent-kafka';
const KAFKAJS_SCOPE = '@threadline/kafkajs';

interface Combo {
  app: AppKind;
  version: KafkaJsVersion;
  name: string;
}
const CHAINS: Combo[] = [
  { app: 'esm', version: CONFLUENT_NEWEST, name: 'ck-esm-new' },
  { app: 'cjs', version: CONFLUENT_NEWEST, name: 'ck-cjs-new' },
  { app: 'esm', version: CONFLUENT_OLDEST, name: 'ck-esm-old' },
  { app: 'cjs', version: CONFLUENT_OLDEST, name: 'ck-cjs-old' },
];

interface Pair {
  app: AppKind;
  producer: KafkaJsVersion;
  consumer: KafkaJsVersion;
  name: string;
}
const PAIRS: Pair[] = [
  { app: 'esm', producer: V2, consumer: CONFLUENT_NEWEST, name: 'kjs-to-ck-esm' },
  { app: 'cjs', producer: V2, consumer: CONFLUENT_NEWEST, name: 'kjs-to-ck-cjs' },
  { app: 'esm', producer: CONFLUENT_NEWEST, consumer: V2, name: 'ck-to-kjs-esm' },
  { app: 'cjs', producer: CONFLUENT_NEWEST, consumer: V2, name: 'ck-to-kjs-cjs' },
];

let collector: SpanCollector;
const ofServices = (spans: CollectedSpan[], prefix: string) => spans.filter((span) => span.serviceName.startsWith(prefix));
const chains = new Map<string, { spans: CollectedSpan[]; first: string; second: string; a: any; b: any; c: any }>();
const pairs = new Map<string, { spans: CollectedSpan[]; topic: string; produced: any; consumed: any }>();
let transactional: { spans: CollectedSpan[]; topic: string; produced: any; consumed: any };
let batch: { spans: CollectedSpan[]; topic: string; produced: any; consumed: any };

async function runChain(combo: Combo) {
  const first = uniqueTopic(`hop1-${combo.name}`);
  const second = uniqueTopic(`hop2-${combo.name}`);
  await createTopics([first, second]);
  const common = { app: combo.app, version: combo.version, collector };
  const service = (role: string) => `${combo.name}-${role}`;
  const [a, b, c] = await Promise.all([
    runApp({ ...common, service: service('A'), scenario: { role: 'produce', sends: [{ topic: first, messages: [{ key: 'order-1', value: 'first hop' }] }] } }),
    runApp({ ...common, service: service('B'), scenario: { role: 'consume', topic: first, groupId: uniqueGroup(service('B')), count: 1, forwardTo: second } }),
    runApp({ ...common, service: service('C'), scenario: { role: 'consume', topic: second, groupId: uniqueGroup(service('C')), count: 1 } }),
  ]);
  const spans = await collector.waitFor((all) => ofServices(all, `${combo.name}-`).length >= 7, { timeoutMs: 20000 });
  chains.set(combo.name, { spans: ofServices(spans, `${combo.name}-`), first, second, a, b, c });
}

async function runPair(pair: Pair) {
  const topic = uniqueTopic(pair.name);
  await createTopics([topic]);
  const [produced, consumed] = await Promise.all([
    runApp({
      app: pair.app,
      version: pair.producer,
      collector,
      service: `${pair.name}-producer`,
      // Binary and text headers of the user's own travel next to the context header.
      scenario: { role: 'produce', sends: [{ topic, messages: [{ value: 'across clients', headers: { 'x-text': 'hello', 'x-bin': { b64: 'AP8Q' } } }] }] },
    }),
    runApp({ app: pair.app, version: pair.consumer, collector, service: `${pair.name}-consumer`, scenario: { role: 'consume', topic, groupId: uniqueGroup(pair.name), count: 1 } }),
  ]);
  const spans = await collector.waitFor((all) => ofServices(all, `${pair.name}-`).length >= 4, { timeoutMs: 20000 });
  pairs.set(pair.name, { spans: ofServices(spans, `${pair.name}-`), topic, produced, consumed });
}

async function runTransactional() {
  const topic = uniqueTopic('ck-transactional');
  await createTopics([topic]);
  const common = { app: 'cjs' as const, version: CONFLUENT_NEWEST, collector };
  const [produced, consumed] = await Promise.all([
    runApp({
      ...common,
      service: 'ck-tx-producer',
      scenario: {
        role: 'produce',
        transactional: true,
        sends: [
          { span: 'tx-send', topic, messages: [{ value: 'one' }] },
          { span: 'tx-batch', topicMessages: [{ topic, messages: [{ value: 'two' }, { value: 'three' }] }] },
        ],
      },
    }),
    runApp({ ...common, service: 'ck-tx-consumer', scenario: { role: 'consume', topic, groupId: uniqueGroup('ck-tx'), count: 3 } }),
  ]);
  const spans = await collector.waitFor((all) => ofServices(all, 'ck-tx-').length >= 10, { timeoutMs: 20000 });
  transactional = { spans: ofServices(spans, 'ck-tx-'), topic, produced, consumed };
}

/** Three sends, each in its own trace, all produced before the consumer starts: one eachBatch call. */
async function runBatch() {
  const topic = uniqueTopic('ck-batch');
  await createTopics([topic]);
  const common = { app: 'esm' as const, version: CONFLUENT_NEWEST, collector };
  const produced = await runApp({
    ...common,
    service: 'ck-batch-producer',
    scenario: { role: 'produce', sends: ['one', 'two', 'three'].map((value) => ({ span: `order ${value}`, topic, messages: [{ value }] })) },
  });
  const consumed = await runApp({
    ...common,
    service: 'ck-batch-consumer',
    scenario: { role: 'consume', handler: 'batch', topic, groupId: uniqueGroup('ck-batch'), count: 3 },
    env: { THREADLINE_FOLLOW_PULLS: 'false' },
  });
  const spans = await collector.waitFor((all) => ofServices(all, 'ck-batch-').length >= 10, { timeoutMs: 20000 });
  batch = { spans: ofServices(spans, 'ck-batch-'), topic, produced, consumed };
}

beforeAll(async () => {
  collector = await startCollector();
  await createTopics([]); // fails fast, with a clear message, when the broker is not there
  // In two waves: each librdkafka client starts threads, and the machine has two cores.
  await Promise.all([...CHAINS.map(runChain), runTransactional()]);
  await Promise.all([...PAIRS.map(runPair), runBatch()]);
}, 300000);

afterAll(async () => {
  await collector?.close();
  removeEsmEntries();
  await deleteCreatedTopics();
});

describe.each(CHAINS)('$app app, $version.label', (combo) => {
  const chain = () => chains.get(combo.name)!;
  const svc = (role: string) => `${combo.name}-${role}`;

  test("two processes: one trace; B's process span is the child of A's send span, and B's handler runs in it", () => {
    const { spans, first, a, b } = chain();
    const send = findSpan(spans, { name: `send ${first}`, service: svc('A'), kind: 'PRODUCER' });
    const process = findSpan(spans, { name: `process ${first}`, service: svc('B'), kind: 'CONSUMER' });
    assertParentChild(spans, { name: 'checkout', service: svc('A') }, { name: `send ${first}`, service: svc('A') });
    assertParentChild(spans, { name: `send ${first}`, service: svc('A') }, { name: `process ${first}`, service: svc('B') });
    expect(a.sends).toEqual([{ ok: true, span: { traceId: send.traceId, spanId: expect.any(String) } }]);
    expect(b.received[0].active).toEqual({ traceId: send.traceId, spanId: process.spanId });
    expect(send.scope).toBe(CONFLUENT_SCOPE);
    expect(process.scope).toBe(CONFLUENT_SCOPE);
  });

  test("three hops: the user's next span after eachMessage is in the producer's trace; no orphans", () => {
    const { spans, first, second } = chain();
    assertSingleTrace(spans);
    assertNoOrphans(spans);
    assertParentChild(spans, { name: `process ${first}`, service: svc('B') }, { name: `handle ${first}`, service: svc('B') });
    assertParentChild(spans, { name: `handle ${first}`, service: svc('B') }, { name: `send ${second}`, service: svc('B') });
    assertParentChild(spans, { name: `send ${second}`, service: svc('B') }, { name: `process ${second}`, service: svc('C') });
    assertParentChild(spans, { name: `process ${second}`, service: svc('C') }, { name: `handle ${second}`, service: svc('C') });
    expect(spans).toHaveLength(7);
  });

  test('attributes follow the messaging conventions, read from the `kafkaJS` config', () => {
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
  });
});

describe.each(PAIRS)('$app apps: $producer.label produces, $consumer.label consumes', (pair) => {
  test("one trace: the consumer's process span is the child of the producer's send span; user headers arrive as sent", () => {
    const { spans, topic, produced, consumed } = pairs.get(pair.name)!;
    expect(produced.sends[0].ok).toBe(true);
    const send = findSpan(spans, { name: `send ${topic}`, service: `${pair.name}-producer`, kind: 'PRODUCER' });
    const process = findSpan(spans, { name: `process ${topic}`, service: `${pair.name}-consumer`, kind: 'CONSUMER' });
    expect(process.parentSpanId).toBe(send.spanId);
    expect(process.traceId).toBe(send.traceId);
    assertParentChild(spans, { name: `process ${topic}`, service: `${pair.name}-consumer` }, { name: `handle ${topic}`, service: `${pair.name}-consumer` });
    expect(send.scope).toBe(pair.producer.client === 'confluent' ? CONFLUENT_SCOPE : KAFKAJS_SCOPE);
    expect(process.scope).toBe(pair.consumer.client === 'confluent' ? CONFLUENT_SCOPE : KAFKAJS_SCOPE);
    const { traceparent, ...userHeaders } = consumed.received[0].headers;
    // Both clients hand header values to the handler as Buffers.
    expect(userHeaders).toEqual({ 'x-text': { b64: Buffer.from('hello').toString('base64') }, 'x-bin': { b64: 'AP8Q' } });
    expect(Buffer.from(traceparent.b64, 'base64').toString()).toBe(`00-${send.traceId}-${send.spanId}-01`);
  });
});

describe('transactions (@confluentinc/kafka-javascript 1.10, CJS)', () => {
  test('transaction().send and .sendBatch carry context, with one send span per call (sendBatch calls send inside)', () => {
    const { spans, topic, produced, consumed } = transactional;
    expect(produced.sends.map((send: any) => send.ok)).toEqual([true, true]);
    expect(consumed.received).toHaveLength(3);
    const sends = findSpans(spans, { name: `send ${topic}` });
    expect(sends).toHaveLength(2);
    const sendOne = findSpan(sends, (span) => span.parentSpanId === findSpan(spans, 'tx-send').spanId);
    const sendBatch = findSpan(sends, (span) => span.parentSpanId === findSpan(spans, 'tx-batch').spanId);
    expect(sendBatch.attributes['messaging.batch.message_count']).toBe(2);
    const processes = findSpans(spans, { name: `process ${topic}` });
    expect(processes.map((span) => span.parentSpanId).sort()).toEqual([sendOne.spanId, sendBatch.spanId, sendBatch.spanId].sort());
  });
});

describe('eachBatch (@confluentinc/kafka-javascript 1.10, ESM)', () => {
  test("one process span links every message; withMessageContext runs each message's work in its producer's trace", () => {
    const { spans, topic, produced, consumed } = batch;
    expect(consumed.how).toBe('done');
    const batchSpans = findSpans(spans, { name: `process ${topic}`, service: 'ck-batch-consumer' });
    const sends = findSpans(spans, { name: `send ${topic}`, service: 'ck-batch-producer' });
    expect(sends).toHaveLength(3);
    // librdkafka may hand the three messages over in more than one batch; every message is linked once.
    const linked = batchSpans.flatMap((span) => span.links.map((link) => link.spanId));
    expect(linked.sort()).toEqual(sends.map((span) => span.spanId).sort());
    consumed.received.forEach((entry: any, index: number) => {
      const producedIn = produced.sends[index].span.traceId;
      // The handler's own span for each message is in that message's producer trace.
      expect(entry.handle.traceId).toBe(producedIn);
      expect(batchSpans.map((span) => span.spanId)).toContain(entry.batch.spanId);
    });
  });
});
