// kafkajs transport path, fuzzed in process: the instrumentation patches a stand-in kafkajs module
// (as the package's own wrapping tests do); the stand-in producer encodes every message with
// kafkajs' REAL record encoder, so "byte-identical" is checked on the bytes kafkajs would send.
import { context, propagation, ROOT_CONTEXT, trace, type Context, type SpanContext } from '@opentelemetry/api';
import { KafkaJsInstrumentation, type KafkaJsInstrumentationConfig } from '@threadline/kafkajs';
import { setupInMemoryOtel } from '@threadline/testing';
import fc from 'fast-check';
import {
  assertNoPollution,
  checkDelivery,
  consumerConfig,
  consumerConfigArb,
  effectivePolicy,
  assertValidOrAbsent,
  describe as show,
  hostileMap,
  hostileValue,
  mapWithContext,
  nonUtf8Buffer,
  numRuns,
  ownEntries,
  PROPAGATION_FIELDS,
  sameEntries,
  spanContextArb,
  type Outcome,
} from './hostile';
import { kafkajsFile } from './internals';

const { exporter } = setupInMemoryOtel();
const encodeRecord: (record: { key?: unknown; value?: unknown; headers?: unknown }) => { buffer: Buffer } = kafkajsFile(
  'src/protocol/recordBatch/record/v0/index.js',
);

type AnyRecord = Record<string, any>;

/** What kafkajs would put on the wire for each message of a send. */
let encoded: Buffer[] = [];
function encodeAll(record: AnyRecord): Buffer[] {
  // kafkajs' own checks before encoding (producer/index.js).
  if (typeof record?.topic !== 'string' || record.topic === '') throw new Error('Invalid topic');
  if (!Array.isArray(record.messages)) throw new Error(`Invalid messages array [${String(record.messages)}] for topic "${record.topic}"`);
  if (record.messages.some((message: AnyRecord) => message?.value === undefined)) throw new Error(`Invalid message without value for topic "${record.topic}"`);
  return record.messages.map((message: AnyRecord) => encodeRecord({ key: message.key, value: message.value, headers: message.headers }).buffer);
}

let lastRecord: AnyRecord | undefined;
let runConfig: AnyRecord | undefined;
class Kafka {
  constructor(readonly config: AnyRecord) {}
  producer() {
    return {
      async send(record: AnyRecord) {
        lastRecord = record;
        encoded = encodeAll(record);
        return [{ topicName: record.topic, partition: 0, errorCode: 0 }];
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
const fakeModule: AnyRecord = { Kafka };
const instrumentation = new KafkaJsInstrumentation();
instrumentation.getModuleDefinitions()[0].patch!(fakeModule, '2.2.4');
const kafka = new fakeModule.Kafka({ brokers: ['127.0.0.1:9092'], clientId: 'fuzz' });
const producer = kafka.producer();
const unpatchedSend = Kafka.prototype.producer.call(kafka).send;

async function outcomeOfAsync(fn: () => unknown): Promise<Outcome> {
  try {
    return { threw: false, value: await fn() };
  } catch (error) {
    return { threw: true, error: error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error) };
  }
}

const headersArb = fc.oneof(
  { weight: 8, arbitrary: hostileMap(fc.oneof(hostileValue, nonUtf8Buffer)) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, 'text', ['x'], Buffer.from('x')) },
);
const messageArb = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.record(
      {
        key: fc.oneof(fc.string(), nonUtf8Buffer, fc.constant(null)),
        value: fc.oneof(fc.string(), nonUtf8Buffer, fc.constant(null)),
        headers: headersArb,
        partition: fc.nat(3),
      },
      { requiredKeys: ['value'] },
    ),
  },
  { weight: 1, arbitrary: hostileValue },
);

const activeContext = (parent: SpanContext | null): Context =>
  parent === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: false });

beforeEach(() => exporter.reset());
afterEach(() => assertNoPollution());

