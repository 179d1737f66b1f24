// Nothing lost, nothing altered, nothing thrown on @confluentinc/kafka-javascript's KafkaJS API,
// on the real broker: the same sends through an instrumented and an uninstrumented producer,
// read back byte for byte by uninstrumented consumers; bad trace context (garbage, duplicate,
// Buffer) in the sends, read by an instrumented consumer that logs it through diag.
import { findSpan, findSpans, startCollector, type CollectedSpan, type SpanCollector } from '@threadline/testing';
import { b64, CONFLUENT_NEWEST, CONFLUENT_OLDEST, createTopics, deleteCreatedTopics, removeEsmEntries, runApp, uniqueGroup, uniqueTopic, type AppKind, type KafkaJsVersion } from './kafka';

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

interface Run {
  instrumented: any;
  control: any;
  readInstrumented: any;
  readControl: any;
  consumed: any;
  consumerOutput: string;
  spans: CollectedSpan[];
  topic: string;
}
const runs = new Map<string, Run>();
let collector: SpanCollector;

async function runIntegrity(app: AppKind, version: KafkaJsVersion, name: string) {
  const topic = uniqueTopic(name);
  const controlTopic = uniqueTopic(`${name}-control`);
  await createTopics([topic, controlTopic]);
  const common = { app, version, collector };
  const sendsTo = (target: string) => SENDS.map((send) => ({ span: send.name, topic: target, messages: send.messages }));
  const [instrumented, control] = await Promise.all([
    runApp({ ...common, service: `${name}-producer`, scenario: { role: 'produce', sends: sendsTo(topic) } }),
    runApp({ ...common, service: `${name}-control-producer`, loader: 'none', scenario: { role: 'produce', sends: sendsTo(controlTopic) } }),
  ]);
  const delivered = control.sends.reduce((sum: number, send: any, index: number) => sum + (send.ok ? SENDS[index].messages.length : 0), 0);
  const read = (target: string, service: string, loader?: 'none', extra: object = {}) =>
    runApp({ ...common, service, loader, scenario: { role: 'consume', topic: target, groupId: uniqueGroup(service), count: delivered }, ...extra });
  let consumerOutput = '';
  const [readInstrumented, readControl, consumed] = await Promise.all([
    read(topic, `${name}-control-reader`, 'none'),
    read(controlTopic, `${name}-control-reader-2`, 'none'),
    read(topic, `${name}-consumer`, undefined, { env: { OTEL_LOG_LEVEL: 'debug' }, onOutput: (stdout: string, stderr: string) => (consumerOutput = stdout + stderr) }),
  ]);
  const spans = await collector.waitFor(
    (all) => all.filter((span) => span.serviceName === `${name}-consumer` && span.name.startsWith('process ')).length >= delivered,
    { timeoutMs: 20000 },
  );
  runs.set(name, { instrumented, control, readInstrumented, readControl, consumed, consumerOutput, topic, spans: spans.filter((span) => span.serviceName.startsWith(name)) });
}

const RUNS: [string, AppKind, KafkaJsVersion][] = [
  ['ck-integrity-cjs-new', 'cjs', CONFLUENT_NEWEST],
  ['ck-integrity-esm-old', 'esm', CONFLUENT_OLDEST],
];

beforeAll(async () => {
  collector = await startCollector();
  await createTopics([]); // fails fast, with a clear message, when the broker is not there
  await Promise.all(RUNS.map(([name, app, version]) => runIntegrity(app, version, name)));
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
