// Nothing lost, nothing altered, nothing thrown, on the real broker. The same sends go once
// through an instrumented producer and once through an uninstrumented one; uninstrumented
// control consumers read both topics and compare them byte for byte. Bad input is part of the
// sends. Then the size limit: a message that fits only without the context headers.
import { findSpan, startCollector, type SpanCollector } from '@threadline/testing';
import {
  b64,
  createTopics,
  deleteCreatedTopics,
  removeEsmEntries,
  runApp,
  runIntegrityRound,
  uniqueGroup,
  uniqueTopic,
  V1,
  V2,
  type AppKind,
  type IntegrityRound,
  type KafkaJsVersion,
} from './kafka';

const FOREIGN_TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const hundredHeaders = Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`h-${index}`, `value ${index}`]));

/** One entry per send() call; `expect` says what kafkajs itself does with it. */
const SENDS = [
  {
    name: 'text and binary headers, binary key',
    messages: [
      {
        key: b64(Buffer.from([0x00, 0xff, 0x10])),
        value: 'plain text',
        headers: { 'x-text': 'hello', 'x-bin': b64(Buffer.from([0xff, 0xfe, 0x00, 0x80])) },
      },
    ],
  },
  { name: 'array header values (kafkajs 2.x; 1.x rejects them)', messages: [{ value: 'array header', headers: { 'x-list': ['a', b64('b')] } }] },
  { name: 'non-UTF-8 value, no headers', messages: [{ value: b64(Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0x00, 0xff])) }] },
  { name: 'unicode value, empty key', messages: [{ key: '', value: 'ü€😀 \u0000 end' }] },
  { name: 'tombstone', messages: [{ key: 'deleted-order', value: null }] },
  { name: 'the user\'s own traceparent', messages: [{ value: 'explicit', headers: { traceparent: FOREIGN_TRACEPARENT, other: 'x' } }] },
  { name: 'a garbage traceparent', messages: [{ value: 'garbage', headers: { TraceParent: 'not-a-traceparent-at-all' } }] },
  { name: '100 headers', messages: [{ value: 'many headers', headers: hundredHeaders }] },
  { name: 'empty value and headers', messages: [{ value: '', headers: {} }] },
  { name: 'several messages in one send', messages: [{ value: 'm1', headers: { n: '1' } }, { value: 'm2' }] },
  { name: 'a header value that is a number (kafkajs rejects it)', messages: [{ value: 'number header', headers: { n: 5 } }] },
  { name: 'an object header value (kafkajs rejects it)', messages: [{ value: 'object header', headers: { o: { deep: true } } }] },
  { name: 'null headers (kafkajs rejects them)', messages: [{ value: 'null headers', headers: null }] },
  { name: 'a message without value (kafkajs rejects it)', messages: [{ headers: { a: 'b' } }] },
  { name: 'headers that are a string (kafkajs sends its characters)', messages: [{ value: 'string headers', headers: 'ab' }] },
];

const runs = new Map<string, IntegrityRound>();
let collector: SpanCollector;

async function runIntegrity(app: AppKind, version: KafkaJsVersion, name: string) {
  runs.set(name, await runIntegrityRound({ app, version, name, sends: SENDS, collector }));
}

let sizeLimit: { guarded: any; unguarded: any; control: any; read: any; topic: string };
/** A topic that takes at most 4096 bytes per record batch, and a message just under that. */
async function runSizeLimit() {
  const topic = uniqueTopic('size-limit');
  await createTopics([{ topic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '4096' }] }]);
  // Alone, this record batch is 70 + 3990 bytes; a traceparent header adds 68.
  const scenario = { role: 'produce', sends: [{ topic, messages: [{ value: 'x'.repeat(3990) }] }] };
  const common = { app: 'cjs' as const, version: V2, collector, scenario };
  const [guarded, unguarded, control] = await Promise.all([
    runApp({ ...common, service: 'size-guarded', env: { THREADLINE_KAFKAJS_MAX_MESSAGE_BYTES: '4096' } }),
    runApp({ ...common, service: 'size-unguarded', env: { THREADLINE_KAFKAJS_MAX_MESSAGE_BYTES: '100000000' } }),
    runApp({ ...common, service: 'size-control', loader: 'none' }),
  ]);
  const read = await runApp({
    ...common,
    service: 'size-reader',
    loader: 'none',
    scenario: { role: 'consume', topic, groupId: uniqueGroup('size-reader'), count: 2, timeoutMs: 30000 },
  });
  sizeLimit = { guarded, unguarded, control, read, topic };
}

beforeAll(async () => {
  collector = await startCollector();
  await createTopics([]); // fails fast, with a clear message, when the broker is not there
  await Promise.all([runIntegrity('esm', V2, 'integrity-esm-v2'), runIntegrity('cjs', V1, 'integrity-cjs-v1'), runSizeLimit()]);
}, 150000);

