// Unit level: the wrapping itself, on a stand-in for kafkajs' objects, where a broker adds nothing
// (cloning, bad input, error passing, attributes). The real kafkajs is exercised in the
// integration tests, which run fixtures as child processes against the real Kafka.
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { kafkaHeadersAdapter } from '@threadline/carrier';
import {
  KafkaJsInstrumentation,
  SUPPORTED_VERSIONS,
  withMessageContext,
  type KafkaJsInstrumentationConfig,
} from '../src';
import { setupInMemoryOtel, VALID_TRACEPARENT } from '@threadline/testing';

const { exporter, tracer, logs } = setupInMemoryOtel();

type AnyRecord = Record<string, any>;

/** The shape of kafkajs' module: a Kafka class whose producer()/consumer() return plain objects. */
function fakeKafkajs() {
  const sent: AnyRecord[] = [];
  const batches: AnyRecord[] = [];
  let runConfig: AnyRecord | undefined;
  const failure = new Error('broker said no');
  const sender = () => ({
    async send(record: AnyRecord) {
      sent.push(record);
      if (record?.topic === 'fail') throw failure;
      return [{ topicName: record?.topic, partition: 0, errorCode: 0 }];
    },
    async sendBatch(batch: AnyRecord) {
      batches.push(batch);
      return [];
    },
  });
  class Kafka {
    constructor(readonly config: AnyRecord) {}
    producer() {
      return {
        ...sender(),
        connect: async () => undefined,
        async transaction() {
          return { ...sender(), commit: async () => undefined, abort: async () => undefined, isActive: () => true };
        },
      };
    }
    consumer(config: AnyRecord) {
      return {
        groupId: config.groupId,
        async run(config: AnyRecord) {
          runConfig = config;
        },
      };
    }
  }
  return { module: { Kafka } as AnyRecord, sent, batches, failure, runConfig: () => runConfig! };
}

function setup(config: KafkaJsInstrumentationConfig = {}, kafkaConfig: AnyRecord = { brokers: ['127.0.0.1:9092'], clientId: 'shop' }) {
  const instrumentation = new KafkaJsInstrumentation(config);
  const fake = fakeKafkajs();
  const [definition] = instrumentation.getModuleDefinitions();
  definition.patch!(fake.module, '2.2.4');
  const kafka = new fake.module.Kafka(kafkaConfig);
  return { instrumentation, fake, kafka, producer: kafka.producer(), definition };
}