test('send: same outcome as kafkajs alone; the caller\'s messages untouched; records identical but for the added headers', async () => {
  let injected = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(messageArb, { maxLength: 4 }),
      fc.option(spanContextArb),
      fc.constantFrom<KafkaJsInstrumentationConfig['mode']>('spans', 'propagation-only'),
      async (messages, parent, mode) => {
        instrumentation.setConfig({ mode });
        const record = { topic: 'orders', messages, acks: -1 };
        const before = messages.map((message) => [ownEntries(message), ownEntries((message as AnyRecord)?.headers)]);
        const control = await outcomeOfAsync(() => unpatchedSend(record));
        const controlBytes = encoded;
        encoded = [];
        lastRecord = undefined;
        const traced = await outcomeOfAsync(() => context.with(activeContext(parent), () => producer.send(record)));
        const where = { toString: () => `messages=${show(messages)}` };
        messages.forEach((message, index) => {
          if (!sameEntries(before[index][0], ownEntries(message)) || !sameEntries(before[index][1], ownEntries((message as AnyRecord)?.headers))) {
            throw new Error(`caller's message ${index} changed; ${where}`);
          }
        });
        if (!Object.is(record.messages, messages)) throw new Error('record.messages replaced');
        if (control.threw !== traced.threw || (control.threw && traced.threw && control.error !== traced.error)) {
          throw new Error(`kafkajs alone: ${show(control)}; instrumented: ${show(traced)}; ${where}`);
        }
        if (control.threw) return;
        const sent = lastRecord!.messages as AnyRecord[];
        if (lastRecord!.acks !== -1 || sent.length !== messages.length) throw new Error(`record fields changed; ${where}`);
        sent.forEach((copy, index) => {
          const message = messages[index] as AnyRecord;
          if (copy === message) {
            if (!encoded[index].equals(controlBytes[index])) throw new Error(`same message, other bytes; ${where}`);
            return;
          }
          for (const key of Reflect.ownKeys(message)) {
            if (key !== 'headers' && !Object.is(copy[key as string], message[key as string])) throw new Error(`message field ${String(key)} altered; ${where}`);
          }
          if (Object.getPrototypeOf(copy) !== Object.getPrototypeOf(message)) throw new Error(`message prototype changed; ${where}`);
          const user = (message.headers ?? {}) as AnyRecord;
          const headers = copy.headers as AnyRecord;
          for (const key of Object.keys(user)) if (!Object.is(headers[key], user[key])) throw new Error(`header ${JSON.stringify(key)} altered; ${where}`);
          const added = Object.keys(headers).filter((key) => !Object.prototype.hasOwnProperty.call(user, key));
          if (added.some((key) => !PROPAGATION_FIELDS.has(key))) throw new Error(`added headers ${added}; ${where}`);
          if (added.length > 0) injected += 1;
          // kafkajs' bytes for the caller's message with just those headers appended.
          const expected: AnyRecord = {};
          for (const key of [...Object.keys(user), ...added]) Object.defineProperty(expected, key, { value: headers[key], enumerable: true });
          if (!encoded[index].equals(encodeRecord({ key: message.key, value: message.value, headers: expected }).buffer)) {
            throw new Error(`record ${index} differs beyond the added context headers; ${where}`);
          }
        });
        for (const span of exporter.getFinishedSpans()) assertValidOrAbsent(span.spanContext(), 'send span');
        exporter.reset();
      },
    ),
    { numRuns },
  );
  expect(injected).toBeGreaterThan(numRuns / 10);
});

// ---- consumer ----------------------------------------------------------------------------------

/** Header maps as kafkajs decodes them (Buffers, arrays for repeated keys) and beyond. */
const consumedHeaders = fc.oneof(
  { weight: 5, arbitrary: hostileMap(fc.oneof(nonUtf8Buffer, hostileValue)).map((headers) => ({ headers: headers as unknown, carried: undefined as SpanContext | undefined })) },
  {
    weight: 4,
    arbitrary: fc.tuple(mapWithContext(fc.oneof(nonUtf8Buffer, hostileValue)), fc.boolean()).map(([{ carrier, spanContext }, asBuffers]) => {
      // kafkajs hands header values over as Buffers.
      if (asBuffers) {
        for (const key of ['traceparent', 'tracestate', 'baggage']) {
          const value = Object.getOwnPropertyDescriptor(carrier, key)?.value;
          if (typeof value === 'string') carrier[key] = Buffer.from(value);
        }
      }
      return { headers: carrier as unknown, carried: spanContext as SpanContext | undefined };
    }),
  },
  { weight: 1, arbitrary: hostileValue.map((headers) => ({ headers, carried: undefined as SpanContext | undefined })) },
);
const isTrusted = (message: unknown) => (message as { message?: { headers?: Record<string, unknown> } })?.message?.headers?.['x-trusted'] === 'yes';
let offset = 0;

