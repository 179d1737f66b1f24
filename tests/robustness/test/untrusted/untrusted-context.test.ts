// Untrusted incoming context, end to end through RabbitMQ and Kafka: `incomingContext` decides
// whether a message's context becomes the parent, a link, or nothing; baggage survives only under
// `parent` with propagateBaggage. Through the register hook (THREADLINE_USE_LINKS) and through an
// instrumentation the app builds itself (the way a NodeSDK set-up passes options).
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runFixture, startCollector, type CollectedSpan, type SpanCollector } from '@threadline/testing';

const FIXTURE = resolve(__dirname, '../fixtures/untrusted.cjs');
const RUN_ID = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const SHORT = { amqplib: 'amqplib', kafkajs: 'kafkajs' } as const;
let counter = 0;
let collector: SpanCollector;

beforeAll(async () => {
  collector = await startCollector();
});
afterAll(async () => {
  await collector.close();
});

interface Seen {
  source: string;
  traceId?: string;
  spanId?: string;
  baggage: Record<string, string>;
}

async function scenario(transport: 'amqplib' | 'kafkajs', env: Record<string, string>) {
  counter += 1;
  const service = `untrusted-${transport}-${RUN_ID}-${counter}`;
  const custom = env.POLICY !== undefined;
  const output = await runFixture(FIXTURE, {
    collector,
    serviceName: service,
    loader: 'require',
    timeoutMs: 60_000,
    env: {
      TRANSPORT: transport,
      DESTINATION: `tl-untrusted-${RUN_ID}-${counter}`,
      ...(custom ? { OTEL_NODE_DISABLED_INSTRUMENTATIONS: SHORT[transport] } : {}),
      ...env,
    },
  });
  const line = output.stdout.split('\n').find((candidate) => candidate.startsWith('RESULT '));
  if (output.code !== 0 || line === undefined) throw new Error(`fixture exited ${output.code}\n${output.stdout}\n${output.stderr}`);
  const seen = (JSON.parse(line.slice('RESULT '.length)).seen as Seen[]).sort((a, b) => a.source.localeCompare(b.source));
  const all = await collector.waitFor((spans) => spans.filter((span) => span.serviceName === service && span.kind === 'CONSUMER').length >= 2, { timeoutMs: 20_000 });
  const spans = all.filter((span) => span.serviceName === service);
  const sends = spans.filter((span) => span.kind === 'PRODUCER');
  const request = spans.find((span) => span.name === 'request')!;
  expect(sends).toHaveLength(2);
  for (const send of sends) expect(send.traceId).toBe(request.traceId);
  // The consumer span each handler ran in, and the send span of its message.
  const byHandler = (item: Seen) => spans.find((span) => span.kind === 'CONSUMER' && span.spanId === item.spanId)!;
  return { seen, spans, sends, request, byHandler };
}

const [external, internal] = [0, 1];
const parentIsASend = (span: CollectedSpan, sends: CollectedSpan[]) => sends.some((send) => send.spanId === span.parentSpanId);
const linksASend = (span: CollectedSpan, sends: CollectedSpan[]) => span.links.length === 1 && sends.some((send) => send.spanId === span.links[0].spanId);
const FULL_BAGGAGE = { tenant: 'evil-corp', role: 'admin' };

describe.each(['amqplib', 'kafkajs'] as const)('%s', (transport) => {
  test('default (register hook): parent, baggage kept', async () => {
    const { seen, sends, request, byHandler } = await scenario(transport, {});
    for (const item of seen) {
      expect(item.traceId).toBe(request.traceId);
      expect(parentIsASend(byHandler(item), sends)).toBe(true);
      expect(item.baggage).toEqual(FULL_BAGGAGE);
    }
  });

  test('THREADLINE_USE_LINKS=true (register hook): a new trace linked to the producer; baggage dropped', async () => {
    const { seen, sends, request, byHandler } = await scenario(transport, { THREADLINE_USE_LINKS: 'true' });
    for (const item of seen) {
      const span = byHandler(item);
      expect(item.traceId).not.toBe(request.traceId);
      expect(span.parentSpanId).toBeUndefined();
      expect(linksASend(span, sends)).toBe(true);
      expect(item.baggage).toEqual({});
    }
  });

  test("incomingContext 'ignore': a new trace, no link, no baggage", async () => {
    const { seen, request, byHandler } = await scenario(transport, { POLICY: 'ignore' });
    for (const item of seen) {
      const span = byHandler(item);
      expect(item.traceId).not.toBe(request.traceId);
      expect(span.parentSpanId).toBeUndefined();
      expect(span.links).toEqual([]);
      expect(item.baggage).toEqual({});
    }
  });

  test("incomingContext 'link' set in code: link, no baggage", async () => {
    const { seen, sends, request, byHandler } = await scenario(transport, { POLICY: 'link' });
    for (const item of seen) {
      expect(item.traceId).not.toBe(request.traceId);
      expect(linksASend(byHandler(item), sends)).toBe(true);
      expect(item.baggage).toEqual({});
    }
  });

  test('incomingContext as a function of the message: the internal message is a child with baggage, the external one only a link without', async () => {
    const { seen, sends, request, byHandler } = await scenario(transport, { POLICY: 'function' });
    expect(seen.map((item) => item.source)).toEqual(['external', 'internal']);
    expect(seen[internal].traceId).toBe(request.traceId);
    expect(parentIsASend(byHandler(seen[internal]), sends)).toBe(true);
    expect(seen[internal].baggage).toEqual(FULL_BAGGAGE);
    expect(seen[external].traceId).not.toBe(request.traceId);
    expect(byHandler(seen[external]).parentSpanId).toBeUndefined();
    expect(linksASend(byHandler(seen[external]), sends)).toBe(true);
    expect(seen[external].baggage).toEqual({});
  });

  test("propagateBaggage false with 'parent': still the child, no baggage", async () => {
    const { seen, sends, request, byHandler } = await scenario(transport, { POLICY: 'parent', PROPAGATE_BAGGAGE: 'false' });
    for (const item of seen) {
      expect(item.traceId).toBe(request.traceId);
      expect(parentIsASend(byHandler(item), sends)).toBe(true);
      expect(item.baggage).toEqual({});
    }
  });
});
