// kafkajs ⇄ @platformatic/kafka ⇄ @confluentinc/kafka-javascript through the real broker, producer and consumer each in its own
// process under the register hook (ESM and CJS apps, the oldest and the newest supported
// version): one trace across the two services each way, and the payload and user headers arrive
// as in an uninstrumented run, whatever header types each client writes (string or Buffer).
import { assertDescends, startCollector, type CollectedSpan, type SpanCollector } from '@threadline/testing';
import { describeOnSupportedNode, NEWEST, OLDEST, runApp, uniqueName, type LibraryVersion } from './platformatic';

jest.setTimeout(180000);

type Message = { value: string; key: string; headers: [string, string][] };
type Client = 'kafkajs' | 'platformatic' | 'confluent';
type Direction = { producer: Client; consumer: Client };
const TRACEPARENT = Buffer.from('traceparent').toString('base64');
const withoutContext = (message: Message) => ({ ...message, headers: message.headers.filter(([key]) => key !== TRACEPARENT) });
const DIRECTIONS: Direction[] = [
  { producer: 'kafkajs', consumer: 'platformatic' },
  { producer: 'platformatic', consumer: 'kafkajs' },
  { producer: 'platformatic', consumer: 'confluent' },
  { producer: 'confluent', consumer: 'platformatic' },
];
const pairName = (direction: Direction) => `${direction.producer}-${direction.consumer}`;

/** Runs the producer process, then the consumer process, on a fresh topic; returns what the consumer got. */
async function runPair(options: { file: string; version: LibraryVersion; direction: Direction; name: string; collector?: SpanCollector; loader?: 'none' }) {
  const topic = uniqueName(options.name);
  const common = { file: options.file, version: options.version, collector: options.collector, loader: options.loader };
  await runApp({ ...common, service: `${topic}-producer`, env: { ROLE: 'producer', CLIENT: options.direction.producer, TOPIC: topic } });
  const { result } = await runApp<{ received: Message }>({ ...common, service: `${topic}-consumer`, env: { ROLE: 'consumer', CLIENT: options.direction.consumer, TOPIC: topic } });
  return { topic, received: result.received };
}

describeOnSupportedNode('kafkajs, @platformatic/kafka and @confluentinc/kafka-javascript, two processes', () => {
  let collector: SpanCollector;
  const control = new Map<string, Message>();
  beforeAll(async () => {
    collector = await startCollector();
    for (const direction of DIRECTIONS) {
      const { received } = await runPair({ file: 'pair-app.cjs', version: NEWEST, direction, name: `control-${pairName(direction)}`, loader: 'none' });
      control.set(pairName(direction), received);
    }
  });
  afterAll(() => collector?.close());

  const cases = ['pair.mjs', 'pair-app.cjs'].flatMap((file) =>
    [NEWEST, OLDEST].flatMap((version) => DIRECTIONS.map((direction) => ({ file, version, direction, title: `${direction.producer} → ${direction.consumer}, ${file}, ${version.label}` }))),
  );
  test.each(cases)('$title: one trace, bytes identical', async ({ file, version, direction }) => {
    const { topic, received } = await runPair({ file, version, direction, name: `${file.replace('.', '-')}-${version.version}-${pairName(direction)}`, collector });
    const services = [`${topic}-producer`, `${topic}-consumer`];
    const mine = (all: readonly CollectedSpan[]) => all.filter((span) => services.includes(span.serviceName));
    const work = `work:${direction.consumer}`;
    const spans = mine(await collector.waitFor((all) => mine(all).some((span) => span.name === work)));
    assertDescends(spans, `produce:${direction.producer}`, work);
    const processSpan = spans.find((span) => span.name === `process ${topic}`)!;
    expect(processSpan.serviceName).toBe(`${topic}-consumer`);
    const send = spans.find((span) => span.spanId === processSpan.parentSpanId)!;
    expect(send).toMatchObject({ name: `send ${topic}`, kind: 'PRODUCER', serviceName: `${topic}-producer` });
    expect(withoutContext(received)).toEqual(control.get(pairName(direction)));
    expect(received.headers.filter(([key]) => key === TRACEPARENT)).toHaveLength(1);
  });
});