function consumerFor(config: KafkaJsInstrumentationConfig) {
  instrumentation.setConfig(config);
  const seen: Array<{ payload: unknown; active: Context }> = [];
  const handlerResult = Promise.resolve('handled');
  const handler = (payload: unknown) => {
    seen.push({ payload, active: context.active() });
    return handlerResult;
  };
  const consumer = kafka.consumer({ groupId: 'fuzz' });
  void consumer.run({ eachMessage: handler, eachBatch: handler });
  return { seen, handlerResult, eachMessage: runConfig!.eachMessage, eachBatch: runConfig!.eachBatch };
}

test('eachMessage: the handler gets the very payload once; extract never throws or yields an invalid context; policy and baggage rules hold', async () => {
  let parented = 0;
  await fc.assert(
    fc.asyncProperty(consumedHeaders, consumerConfigArb, fc.boolean(), async ({ headers, carried }, choice, trusted) => {
      const markable = trusted && typeof headers === 'object' && headers !== null && Object.isExtensible(headers);
      if (markable) Object.defineProperty(headers, 'x-trusted', { value: Buffer.from('yes'), enumerable: true, configurable: true, writable: true });
      const { seen, eachMessage } = consumerFor(consumerConfig(choice, (payload) => isTrusted(payload) || Buffer.isBuffer((payload as any)?.message?.headers?.['x-trusted'])));
      offset += 1;
      const payload = { topic: 'orders', partition: 0, message: { key: null, value: Buffer.from('v'), headers, offset: String(offset), timestamp: '0' }, heartbeat: async () => {}, pause: () => () => {} };
      const where = { toString: () => `headers=${show(headers)} config=${show(choice)}` };
      const result = await eachMessage(payload);
      if (result !== 'handled') throw new Error(`handler result not passed through: ${show(result)}; ${where}`);
      if (seen.length !== 1 || seen[0].payload !== payload) throw new Error(`handler saw ${seen.length} calls / another object; ${where}`);
      const spans = exporter.getFinishedSpans();
      exporter.reset();
      const effective = effectivePolicy(choice, markable);
      checkDelivery({ active: seen[0].active, spans, effective, choice, carried, where });
      if (carried !== undefined && effective === 'parent') parented += 1;
    }),
    { numRuns },
  );
  expect(parented).toBeGreaterThan(numRuns / 20);
});

test('eachBatch: the handler gets the very batch once; every link is valid; untrusted messages give no link', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(consumedHeaders, { maxLength: 5 }), consumerConfigArb, fc.constantFrom<'none' | 'first'>('none', 'first'), async (list, choice, batchParent) => {
      const { seen, eachBatch } = consumerFor({ ...consumerConfig(choice, () => false), batchParent });
      const messages = list.map(({ headers }, index) => ({ key: null, value: Buffer.from(`v${index}`), headers, offset: String(index), timestamp: '0' }));
      const payload = { batch: { topic: 'orders', partition: 1, messages }, heartbeat: async () => {}, resolveOffset: () => {} };
      const where = { toString: () => `batch=${show(list)} config=${show(choice)}` };
      await eachBatch(payload);
      if (seen.length !== 1 || seen[0].payload !== payload) throw new Error(`handler saw ${seen.length} calls / another object; ${where}`);
      if (payload.batch.messages !== messages || messages.some((message, index) => !Object.is(message.headers, list[index].headers))) throw new Error(`batch altered; ${where}`);
      const active = seen[0].active;
      assertValidOrAbsent(trace.getSpanContext(active), `active context (${where})`);
      const effective = effectivePolicy(choice, false);
      if (effective !== 'parent' && (propagation.getBaggage(active)?.getAllEntries().length ?? 0) > 0) throw new Error(`baggage kept under ${effective}; ${where}`);
      const spans = exporter.getFinishedSpans();
      exporter.reset();
      for (const span of spans) {
        assertValidOrAbsent(span.parentSpanContext, 'batch span parent');
        for (const link of span.links) assertValidOrAbsent(link.context, 'batch span link');
        if (effective === 'ignore' && span.links.length > 0) throw new Error(`links under ignore; ${where}`);
        if (effective !== 'parent' && span.parentSpanContext !== undefined) throw new Error(`parent under ${effective}; ${where}`);
        const carriedCount = list.filter(({ carried }) => carried !== undefined).length;
        if (effective !== 'ignore' && span.links.length < carriedCount) throw new Error(`${span.links.length} links for ${carriedCount} carried contexts; ${where}`);
      }
    }),
    { numRuns },
  );
});
