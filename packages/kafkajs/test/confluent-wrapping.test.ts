// Unit level, on a stand-in for @confluentinc/kafka-javascript's KafkaJS namespace: where the API
// is found, the config shapes it reads, and patch/unpatch. The real client runs in confluent.test.ts.
import { isWrapped } from '@opentelemetry/instrumentation';
import { setupInMemoryOtel } from '@threadline/testing';
import { CONFLUENT_KAFKA_SCOPE_NAME, CONFLUENT_KAFKA_SUPPORTED_VERSIONS, ConfluentKafkaInstrumentation } from '../src';

const { exporter, logs } = setupInMemoryOtel();

type AnyRecord = Record<string, any>;

function fakeConfluent() {
  const sent: AnyRecord[] = [];
  let runConfig: AnyRecord | undefined;
  // The client's producer() takes its config and keeps it; only send/sendBatch matter here.
  class Kafka {
    constructor(readonly config: AnyRecord) {}
    producer(_config?: AnyRecord) {
      const producer = {
        send: async (record: AnyRecord) => (sent.push(record), []),
        // As the real client: sendBatch sends each topic's record through its own send().
        async sendBatch(this: AnyRecord, batch: AnyRecord) {
          return (await Promise.all(batch.topicMessages.map((entry: AnyRecord) => this.send(entry)))).flat();
        },
      };
      return producer;
    }
    consumer(_config?: AnyRecord) {
      return {
        async run(config: AnyRecord) {
          runConfig = config;
        },
      };
    }
  }
  const KafkaJS = { Kafka };
  return { module: { KafkaJS, RdKafka: {} } as AnyRecord, KafkaJS, sent, runConfig: () => runConfig! };
}

function setup(kafkaConfig: AnyRecord) {
  const instrumentation = new ConfluentKafkaInstrumentation({ followPulls: false });
  const fake = fakeConfluent();
  const [definition] = instrumentation.getModuleDefinitions();
  definition.patch!(fake.module, '1.10.1');
  return { instrumentation, definition, fake, kafka: new fake.KafkaJS.Kafka(kafkaConfig) };
}

beforeEach(() => {
  exporter.reset();
  logs.length = 0;
});

test('the module, range and scope are those of @confluentinc/kafka-javascript', () => {
  const [definition] = new ConfluentKafkaInstrumentation({ enabled: false }).getModuleDefinitions();
  expect(definition.name).toBe('@confluentinc/kafka-javascript');
  expect(definition.supportedVersions).toEqual(CONFLUENT_KAFKA_SUPPORTED_VERSIONS);
  expect(CONFLUENT_KAFKA_SUPPORTED_VERSIONS).toEqual(['>=1.0.0 <2']);
  expect(new ConfluentKafkaInstrumentation({ enabled: false }).instrumentationName).toBe(CONFLUENT_KAFKA_SCOPE_NAME);
});

test('client id, broker and group id come from librdkafka keys when there is no kafkaJS block', async () => {
  const { kafka, fake } = setup({ 'bootstrap.servers': '127.0.0.1:9092', 'client.id': 'rd-shop' });
  await kafka.producer().send({ topic: 'orders', messages: [{ value: 'x' }] });
  const consumer = kafka.consumer({ 'group.id': 'rd-group' });
  await consumer.run({ eachMessage: async () => undefined });
  await fake.runConfig().eachMessage({ topic: 'orders', partition: 0, message: { value: Buffer.from('x'), offset: '0', headers: fake.sent[0].messages[0].headers } });
  const [send, process] = exporter.getFinishedSpans();
  expect(send.attributes).toMatchObject({ 'messaging.client.id': 'rd-shop', 'server.address': '127.0.0.1', 'server.port': 9092 });
  expect(process.attributes).toMatchObject({ 'messaging.client.id': 'rd-shop', 'messaging.consumer.group.name': 'rd-group' });
  expect(process.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
});

test('the kafkaJS block wins over librdkafka keys', async () => {
  const { kafka } = setup({ kafkaJS: { brokers: ['10.0.0.1:9093'], clientId: 'kjs' }, 'client.id': 'rd' });
  await kafka.producer().send({ topic: 'orders', messages: [{ value: 'x' }] });
  expect(exporter.getFinishedSpans()[0].attributes).toMatchObject({ 'messaging.client.id': 'kjs', 'server.address': '10.0.0.1', 'server.port': 9093 });
});

test("sendBatch through the client's own send: one span per topic, each message injected once", async () => {
  const { kafka, fake } = setup({ kafkaJS: { brokers: ['127.0.0.1:9092'] } });
  await kafka.producer().sendBatch({ topicMessages: [{ topic: 'a', messages: [{ value: '1' }] }, { topic: 'b', messages: [{ value: '2', headers: null }] }] });
  expect(exporter.getFinishedSpans().map((span) => span.name).sort()).toEqual(['send a', 'send b']);
  const [a, b] = exporter.getFinishedSpans().sort((x, y) => x.name.localeCompare(y.name));
  expect(fake.sent.map((record) => record.messages[0].headers.traceparent)).toEqual([a, b].map((span) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`));
});

test('a config that is not an object, or a namespace without Kafka, is left alone', () => {
  const { kafka } = setup(undefined as unknown as AnyRecord);
  expect(() => kafka.producer()).not.toThrow();
  const instrumentation = new ConfluentKafkaInstrumentation();
  const module = { KafkaJS: {} };
  expect(instrumentation.getModuleDefinitions()[0].patch!(module, '1.10.1')).toBe(module);
  expect(logs.some((log) => log.message.includes('exports no Kafka class'))).toBe(true);
});

test('unpatch restores KafkaJS.Kafka and its prototype', () => {
  const { definition, fake } = setup({});
  const Tracked = fake.KafkaJS.Kafka;
  expect(isWrapped(Tracked)).toBe(true);
  expect(isWrapped(Tracked.prototype.producer)).toBe(true);
  definition.unpatch!(fake.module, '1.10.1');
  expect(fake.KafkaJS.Kafka).not.toBe(Tracked);
  expect(isWrapped(fake.KafkaJS.Kafka)).toBe(false);
  expect(isWrapped(fake.KafkaJS.Kafka.prototype.producer)).toBe(false);
  expect(isWrapped(fake.KafkaJS.Kafka.prototype.consumer)).toBe(false);
  expect(new fake.KafkaJS.Kafka({}) instanceof fake.KafkaJS.Kafka).toBe(true);
});
