// One trace across processes, against the real RabbitMQ from tools/brokers.
import {
  assertLink,
  assertNoOrphans,
  assertParentChild,
  assertSingleTrace,
  brokerAddresses,
  findSpan,
  startCollector,
  type CollectedSpan,
  type SpanCollector,
} from '@threadline/testing';
import { named, printed, requireRabbitMq, runRole, spanText, spansOf, startRole, unique, type LibraryName } from './helpers';

jest.setTimeout(60000);

let collector: SpanCollector;

beforeAll(async () => {
  await requireRabbitMq();
  collector = await startCollector();
});

afterAll(async () => {
  await collector?.close();
});

const cases: { title: string; library: LibraryName; esm?: boolean; loader?: 'import' | 'require'; exchange?: boolean; host?: string }[] = [
  // A host name in the URL proves server.address comes from the patched connect, not the socket.
  { title: 'amqplib 2.x, ESM (import amqp from "amqplib"), --import', library: 'v2', esm: true, host: 'localhost' },
  { title: 'amqplib 2.x, CommonJS, --import, through a direct exchange', library: 'v2', exchange: true },
  { title: 'amqplib 0.10.x, CommonJS, --require', library: 'v0', loader: 'require' },
];

describe.each(cases)('two processes: $title', ({ library, esm, loader, exchange, host = '127.0.0.1' }) => {
  test('one trace; the process span is the child of the send span; attributes without credentials', async () => {
    const queue = unique('two');
    const exchangeName = exchange ? unique('ex') : undefined;
    const producer = unique('producer');
    const consumer = unique('consumer');
    const { rabbitmq } = brokerAddresses();
    const env = {
      QUEUE: queue,
      EXCHANGE: exchangeName,
      ROUTING_KEY: exchange ? 'eu.orders' : undefined,
      AMQP_URL: rabbitmq.url.replace('127.0.0.1', host),
    };
    const consuming = startRole({ role: 'consume', library, esm, loader, collector, service: consumer, env });
    const messages = JSON.stringify([{ content: Buffer.from('order-1').toString('base64'), options: { messageId: 'order-1' } }]);
    const produced = await runRole({ role: 'produce', library, esm, loader, collector, service: producer, env: { ...env, MESSAGES: messages } });
    const received = printed((await consuming).stdout, 'RECEIVED');
    const [result] = printed(produced.stdout, 'RESULT');

    const spans = await spansOf(collector, [producer, consumer], (all) => all.length >= 4);
    expect(spans).toHaveLength(4);
    expect(assertSingleTrace(spans)).toBe(result.rootTraceId);
    assertNoOrphans(spans);
    const send = findSpan(spans, { kind: 'PRODUCER', service: producer });
    const process = findSpan(spans, { kind: 'CONSUMER', service: consumer });
    assertParentChild(spans, { name: 'produce' }, { kind: 'PRODUCER' });
    assertParentChild(spans, { kind: 'PRODUCER' }, { kind: 'CONSUMER' });
    assertParentChild(spans, { kind: 'CONSUMER' }, { name: 'handle' });
    expect(received).toHaveLength(1);
    expect(received[0].active.spanId).toBe(process.spanId);
    expect(received[0].properties.headers.traceparent).toBe(`00-${send.traceId}-${send.spanId}-01`);

    const common = {
      'messaging.system': 'rabbitmq',
      'messaging.message.id': 'order-1',
      'server.address': host,
      'server.port': rabbitmq.port,
    };
    if (exchange) {
      expect(send.name).toBe(`send ${exchangeName}`);
      expect(send.attributes).toMatchObject({ ...common, 'messaging.destination.name': `${exchangeName}:eu.orders`, 'messaging.rabbitmq.destination.routing_key': 'eu.orders' });
      expect(process.attributes).toMatchObject({ 'messaging.destination.name': `${exchangeName}:eu.orders:${queue}` });
    } else {
      expect(send.name).toBe('send amq.default');
      expect(send.attributes).toMatchObject({ ...common, 'messaging.destination.name': queue, 'messaging.rabbitmq.destination.routing_key': queue });
      expect(process.attributes).toMatchObject({ 'messaging.destination.name': queue });
    }
    expect(process.name).toBe(`process ${queue}`);
    expect(process.attributes).toMatchObject({
      ...common,
      'messaging.operation.type': 'process',
      'messaging.rabbitmq.message.delivery_tag': 1,
      'threadline.amqplib.settlement': 'ack',
    });
    expect(process.status.code).toBe('UNSET');
    // The connection URL is amqp://guest:guest@127.0.0.1:<port>: its credentials reach no span.
    expect(rabbitmq.url).toContain('guest:guest@');
    for (const span of spans) expect(spanText(span)).not.toMatch(/guest|amqp:\/\//);
  });
});

test('three hops: a consumer publishes onward and it all stays one trace', async () => {
  const first = unique('hop1');
  const second = unique('hop2');
  const [producer, relay, last] = [unique('producer'), unique('relay'), unique('last')];
  const relaying = startRole({ role: 'consume', collector, service: relay, env: { QUEUE: first, FORWARD_QUEUE: second } });
  const finishing = startRole({ role: 'consume', library: 'v0', collector, service: last, env: { QUEUE: second } });
  const produced = await runRole({ role: 'produce', collector, service: producer, env: { QUEUE: first } });
  await Promise.all([relaying, finishing]);
  const [result] = printed(produced.stdout, 'RESULT');

  const spans = await spansOf(collector, [producer, relay, last], (all) => all.length >= 7);
  expect(spans).toHaveLength(7);
  expect(assertSingleTrace(spans)).toBe(result.rootTraceId);
  assertNoOrphans(spans);
  assertParentChild(spans, { name: 'produce' }, { kind: 'PRODUCER', service: producer });
  assertParentChild(spans, { kind: 'PRODUCER', service: producer }, { kind: 'CONSUMER', service: relay });
  assertParentChild(spans, { kind: 'CONSUMER', service: relay }, { kind: 'PRODUCER', service: relay });
  assertParentChild(spans, { kind: 'PRODUCER', service: relay }, { kind: 'CONSUMER', service: last });
  assertParentChild(spans, { kind: 'CONSUMER', service: last }, { name: 'handle', service: last });
});

test('useLinks: the consumer starts a new trace that links to the send span', async () => {
  const queue = unique('links');
  const [producer, consumer] = [unique('producer'), unique('consumer')];
  const consuming = startRole({ role: 'consume', collector, service: consumer, env: { QUEUE: queue, THREADLINE_USE_LINKS: 'true' } });
  await runRole({ role: 'produce', collector, service: producer, env: { QUEUE: queue } });
  await consuming;

  const spans = await spansOf(collector, [producer, consumer], (all) => all.length >= 4);
  const send = findSpan(spans, { kind: 'PRODUCER' });
  const process = findSpan(spans, { kind: 'CONSUMER' });
  expect(process.parentSpanId).toBeUndefined();
  expect(process.traceId).not.toBe(send.traceId);
  assertLink(spans, { kind: 'CONSUMER' }, { kind: 'PRODUCER' });
  assertParentChild(spans, { kind: 'CONSUMER' }, { name: 'handle' });
});

test('propagation-only: no messaging spans, and the consumer’s work still joins the producer’s trace', async () => {
  const queue = unique('propagation');
  const [producer, consumer] = [unique('producer'), unique('consumer')];
  const env = { QUEUE: queue, THREADLINE_MODE: 'propagation-only' };
  const consuming = startRole({ role: 'consume', collector, service: consumer, env });
  const produced = await runRole({ role: 'produce', collector, service: producer, env });
  const received = printed((await consuming).stdout, 'RECEIVED');
  const [result] = printed(produced.stdout, 'RESULT');

  const spans = await spansOf(collector, [producer, consumer], (all) => all.length >= 2);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const late: CollectedSpan[] = collector.spans().filter((span) => [producer, consumer].includes(span.serviceName));
  expect(late.map((span) => span.name).sort()).toEqual(['handle', 'produce']);
  assertSingleTrace(spans);
  assertParentChild(spans, { name: 'produce' }, { name: 'handle' });
  expect(received[0].properties.headers.traceparent).toBe(`00-${result.rootTraceId}-${result.rootSpanId}-01`);
  expect(received[0].active.spanId).toBe(result.rootSpanId);
});

test.each(['v1', 'v0.10.0'] as const)('amqplib %s (inside the supported range): confirm publish and callback consume join one trace', async (library) => {
  const queue = unique(`smoke-${library}`);
  const service = unique('smoke');
  await runRole({ role: 'produce+consume', library, collector, service, env: { QUEUE: queue, API: 'callback', CHANNEL: 'confirm' } });
  const spans = await spansOf(collector, [service], (all) => all.length >= 4);
  assertSingleTrace(spans);
  expect(named(spans, 'send amq.default')).toHaveLength(1);
  assertParentChild(spans, { kind: 'PRODUCER' }, { kind: 'CONSUMER' });
});
