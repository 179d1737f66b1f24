// ReceiveMessage pulls keep each message's work in its producer's trace, with no code change:
// loops over res.Messages (for…of, forEach, map, Promise.all(map(async))), Messages[0] after the
// await, and a receive inside a helper. ESM and CJS fixtures under the register hook, real ElasticMQ.
import { join } from 'node:path';
import { assertDescends, assertOutsideTraces, brokerAddresses, runFixture, startCollector, type CollectedSpan, type SpanCollector } from '@threadline/testing';

jest.setTimeout(120000);
const FORMS = ['forof', 'forEach', 'map', 'promiseAllMap', 'single', 'helper'];
let collector: SpanCollector;
beforeAll(async () => {
  collector = await startCollector();
});
afterAll(() => collector?.close());

const cases = [
  { title: 'ESM, spans', file: 'pull.mjs', mode: 'spans' },
  { title: 'CJS, spans', file: 'pull.cjs', mode: 'spans' },
  { title: 'CJS, propagation-only', file: 'pull.cjs', mode: 'propagation-only' },
];

describe.each(cases)('ReceiveMessage pulls ($title)', ({ file, mode }) => {
  test("each message's work descends from its producer; the bad message, the next poll and the post-loop work do not", async () => {
    const service = `sqs-pull-${file}-${mode}-${process.pid}`;
    const { elasticmq } = brokerAddresses();
    const result = await runFixture(join(__dirname, 'fixtures/pull', file), {
      collector,
      serviceName: service,
      env: { SQS_ENDPOINT: elasticmq.endpoint, SQS_REGION: elasticmq.region, QUEUE_PREFIX: `pull${Date.now()}${mode === 'spans' ? 's' : 'p'}`, THREADLINE_MODE: mode },
      timeoutMs: 90000,
    });
    expect(result.stderr).not.toContain('FIXTURE FAILED');
    expect(result.code).toBe(0);
    for (const form of FORMS) expect(result.stdout).toContain(`SEEN ${form} 3`);
    const mine = (all: readonly CollectedSpan[]) => all.filter((span) => span.serviceName === service);
    const spans = mine(await collector.waitFor((all) => FORMS.every((form) => mine(all).some((span) => span.name === `done:${form}`))));
    const producers = spans.filter((span) => span.name.startsWith('produce:')).map((span) => span.name);
    for (const form of FORMS) {
      for (const index of [0, 2]) {
        assertDescends(spans, `produce:${form}:${index}`, `work:${form}:${index}`);
        if (form !== 'map') assertDescends(spans, `work:${form}:${index}`, `inner:${form}:${index}`);
      }
      // Garbage context in the middle: a new root; its neighbours keep theirs.
      assertOutsideTraces(spans, `work:${form}:1`, producers);
      assertOutsideTraces(spans, `done:${form}`, producers);
      if (form === 'single' || form === 'helper') {
        // After DeleteMessage (also seen by the helper's caller) the message's context is over.
        for (const index of [0, 1, 2]) assertOutsideTraces(spans, `after-delete:${form}:${index}`, producers);
      } else {
        assertOutsideTraces(spans, `after:${form}`, producers);
      }
    }
    if (mode === 'propagation-only') {
      expect(spans.filter((span) => span.kind !== 'INTERNAL')).toHaveLength(0);
      expect(spans.find((span) => span.name === 'work:single:0')!.parentSpanId).toBe(spans.find((span) => span.name === 'produce:single:0')!.spanId);
    }
  });
});
