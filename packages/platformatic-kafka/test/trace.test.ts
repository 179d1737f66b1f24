// Produce → consume on the real broker under the register hook (ESM and CJS apps, the oldest and
// the newest supported version): one trace per message in the stream and the for-await forms,
// bytes identical to an uninstrumented control, and bad context headers handled.
import { assertDescends, assertOutsideTraces, startCollector, VALID_TRACE_ID, type CollectedSpan, type SpanCollector } from '@threadline/testing';
import { describeOnSupportedNode, NEWEST, OLDEST, runApp, uniqueName } from './platformatic';

jest.setTimeout(180000);

interface Received {
  value: string | null;
  key: string | null;
  headers: [string, string][];
  offset: string;
}
type Result = { version: string; received: Record<string, Received[]> };

const TRACEPARENT = Buffer.from('traceparent').toString('base64');
const withoutContext = (messages: Received[]) => messages.map((message) => ({ ...message, headers: message.headers.filter(([key]) => key !== TRACEPARENT) }));

describeOnSupportedNode('@platformatic/kafka produce → consume, one trace', () => {
  let collector: SpanCollector;
  let control: Result;
  beforeAll(async () => {
    collector = await startCollector();
    control = (await runApp<Result>({ file: 'app.cjs', service: uniqueName('control'), version: NEWEST, loader: 'none', env: { TOPIC_PREFIX: uniqueName('control') } })).result;
  });
  afterAll(() => collector?.close());

  const cases = [OLDEST, NEWEST].flatMap((version) => ['app.mjs', 'app.cjs'].map((file) => ({ version, file, title: `${version.label}, ${file}` })));
  test.each(cases)('$title', async ({ version, file }) => {
    const service = uniqueName(`${file.replace('.', '-')}-${version.version}`);
    const { result, output } = await runApp<Result>({ file, service, version, collector, env: { TOPIC_PREFIX: service, OTEL_LOG_LEVEL: 'debug' } });
    expect(result.version).toBe(version.version);
    const mine = (all: readonly CollectedSpan[]) => all.filter((span) => span.serviceName === service);
    const spans = mine(await collector.waitFor((all) => ['after:iterator', 'work:stream:2', 'work:bad:buffer'].every((name) => mine(all).some((span) => span.name === name))));
    const producers = spans.filter((span) => span.name.startsWith('produce:')).map((span) => span.name);

    for (const step of ['stream', 'iterator']) {
      // Every message its own context: each work span descends from its own producer only.
      for (const index of [0, 1, 2]) {
        const work = step === 'stream' ? `work:stream:${index}` : `work:iterator:iterator:${index}`;
        assertDescends(spans, `produce:${step}:${index}`, work);
        const produce = spans.find((span) => span.name === `produce:${step}:${index}`)!;
        const send = spans.find((span) => span.kind === 'PRODUCER' && span.parentSpanId === produce.spanId)!;
        expect(send.name).toBe(`send ${service}-${step}`);
        const processSpan = spans.find((span) => span.kind === 'CONSUMER' && span.parentSpanId === send.spanId)!;
        expect(processSpan.name).toBe(`process ${service}-${step}`);
        expect(processSpan.attributes).toMatchObject({
          'messaging.system': 'kafka',
          'messaging.destination.name': `${service}-${step}`,
          'messaging.operation.type': 'process',
          'messaging.destination.partition.id': '0',
          'messaging.kafka.offset': index,
          'messaging.consumer.group.name': `${service}-${step}`,
          'messaging.client.id': 'fixture-consumer',
          'server.address': '127.0.0.1',
          'messaging.message.body.size': `${step}:${index}`.length,
        });
        expect(processSpan.attributes['messaging.kafka.message.key']).toBeUndefined();
        expect(send.attributes).toMatchObject({ 'messaging.system': 'kafka', 'messaging.client.id': 'fixture-producer', 'messaging.operation.type': 'send' });
      }
    }
    assertOutsideTraces(spans, 'after:iterator', producers);

    // Bad input: every message arrives; garbage starts a new trace, the first of two context headers
    // is read, a Buffer traceparent (another client's) is read, and diag says so.
    expect(result.received.bad.map((message) => Buffer.from(message.value ?? '', 'base64').toString())).toEqual(['garbage', 'duplicate', 'buffer', '']);
    const traceOf = (name: string) => spans.find((span) => span.name === name)!.traceId;
    expect(traceOf('work:bad:duplicate')).toBe(VALID_TRACE_ID);
    expect(traceOf('work:bad:buffer')).toBe(VALID_TRACE_ID);
    expect(traceOf('work:bad:garbage')).not.toBe(VALID_TRACE_ID);
    assertOutsideTraces(spans, 'work:bad:garbage', producers);
    // carrier's extract names a context field it could not read.
    expect(output).toContain("the carrier's traceparent holds no valid trace context");
    expect(output).toContain('carries "traceparent" more than once');

    // Byte for byte what the uninstrumented control received, but for the added traceparent; the
    // messages that carried their own context get nothing added.
    for (const step of ['stream', 'iterator']) {
      expect(withoutContext(result.received[step])).toEqual(control.received[step]);
      for (const message of result.received[step]) expect(message.headers.filter(([key]) => key === TRACEPARENT)).toHaveLength(1);
    }
    expect(result.received.bad).toEqual(control.received.bad.map((message, index) => (index === 3 ? { ...message, headers: result.received.bad[3].headers } : message)));
    expect(withoutContext([result.received.bad[3]])).toEqual([control.received.bad[3]]);
  });
});