afterAll(async () => {
  await collector?.close();
  removeEsmEntries();
  await deleteCreatedTopics();
});

describe.each([
  ['integrity-esm-v2', 'ESM, kafkajs 2.x'],
  ['integrity-cjs-v1', 'CJS, kafkajs 1.x'],
])('%s (%s)', (name) => {
  const run = () => runs.get(name)!;
  const v1 = name.endsWith('v1');

  test('every send has the same outcome as without instrumentation (kafkajs\' own errors included)', () => {
    const { instrumented, control } = run();
    // kafkajs quotes the topic in some errors; the two runs use two topics.
    const outcomes = (result: any) =>
      result.sends.map((send: any, index: number) => `${SENDS[index].name}: ${send.ok ? 'ok' : send.error.replace(/"threadline-kafkajs-[^"]+"/, '"<topic>"')}`);
    expect(outcomes(instrumented)).toEqual(outcomes(control));
    // The bad input kafkajs accepts really went through; what it rejects, it rejects by itself.
    expect(control.sends.map((send: any) => send.ok)).toEqual([true, !v1, true, true, true, true, true, true, true, true, false, false, false, false, true]);
  });

  test('a control consumer reads every value, key and header byte for byte, plus only the context header', () => {
    const { readInstrumented, readControl } = run();
    expect(readInstrumented.received).toHaveLength(readControl.received.length);
    const explicitContext = new Set(['explicit', 'garbage', 'string headers'].map((text) => Buffer.from(text).toString('base64')));
    readControl.received.forEach((expected: any, index: number) => {
      const actual = readInstrumented.received[index];
      expect(actual.offset).toBe(expected.offset);
      expect(actual.key).toEqual(expected.key);
      expect(actual.value).toEqual(expected.value);
      const { traceparent, ...userHeaders } = actual.headers;
      if (expected.value !== null && explicitContext.has(expected.value.b64)) {
        // The user's context (or a header shape kafkajs takes as is) is left exactly as sent.
        expect(actual.headers).toEqual(expected.headers);
      } else {
        expect(userHeaders).toEqual(expected.headers);
        expect(Buffer.from(traceparent.b64, 'base64').toString()).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      }
    });
  });

  test('the instrumented consumer gets every message; odd context never throws', () => {
    const { consumed, readControl, spans, topic } = run();
    expect(consumed.how).toBe('done');
    expect(consumed.received.map((entry: any) => entry.value)).toEqual(readControl.received.map((entry: any) => entry.value));
    const processes = spans.filter((span) => span.name === `process ${topic}`);
    expect(processes).toHaveLength(readControl.received.length);
    const byOffset = (offset: string) => findSpan(processes, (span) => span.attributes['messaging.kafka.offset'] === Number(offset));
    const offsetOf = (text: string) =>
      consumed.received.find((entry: any) => entry.value !== null && Buffer.from(entry.value.b64, 'base64').toString() === text).offset;
    // The user's explicit context is the parent; garbage gives a new trace.
    expect(byOffset(offsetOf('explicit')).parentSpanId).toBe('b7ad6b7169203331');
    expect(byOffset(offsetOf('explicit')).traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(byOffset(offsetOf('garbage')).parentSpanId).toBeUndefined();
    const tombstone = consumed.received.find((entry: any) => entry.value === null);
    expect(byOffset(tombstone.offset).attributes['messaging.kafka.message.tombstone']).toBe(true);
    // Keys are not recorded unless enabled, and no attribute holds a message body.
    for (const span of processes) {
      expect(span.attributes).not.toHaveProperty('messaging.kafka.message.key');
      for (const value of Object.values(span.attributes)) expect(String(value)).not.toMatch(/plain text|many headers|explicit/);
    }
    // Each message's process span is the child of the send span that produced it.
    const send = findSpan(spans, (span) => span.name === `send ${topic}` && span.parentSpanId === findSpan(spans, { name: '100 headers', service: `${name}-producer` }).spanId);
    expect(byOffset(offsetOf('many headers')).parentSpanId).toBe(send.spanId);
  });
});

describe('a message that fits the broker only without the context header (kafkajs 2.x, CJS)', () => {
  test('with maxMessageBytes set to the topic\'s limit it is delivered, without the header', () => {
    const { guarded, control, read } = sizeLimit;
    expect(control.sends[0].ok).toBe(true);
    expect(guarded.sends[0].ok).toBe(true);
    expect(read.received).toHaveLength(2);
    for (const entry of read.received) {
      expect(entry.headers).toEqual({});
      expect(Buffer.from(entry.value.b64, 'base64').toString()).toBe('x'.repeat(3990));
    }
  });

  test('without the guard the broker would reject it: the guard is what keeps it', () => {
    expect(sizeLimit.unguarded.sends[0]).toMatchObject({ ok: false, error: expect.stringMatching(/larger than the max message size/) });
  });
});
