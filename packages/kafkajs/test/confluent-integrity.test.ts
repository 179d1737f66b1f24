// Nothing lost, nothing altered, nothing thrown on @confluentinc/kafka-javascript's KafkaJS API,
// on the real broker: the same sends through an instrumented and an uninstrumented producer,
// read back byte for byte by uninstrumented consumers; bad trace context (garbage, duplicate,
// Buffer) in the sends, read by an instrumented consumer that logs it through diag.
import { findSpan, findSpans, startCollector, type SpanCollector } from '@threadline/testing';
import { b64, CONFLUENT_NEWEST, CONFLUENT_OLDEST, createTopics, deleteCreatedTopics, removeEsmEntries, runIntegrityRound, type AppKind, type IntegrityRound, type KafkaJsVersion } from './kafka';

const FOREIGN = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };
const FOREIGN_TRACEPARENT = `00-${FOREIGN.traceId}-${FOREIGN.spanId}-01`;
const BUFFER_PARENT = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };

const SENDS = [
  { name: 'text and binary headers, binary key', messages: [{ key: b64(Buffer.from([0x00, 0xff])), value: 'plain text', headers: { 'x-text': 'hello', 'x-bin': b64(Buffer.from([0xff, 0x00, 0x80])) } }] },
  { name: 'array header values', messages: [{ value: 'array header', headers: { 'x-list': ['a', b64('b')] } }] },
  { name: 'non-UTF-8 value, no headers', messages: [{ value: b64(Buffer.from([0xc3, 0x28, 0xa0, 0x00, 0xff])) }] },
  { name: 'tombstone', messages: [{ key: 'deleted-order', value: null }] },
  { name: "the user's own traceparent", messages: [{ value: 'explicit', headers: { traceparent: FOREIGN_TRACEPARENT, other: 'x' } }] },
  { name: 'a garbage traceparent', messages: [{ value: 'garbage', headers: { TraceParent: 'not-a-traceparent-at-all' } }] },
  { name: 'a duplicate traceparent', messages: [{ value: 'duplicate', headers: { traceparent: ['garbage first', FOREIGN_TRACEPARENT] } }] },
  { name: 'a Buffer traceparent', messages: [{ value: 'buffer context', headers: { traceparent: b64(`00-${BUFFER_PARENT.traceId}-${BUFFER_PARENT.spanId}-01`) } }] },
  { name: 'a binary garbage traceparent', messages: [{ value: 'binary garbage', headers: { traceparent: b64(Buffer.from([0xff, 0xfe, 0x00])) } }] },
  { name: 'empty value and headers', messages: [{ value: '', headers: {} }] },
  { name: 'several messages in one send', messages: [{ value: 'm1', headers: { n: '1' } }, { value: 'm2' }] },
  { name: 'null headers', messages: [{ value: 'null headers', headers: null }] },
];
// Sends whose headers already carry a context (or are not a header object): they travel exactly as given.
const AS_GIVEN = new Set<string | null>(['explicit', 'garbage', 'duplicate', 'buffer context', 'binary garbage']);

const runs = new Map<string, IntegrityRound>();
let collector: SpanCollector;

const RUNS: [string, AppKind, KafkaJsVersion][] = [
  ['ck-integrity-cjs-new', 'cjs', CONFLUENT_NEWEST],
  ['ck-integrity-esm-old', 'esm', CONFLUENT_OLDEST],
];

beforeAll(async () => {
  collector = await startCollector();
  await createTopics([]); // fails fast, with a clear message, when the broker is not there
  await Promise.all(
    RUNS.map(async ([name, app, version]) => runs.set(name, await runIntegrityRound({ app, version, name, sends: SENDS, collector, consumerEnv: { OTEL_LOG_LEVEL: 'debug' } }))),
  );
}, 300000);

afterAll(async () => {
  await collector?.close();
  removeEsmEntries();
  await deleteCreatedTopics();
});

const text = (entry: any) => (entry.value === null ? null : Buffer.from(entry.value.b64, 'base64').toString());

describe.each(RUNS)('%s (%s app)', (name, _app, version) => {
  const run = () => runs.get(name)!;

  test('every send has the same outcome as without instrumentation, and all of them are delivered', () => {
    const { instrumented, control } = run();
    const outcomes = (result: any) => result.sends.map((send: any, index: number) => `${SENDS[index].name}: ${send.ok ? 'ok' : send.error}`);
    expect(outcomes(instrumented)).toEqual(outcomes(control));
    expect(control.sends.every((send: any) => send.ok)).toBe(true);
  });

  test('a control consumer reads every value, key and header byte for byte, plus only the context header', () => {
    const { readInstrumented, readControl } = run();
    expect(readControl.received).toHaveLength(SENDS.reduce((sum, send) => sum + send.messages.length, 0));
    expect(readInstrumented.received).toHaveLength(readControl.received.length);
    readControl.received.forEach((expected: any, index: number) => {
      const actual = readInstrumented.received[index];
      expect(actual.offset).toBe(expected.offset);
      expect(actual.key).toEqual(expected.key);
      expect(actual.value).toEqual(expected.value);
      if (AS_GIVEN.has(text(expected))) {
        expect(actual.headers).toEqual(expected.headers);
      } else {
        const { traceparent, ...userHeaders } = actual.headers;
        expect({ value: text(expected), headers: userHeaders }).toEqual({ value: text(expected), headers: expected.headers });
        expect(Buffer.from(traceparent.b64, 'base64').toString()).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      }
    });
  });

  test('the instrumented consumer gets every message; bad context gives a new trace and a diag line, never a throw', () => {
    const { consumed, readControl, spans, topic, consumerOutput } = run();
    expect(consumed.how).toBe('done');
    expect(consumed.received.map(text)).toEqual(readControl.received.map(text));
    const processes = findSpans(spans, { name: `process ${topic}` });
    expect(processes).toHaveLength(readControl.received.length);
    const spanOf = (value: string) => {
      const { offset } = consumed.received.find((entry: any) => text(entry) === value);
      return findSpan(processes, (span) => span.attributes['messaging.kafka.offset'] === Number(offset));
    };
    expect(spanOf('explicit')).toMatchObject({ traceId: FOREIGN.traceId, parentSpanId: FOREIGN.spanId });
    expect(spanOf('buffer context')).toMatchObject({ traceId: BUFFER_PARENT.traceId, parentSpanId: BUFFER_PARENT.spanId });
    for (const bad of ['garbage', 'duplicate', 'binary garbage']) expect(spanOf(bad).parentSpanId).toBeUndefined();
    // Each message the instrumented producer sent is the child of its send span.
    const send = findSpan(spans, (span) => span.name === `send ${topic}` && span.parentSpanId === findSpan(spans, { name: 'tombstone', service: `${name}-producer` }).spanId);
    expect(spanOf('plain text').traceId).not.toBe(send.traceId);
    // (The client delivers the empty value as null too, so the tombstone is found by its key.)
    const tombstone = consumed.received.find((entry: any) => entry.key?.b64 === Buffer.from('deleted-order').toString('base64'));
    const tombstoneSpan = findSpan(processes, (span) => span.attributes['messaging.kafka.offset'] === Number(tombstone.offset));
    expect(tombstoneSpan.attributes['messaging.kafka.message.tombstone']).toBe(true);
    expect(tombstoneSpan.parentSpanId).toBe(send.spanId);
    // One debug line per message whose traceparent could not be read.
    const unread = consumerOutput.split('\n').filter((line) => line.includes('holds no valid trace context'));
    expect(unread).toHaveLength(3);
    expect(version.client).toBe('confluent');
  });
});
