// @confluentinc/kafka-javascript's KafkaJS API next to kafkajs on the real broker, each app in its
// own process under the register hook: kafkajs → confluent and confluent → kafkajs in one trace
// (ESM and CJS), and eachBatch. The A → B → C chains and transactions are in trace.test.ts.
import { assertParentChild, findSpan, findSpans, startCollector, type CollectedSpan, type SpanCollector } from '@threadline/testing';
import { CONFLUENT_KAFKA_SCOPE_NAME as CONFLUENT_SCOPE } from '../src';
import { CONFLUENT_NEWEST, createTopics, deleteCreatedTopics, removeEsmEntries, runApp, uniqueGroup, uniqueTopic, V2, type AppKind, type KafkaJsVersion } from './kafka';

const KAFKAJS_SCOPE = '@threadline/kafkajs';

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
const pairs = new Map<string, { spans: CollectedSpan[]; topic: string; produced: any; consumed: any }>();
let batch: { spans: CollectedSpan[]; topic: string; produced: any; consumed: any };

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
  await Promise.all([...PAIRS.map(runPair), runBatch()]);
}, 300000);

afterAll(async () => {
  await collector?.close();
  removeEsmEntries();
  await deleteCreatedTopics();
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
