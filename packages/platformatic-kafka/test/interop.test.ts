// kafkajs ⇄ @platformatic/kafka through the real broker, both under the register hook in one app
// (ESM and CJS): each direction is one trace, and the payload and user headers arrive as an
// uninstrumented run delivers them, whatever header types each client writes (string or Buffer).
import { assertDescends, startCollector, type CollectedSpan, type SpanCollector } from '@threadline/testing';
import { describeOnSupportedNode, NEWEST, OLDEST, runApp, uniqueName } from './platformatic';

jest.setTimeout(180000);

type Message = { value: string; key: string; headers: [string, string][] };
type Result = { version: string; toP: Message; toK: Message };
const TRACEPARENT = Buffer.from('traceparent').toString('base64');
const withoutContext = (message: Message) => ({ ...message, headers: message.headers.filter(([key]) => key !== TRACEPARENT) });

describeOnSupportedNode('kafkajs ⇄ @platformatic/kafka', () => {
  let collector: SpanCollector;
  let control: Result;
  beforeAll(async () => {
    collector = await startCollector();
    control = (await runApp<Result>({ file: 'interop-app.cjs', service: uniqueName('interop-control'), version: NEWEST, loader: 'none', env: { TOPIC_PREFIX: uniqueName('interop-control') } })).result;
  });
  afterAll(() => collector?.close());

  const cases = [
    { file: 'interop.mjs', version: NEWEST },
    { file: 'interop-app.cjs', version: NEWEST },
    { file: 'interop-app.cjs', version: OLDEST },
  ].map((entry) => ({ ...entry, title: `${entry.file}, ${entry.version.label}` }));
  test.each(cases)('$title: one trace each way, bytes identical', async ({ file, version }) => {
    const service = uniqueName(`interop-${file.replace('.', '-')}-${version.version}`);
    const { result } = await runApp<Result>({ file, service, version, collector, env: { TOPIC_PREFIX: service } });
    const mine = (all: readonly CollectedSpan[]) => all.filter((span) => span.serviceName === service);
    const spans = mine(await collector.waitFor((all) => ['work:platformatic', 'work:kafkajs'].every((name) => mine(all).some((span) => span.name === name))));
    assertDescends(spans, 'produce:kafkajs', 'work:platformatic');
    assertDescends(spans, 'produce:platformatic', 'work:kafkajs');
    // kafkajs' send span → platformatic's process span, and the other way round.
    const processP = spans.find((span) => span.name === `process ${service}-to-platformatic`)!;
    expect(spans.find((span) => span.spanId === processP.parentSpanId)?.name).toBe(`send ${service}-to-platformatic`);
    const processK = spans.find((span) => span.name === `process ${service}-to-kafkajs`)!;
    expect(spans.find((span) => span.spanId === processK.parentSpanId)?.name).toBe(`send ${service}-to-kafkajs`);
    expect(withoutContext(result.toP)).toEqual(control.toP);
    expect(withoutContext(result.toK)).toEqual(control.toK);
    expect(result.toP.headers.filter(([key]) => key === TRACEPARENT)).toHaveLength(1);
    expect(result.toK.headers.filter(([key]) => key === TRACEPARENT)).toHaveLength(1);
  });
});