const spans = () => exporter.getFinishedSpans();
const traceparentOf = (span: { spanContext(): { traceId: string; spanId: string } }) =>
  `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
const flush = () => new Promise((resolve) => setImmediate(resolve));

beforeEach(() => {
  exporter.reset();
  logs.length = 0;
});

test('the supported range is closed', () => {
  expect(SUPPORTED_VERSIONS).toEqual(['>=1.16.0 <3']);
  const [definition] = new KafkaJsInstrumentation({ enabled: false }).getModuleDefinitions();
  expect(definition.name).toBe('kafkajs');
  expect(definition.supportedVersions).toEqual(['>=1.16.0 <3']);
});

describe('producer', () => {
  test('one PRODUCER span per send(); every message carries it; the caller\'s objects are untouched', async () => {
    const { producer, fake } = setup();
    const headers = { 'x-user': 'kept', bin: Buffer.from([0xff, 0x00]) };
    const first = Object.freeze({ key: 'k1', value: 'v1', headers: Object.freeze(headers) });
    const second = { value: Buffer.from('v2') };
    const record = { topic: 'orders', messages: [first, second], acks: -1 };
    await producer.send(record);

    const [send] = spans();
    expect(spans()).toHaveLength(1);
    expect(send.name).toBe('send orders');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.destination.name': 'orders',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.batch.message_count': 2,
      'messaging.client.id': 'shop',
      'server.address': '127.0.0.1',
      'server.port': 9092,
    });
    // What kafkajs received: clones that carry the span's context, everything else as given.
    const [call] = fake.sent;
    expect(call).not.toBe(record);
    expect(call.acks).toBe(-1);
    expect(call.messages[0]).not.toBe(first);
    expect(call.messages[0].headers).toEqual({ 'x-user': 'kept', bin: Buffer.from([0xff, 0x00]), traceparent: traceparentOf(send) });
    expect(call.messages[0].headers.bin).toBe(headers.bin);
    expect(call.messages[1].headers).toEqual({ traceparent: traceparentOf(send) });
    expect(call.messages[1].value).toBe(second.value);
    // The caller's objects: unchanged.
    expect(Object.keys(headers)).toEqual(['x-user', 'bin']);
    expect(second).toEqual({ value: Buffer.from('v2') });
    expect(record.messages).toEqual([first, second]);
  });

  test('a single message sets no batch count, and the send span is the child of the active span', async () => {
    const { producer } = setup();
    const parent = tracer.startSpan('checkout');
    await context.with(trace.setSpan(ROOT_CONTEXT, parent), () => producer.send({ topic: 't', messages: [{ value: 'x' }] }));
    parent.end();
    const send = spans().find((span) => span.name === 'send t')!;
    expect(send.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(send.attributes['messaging.batch.message_count']).toBeUndefined();
  });

  test('a message that already carries a context keeps it, whatever its case or validity', async () => {
    const { producer, fake } = setup();
    const explicit = { value: 'a', headers: { traceparent: VALID_TRACEPARENT } };
    const upper = { value: 'b', headers: { TraceParent: 'garbage' } };
    await producer.send({ topic: 't', messages: [explicit, upper] });
    const [call] = fake.sent;
    expect(call.messages[0]).toBe(explicit);
    expect(call.messages[1]).toBe(upper);
    expect(explicit.headers).toEqual({ traceparent: VALID_TRACEPARENT });
  });

  test('bad input goes to kafkajs exactly as given, and nothing throws', async () => {
    const { producer, fake } = setup();
    const nullHeaders = { value: 'a', headers: null };
    const stringHeaders = { value: 'b', headers: 'abc' };
    const arrayHeaders = { value: 'c', headers: ['x'] };
    const bufferHeaders = { value: 'd', headers: Buffer.from('x') };
    const numberValue = { value: 'e', headers: { n: 5, o: { deep: true }, u: undefined } };
    const weird = [null, 7, 'text', undefined];
    const noValue = { headers: { a: 'b' } };
    const messages = [nullHeaders, stringHeaders, arrayHeaders, bufferHeaders, numberValue, ...weird, noValue];
    await expect(producer.send({ topic: 't', messages })).resolves.toBeDefined();
    const [call] = fake.sent;
    for (const index of [0, 1, 2, 3, 5, 6, 7, 8, 9]) expect(call.messages[index]).toBe(messages[index]);
    // Odd values in an object are kafkajs' to reject; the context is added next to them, the values are kept.
    expect(call.messages[4].headers.n).toBe(5);
    expect(call.messages[4].headers.o).toBe(numberValue.headers.o);
    expect(call.messages[4].headers.traceparent).toMatch(/^00-/);
    expect(numberValue.headers).toEqual({ n: 5, o: { deep: true }, u: undefined });
    // Malformed calls are not ours to judge: kafkajs gets the very same arguments.
    for (const bad of [undefined, null, 'x', { topic: 1, messages: [] }, { topic: 't', messages: 'no' }]) {
      await producer.send(bad as never);
      expect(fake.sent.at(-1)).toBe(bad);
    }
    for (const bad of [undefined, { topicMessages: 'no' }, { acks: 1 }]) {
      await producer.sendBatch(bad as never);
      expect(fake.batches.at(-1)).toBe(bad);
    }
    expect(spans()).toHaveLength(1);
  });

  test('a rejected send ends its span with an error and passes the very same error on', async () => {
    const { producer, fake } = setup();
    const caught = await producer.send({ topic: 'fail', messages: [{ value: 'x' }] }).catch((error: unknown) => error);
    expect(caught).toBe(fake.failure);
    await flush();
    const [send] = spans();
    expect(send.status.code).toBe(SpanStatusCode.ERROR);
    expect(send.attributes['error.type']).toBe('Error');
  });

  test('sendBatch: one span per topic, each topic\'s messages carry that topic\'s span', async () => {
    const { producer, fake } = setup();
    const batch = {
      acks: 1,
      topicMessages: [
        { topic: 'a', messages: [{ value: '1' }] },
        { topic: 'b', messages: [{ value: '2' }, { value: '3' }] },
        { topic: 'a', messages: [{ value: '4' }] },
        null,
      ],
    };
    await producer.sendBatch(batch);
    const byName = new Map(spans().map((span) => [span.name, span]));
    expect([...byName.keys()].sort()).toEqual(['send a', 'send b']);
    expect(byName.get('send a')!.attributes['messaging.batch.message_count']).toBe(2);
    expect(byName.get('send b')!.attributes['messaging.batch.message_count']).toBe(2);
    const [call] = fake.batches;
    const carried = (entry: AnyRecord) => entry.messages.map((message: AnyRecord) => message.headers.traceparent);
    expect(carried(call.topicMessages[0])).toEqual([traceparentOf(byName.get('send a')!)]);
    expect(carried(call.topicMessages[1])).toEqual(Array(2).fill(traceparentOf(byName.get('send b')!)));
    expect(carried(call.topicMessages[2])).toEqual([traceparentOf(byName.get('send a')!)]);
    expect(call.topicMessages[3]).toBeNull();
    expect(call.acks).toBe(1);
    expect(batch.topicMessages[0]!.messages[0]).toEqual({ value: '1' });
  });

  test('transaction().send and sendBatch are instrumented', async () => {
    const { producer, fake } = setup();
    const transaction = await producer.transaction();
    await transaction.send({ topic: 'tx', messages: [{ value: '1' }] });
    await transaction.sendBatch({ topicMessages: [{ topic: 'tx2', messages: [{ value: '2' }] }] });
    await transaction.commit();
    expect(spans().map((span) => span.name).sort()).toEqual(['send tx', 'send tx2']);
    expect(fake.sent[0].messages[0].headers.traceparent).toBe(traceparentOf(spans().find((s) => s.name === 'send tx')!));
  });

  test('propagation-only: no span, the active context travels', async () => {
    const { producer, fake } = setup({ mode: 'propagation-only' });
    const parent = tracer.startSpan('checkout');
    await context.with(trace.setSpan(ROOT_CONTEXT, parent), () => producer.send({ topic: 't', messages: [{ value: 'x' }] }));
    parent.end();
    expect(spans().map((span) => span.name)).toEqual(['checkout']);
    expect(fake.sent[0].messages[0].headers.traceparent).toBe(traceparentOf(parent));
  });

  test('a message that fits the broker only without the context headers is sent without them', async () => {
    const { producer, fake } = setup({ maxMessageBytes: 4096 });
    const fits = { value: 'x'.repeat(3000) };
    const nearLimit = { value: 'x'.repeat(3990) };
    const tooLargeAnyway = { value: 'x'.repeat(5000) };
    await producer.send({ topic: 't', messages: [fits, nearLimit, tooLargeAnyway] });
    const [call] = fake.sent;
    expect(call.messages[0].headers.traceparent).toMatch(/^00-/);
    expect(call.messages[1]).toBe(nearLimit);
    // Too large with or without context: it goes exactly as given, so kafkajs and the broker
    // decide as they would uninstrumented.
    expect(call.messages[2]).toBe(tooLargeAnyway);
    expect(logs.some((log) => log.level === 'warn' && /maxMessageBytes \(4096\)/.test(log.message))).toBe(true);
  });

  test('server.* only when one broker is known; the Kafka class still behaves as before', () => {
    const several = setup({}, { brokers: ['a:9092', 'b:9092'], clientId: 'x' });
    const dynamic = setup({}, { brokers: async () => ['a:9092'] });
    const v6 = setup({}, { brokers: ['[::1]:9093'] });
    const attributesOf = async (producer: AnyRecord) => {
      exporter.reset();
      await producer.send({ topic: 't', messages: [{ value: 'x' }] });
      return spans()[0].attributes;
    };
    return (async () => {
      expect(await attributesOf(several.producer)).not.toHaveProperty('server.address');
      expect(await attributesOf(dynamic.producer)).not.toHaveProperty('server.address');
      expect(await attributesOf(v6.producer)).toMatchObject({ 'server.address': '::1', 'server.port': 9093 });
      const { kafka, fake } = v6;
      expect(kafka.config).toEqual({ brokers: ['[::1]:9093'] });
      expect(fake.module.Kafka.name).toBe('Kafka');
      expect(kafka).toBeInstanceOf(fake.module.Kafka.__original);
      // Clients made from the unpatched class still count as instances; a user's subclass keeps its own check.
      expect(new fake.module.Kafka.__original({})).toBeInstanceOf(fake.module.Kafka);
      const Patched = fake.module.Kafka as new (config: AnyRecord) => object;
      class Mine extends Patched {}
      expect(new Mine({})).toBeInstanceOf(Mine);
      expect(kafka).not.toBeInstanceOf(Mine);
    })();
  });

  test('an ESM namespace: the named export and `default.Kafka` (the CJS exports) are both instrumented', async () => {
    const instrumentation = new KafkaJsInstrumentation();
    const fake = fakeKafkajs();
    const cjsExports = fake.module;
    const namespace: AnyRecord = { Kafka: cjsExports.Kafka, default: cjsExports };
    const original = cjsExports.Kafka;
    instrumentation.getModuleDefinitions()[0].patch!(namespace, '2.2.4');
    expect(namespace.Kafka).not.toBe(original);
    expect(cjsExports.Kafka).not.toBe(original);
    for (const Kafka of [namespace.Kafka, cjsExports.Kafka]) {
      await new Kafka({ brokers: ['h:1'], clientId: 'both' }).producer().send({ topic: 't', messages: [{ value: 'x' }] });
    }
    expect(spans().map((span) => span.attributes['messaging.client.id'])).toEqual(['both', 'both']);
    expect(new cjsExports.Kafka({})).toBeInstanceOf(namespace.Kafka);
    instrumentation.getModuleDefinitions()[0].unpatch!(namespace, '2.2.4');
    expect(cjsExports.Kafka).toBe(original);
  });

  test('patching twice wraps once; unpatching restores kafkajs', async () => {
    const { fake, definition } = setup();
    const patched = fake.module.Kafka;
    const producerMethod = patched.prototype.producer;
    definition.patch!(fake.module, '2.2.4');
    expect(fake.module.Kafka).toBe(patched);
    expect(patched.prototype.producer).toBe(producerMethod);
    await new fake.module.Kafka({ brokers: ['h:1'] }).producer().send({ topic: 't', messages: [{ value: 'x' }] });
    expect(spans()).toHaveLength(1);
    definition.unpatch!(fake.module, '2.2.4');
    expect(fake.module.Kafka.__wrapped).toBeUndefined();
    expect(fake.module.Kafka.prototype.producer.__wrapped).toBeUndefined();
  });

  test('a disabled instrumentation passes calls through untouched', async () => {
    const { instrumentation, producer, fake } = setup();
    instrumentation.disable();
    const record = { topic: 't', messages: [{ value: 'x' }] };
    await producer.send(record);
    expect(fake.sent[0]).toBe(record);
    expect(spans()).toHaveLength(0);
  });
});

describe('consumer', () => {
  const header = (value: string) => Buffer.from(value);

  function consumerSetup(config: KafkaJsInstrumentationConfig = {}, handlers: AnyRecord = {}) {
    const { kafka, fake } = setup(config);
    const consumer = kafka.consumer({ groupId: 'billing' });
    const runConfig: AnyRecord = { autoCommit: false, ...handlers };
    void consumer.run(runConfig);
    return { given: runConfig, wrapped: fake.runConfig() };
  }

  test('eachMessage: a CONSUMER span, child of the message\'s context, active in the handler', async () => {
    let active: unknown;
    const handler = async function (this: unknown) {
      active = trace.getSpan(context.active());
      return this;
    };
    const { given, wrapped } = consumerSetup({}, { eachMessage: handler, eachBatch: undefined });
    expect(given.eachMessage).toBe(handler);
    expect(wrapped).not.toBe(given);
    expect(wrapped.autoCommit).toBe(false);
    expect(wrapped.eachBatch).toBeUndefined();
    const runner = { name: 'runner' };
    const message = { key: header('user-42'), value: header('{}'), offset: '17', headers: { traceparent: header(VALID_TRACEPARENT) } };
    const returned = await wrapped.eachMessage.call(runner, { topic: 'orders', partition: 3, message });
    expect(returned).toBe(runner);
    const [process] = spans();
    expect(process.name).toBe('process orders');
    expect(process.kind).toBe(SpanKind.CONSUMER);
    expect(process.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(process.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(active).toBeDefined();
    expect((active as { spanContext(): { spanId: string } }).spanContext().spanId).toBe(process.spanContext().spanId);
    expect(process.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.destination.name': 'orders',
      'messaging.destination.partition.id': '3',
      'messaging.kafka.offset': 17,
      'messaging.consumer.group.name': 'billing',
      'messaging.operation.type': 'process',
      'messaging.message.body.size': 2,
    });
    expect(process.attributes).not.toHaveProperty('messaging.kafka.message.key');
    expect(process.attributes).not.toHaveProperty('messaging.kafka.message.tombstone');
  });

  test('the key only with captureMessageKey; tombstones are marked', async () => {
    const { wrapped } = consumerSetup({ captureMessageKey: true }, { eachMessage: async () => undefined });
    await wrapped.eachMessage({ topic: 't', partition: 0, message: { key: header('user-42'), value: null, offset: '1', headers: {} } });
    expect(spans()[0].attributes).toMatchObject({ 'messaging.kafka.message.key': 'user-42', 'messaging.kafka.message.tombstone': true });
  });

  test('a rejecting handler: error status, and kafkajs gets the very same error (its retry logic is unchanged)', async () => {
    const failure = new TypeError('handler failed');
    const { wrapped } = consumerSetup({}, { eachMessage: async () => Promise.reject(failure) });
    const caught = await wrapped.eachMessage({ topic: 't', partition: 0, message: { value: null, offset: '1', headers: {} } }).catch((e: unknown) => e);
    expect(caught).toBe(failure);
    await flush();
    expect(spans()[0].status.code).toBe(SpanStatusCode.ERROR);
    expect(spans()[0].attributes['error.type']).toBe('TypeError');
    const thrown = new Error('sync');
    const sync = consumerSetup({}, { eachMessage: () => { throw thrown; } }).wrapped;
    expect(() => sync.eachMessage({ topic: 't', partition: 0, message: { value: null, offset: '2', headers: {} } })).toThrow(thrown);
  });

  test('bad incoming headers never throw: garbage, odd types, null headers, a missing message', async () => {
    const seen: unknown[] = [];
    const { wrapped } = consumerSetup({}, { eachMessage: async (payload: unknown) => { seen.push(payload); } });
    const odd = [
      { traceparent: header('garbage') },
      { traceparent: [header('00-zz'), 5] as never },
      { traceparent: 12 as never, tracestate: { x: 1 } as never },
      null,
      undefined,
      Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`h${index}`, header(String(index))])),
    ];
    for (const [index, headers] of odd.entries()) {
      await wrapped.eachMessage({ topic: 't', partition: 0, message: { value: header('v'), offset: String(index), headers } });
    }
    await wrapped.eachMessage({ topic: 't', partition: 0 });
    await wrapped.eachMessage(undefined);
    expect(seen).toHaveLength(odd.length + 2);
    expect(spans()).toHaveLength(odd.length);
    for (const span of spans()) expect(span.parentSpanContext).toBeUndefined();
  });

  test('useLinks: a new trace with a link to the producer', async () => {
    const { wrapped } = consumerSetup({ useLinks: true }, { eachMessage: async () => undefined });
    await wrapped.eachMessage({ topic: 't', partition: 0, message: { value: null, offset: '1', headers: { traceparent: header(VALID_TRACEPARENT) } } });
    const [process] = spans();
    expect(process.parentSpanContext).toBeUndefined();
    expect(process.links.map((link) => link.context.spanId)).toEqual(['b7ad6b7169203331']);
  });

  test('an incomingContext function sees the topic and the message', async () => {
    const decisions: string[] = [];
    const { wrapped } = consumerSetup(
      {
        incomingContext: (received) => {
          decisions.push(`${received.topic}:${received.kind}`);
          return received.topic === 'public' ? 'ignore' : 'parent';
        },
      },
      { eachMessage: async () => undefined },
    );
    const message = { value: null, offset: '1', headers: { traceparent: header(VALID_TRACEPARENT) } };
    await wrapped.eachMessage({ topic: 'public', partition: 0, message });
    await wrapped.eachMessage({ topic: 'internal', partition: 0, message });
    expect(decisions).toEqual(['public:message', 'internal:message']);
    const [untrusted, trusted] = spans();
    expect(untrusted.parentSpanContext).toBeUndefined();
    expect(untrusted.links).toHaveLength(0);
    expect(trusted.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
  });

  function batchOf(traceparents: (string | undefined)[]) {
    return {
      topic: 'orders',
      partition: 1,
      messages: traceparents.map((traceparent, index) => ({
        value: header(String(index)),
        offset: String(index),
        headers: traceparent === undefined ? {} : { traceparent: header(traceparent) },
      })),
    };
  }
  const producerContexts = ['00-11111111111111111111111111111111-1111111111111111-01', '00-22222222222222222222222222222222-2222222222222222-01'];

  test('eachBatch: one span, one link per message with a context, handler runs in it; withMessageContext per message', async () => {
    const perMessage: string[] = [];
    let active: unknown;
    const { wrapped } = consumerSetup({}, {
      eachBatch: async ({ batch }: AnyRecord) => {
        active = trace.getSpan(context.active());
        for (const message of batch.messages) {
          withMessageContext(message, () => {
            const span = tracer.startSpan('handle');
            perMessage.push(span.spanContext().traceId);
            span.end();
          });
        }
      },
    });
    await wrapped.eachBatch({ batch: batchOf([...producerContexts, undefined]) });
    const batchSpan = spans().find((span) => span.name === 'process orders')!;
    expect(batchSpan.kind).toBe(SpanKind.CONSUMER);
    expect(batchSpan.parentSpanContext).toBeUndefined();
    expect(batchSpan.links.map((link) => link.context.spanId)).toEqual(['1111111111111111', '2222222222222222']);
    expect(batchSpan.attributes).toMatchObject({
      'messaging.batch.message_count': 3,
      'messaging.destination.partition.id': '1',
      'messaging.consumer.group.name': 'billing',
      'messaging.operation.type': 'process',
    });
    expect((active as { spanContext(): { spanId: string } }).spanContext().spanId).toBe(batchSpan.spanContext().spanId);
    // Each message's work is in that message's trace; the one without context stays in the batch's.
    expect(perMessage).toEqual(['1'.repeat(32), '2'.repeat(32), batchSpan.spanContext().traceId]);
  });

  test('eachBatch with batchParent "first": the first message\'s context is the parent', async () => {
    const { wrapped } = consumerSetup({ batchParent: 'first' }, { eachBatch: async () => undefined });
    await wrapped.eachBatch({ batch: batchOf(producerContexts) });
    const [batchSpan] = spans();
    expect(batchSpan.parentSpanContext?.spanId).toBe('1111111111111111');
    expect(batchSpan.links).toHaveLength(2);
  });

  test('eachBatch in propagation-only mode: no span, the handler still runs', async () => {
    let ran = false;
    const { wrapped } = consumerSetup({ mode: 'propagation-only' }, { eachBatch: async () => { ran = true; } });
    await wrapped.eachBatch({ batch: batchOf(producerContexts) });
    expect(ran).toBe(true);
    expect(spans()).toHaveLength(0);
  });
});

test('withMessageContext is the carrier one-liner over the message headers', () => {
  const headers = { traceparent: Buffer.from(VALID_TRACEPARENT) };
  const seen = withMessageContext({ headers }, () => trace.getSpanContext(context.active())?.spanId);
  expect(seen).toBe('b7ad6b7169203331');
  expect(withMessageContext(null, () => 'still runs')).toBe('still runs');
  // The same context the carrier adapter reads directly (an extract always returns a context, so check its span).
  expect(trace.getSpanContext(propagation.extract(ROOT_CONTEXT, headers, kafkaHeadersAdapter))?.spanId).toBe('b7ad6b7169203331');
});

test('options can come from THREADLINE_KAFKAJS_* (for the register hook); the config wins', async () => {
  process.env.THREADLINE_KAFKAJS_CAPTURE_MESSAGE_KEY = 'true';
  process.env.THREADLINE_KAFKAJS_BATCH_PARENT = 'first';
  try {
    const fromEnv = setup();
    const consumer = fromEnv.kafka.consumer({ groupId: 'g' });
    void consumer.run({ eachMessage: async () => undefined });
    await fromEnv.fake.runConfig().eachMessage({ topic: 't', partition: 0, message: { key: 'k', value: null, offset: '0', headers: {} } });
    expect(spans()[0].attributes['messaging.kafka.message.key']).toBe('k');
    exporter.reset();
    const explicit = setup({ captureMessageKey: false });
    void explicit.kafka.consumer({ groupId: 'g' }).run({ eachMessage: async () => undefined });
    await explicit.fake.runConfig().eachMessage({ topic: 't', partition: 0, message: { key: 'k', value: null, offset: '0', headers: {} } });
    expect(spans()[0].attributes).not.toHaveProperty('messaging.kafka.message.key');
  } finally {
    delete process.env.THREADLINE_KAFKAJS_CAPTURE_MESSAGE_KEY;
    delete process.env.THREADLINE_KAFKAJS_BATCH_PARENT;
  }
});
