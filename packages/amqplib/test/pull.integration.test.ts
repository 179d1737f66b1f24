// `const msg = await ch.get(q)` keeps the work after the await in the message's trace, with no
// code change, until ack (or, with noAck, the next get). ESM and CJS fixtures under the register
// hook, real RabbitMQ.
import { join } from 'node:path';
import { assertDescends, assertOutsideTraces, brokerAddresses, runFixture, startCollector, type CollectedSpan, type SpanCollector } from '@threadline/testing';
import { requireRabbitMq } from './helpers';

jest.setTimeout(120000);
const FORMS = ['get', 'noAck', 'helper'];
let collector: SpanCollector;
beforeAll(async () => {
  await requireRabbitMq();
  collector = await startCollector();
});
afterAll(() => collector?.close());

const cases = [
  { title: 'ESM, spans', file: 'pull.mjs', mode: 'spans' },
  { title: 'CJS, spans', file: 'pull.cjs', mode: 'spans' },
  { title: 'ESM, propagation-only', file: 'pull.mjs', mode: 'propagation-only' },
];

describe.each(cases)('channel.get ($title)', ({ file, mode }) => {
  test("the work after await get descends from the producer; the bad message, the code after ack and the next get do not", async () => {
    const service = `amqp-pull-${file}-${mode}-${process.pid}`;
    const result = await runFixture(join(__dirname, 'fixtures/pull', file), {
      collector,
      serviceName: service,
      env: { AMQP_URL: brokerAddresses().rabbitmq.url, QUEUE_PREFIX: `pull-${Date.now()}-${mode}`, THREADLINE_MODE: mode },
      timeoutMs: 90000,
    });
    expect(result.stderr).not.toContain('FIXTURE FAILED');
    expect(result.code).toBe(0);
    const mine = (all: readonly CollectedSpan[]) => all.filter((span) => span.serviceName === service);
    const spans = mine(await collector.waitFor((all) => FORMS.every((form) => mine(all).some((span) => span.name === `done:${form}`))));
    const producers = spans.filter((span) => span.name.startsWith('produce:')).map((span) => span.name);
    for (const form of FORMS) {
      for (const index of [0, 2]) {
        assertDescends(spans, `produce:${form}:${index}`, `work:${form}:${index}`);
        assertDescends(spans, `work:${form}:${index}`, `inner:${form}:${index}`);
      }
      assertOutsideTraces(spans, `work:${form}:1`, producers);
      assertOutsideTraces(spans, `done:${form}`, producers);
      if (form !== 'noAck') for (const index of [0, 1, 2]) assertOutsideTraces(spans, `after:${form}:${index}`, producers);
    }
    if (mode === 'propagation-only') {
      expect(spans.filter((span) => span.kind !== 'INTERNAL')).toHaveLength(0);
      expect(spans.find((span) => span.name === 'work:get:0')!.parentSpanId).toBe(spans.find((span) => span.name === 'produce:get:0')!.spanId);
    }
  });
});
