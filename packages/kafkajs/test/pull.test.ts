// eachBatch loops keep each message's work in its producer's trace, with no code change: the
// fixtures (ESM and CJS, under the register hook, real Kafka) loop over batch.messages with
// for…of, forEach, map, Promise.all(map(async)), break and a throw.
import { join } from 'node:path';
import { assertDescends, assertOutsideTraces, brokerAddresses, runFixture, startCollector, type SpanCollector } from '@threadline/testing';

jest.setTimeout(120000);
const FORMS = ['forof', 'forEach', 'map', 'promiseAllMap', 'break', 'throw'];
let collector: SpanCollector;
beforeAll(async () => {
  collector = await startCollector();
});
afterAll(() => collector?.close());

const cases = [
  { title: 'ESM, spans', file: 'pull.mjs', mode: 'spans' },
  { title: 'CJS, spans', file: 'pull.cjs', mode: 'spans' },
  { title: 'ESM, propagation-only', file: 'pull.mjs', mode: 'propagation-only' },
];

describe.each(cases)('eachBatch loops ($title)', ({ file, mode }) => {
  test('each message\'s work descends from its producer; the bad message, the next message and the post-loop work do not', async () => {
    const service = `pull-${file}-${mode}-${process.pid}`;
    const prefix = `pull-${mode}-${file.replace('.', '-')}-${Date.now()}`;
    const result = await runFixture(join(__dirname, 'fixtures/pull', file), {
      collector,
      serviceName: service,
      env: { KAFKA_BROKERS: JSON.stringify(brokerAddresses().kafka.brokers), TOPIC_PREFIX: prefix, THREADLINE_MODE: mode },
      timeoutMs: 90000,
    });
    expect(result.stderr).not.toContain('FIXTURE FAILED');
    expect(result.code).toBe(0);
    const expected = (spans: { name: string }[]) => FORMS.every((form) => spans.some((span) => span.name === `after:${form}`));
    const spans = (await collector.waitFor((all) => expected(all.filter((span) => span.serviceName === service)))).filter(
      (span) => span.serviceName === service,
    );
    const producers = spans.filter((span) => span.name.startsWith('produce:')).map((span) => span.name);
    for (const form of FORMS) {
      assertDescends(spans, `produce:${form}:0`, `work:${form}:0`);
      if (form !== 'map') assertDescends(spans, `work:${form}:0`, `inner:${form}:0`);
      assertOutsideTraces(spans, `after:${form}`, producers);
      if (form === 'break' || form === 'throw') {
        // The loop ended after the first message: nothing else ran in a message's context.
        expect(spans.some((span) => span.name === `work:${form}:2`)).toBe(false);
        continue;
      }
      assertDescends(spans, `produce:${form}:2`, `work:${form}:2`);
      // Garbage context in the middle of the batch: a new root, neighbours keep theirs.
      assertOutsideTraces(spans, `work:${form}:1`, producers);
    }
    if (mode === 'propagation-only') {
      expect(spans.filter((span) => span.kind === 'CONSUMER' || span.kind === 'PRODUCER')).toHaveLength(0);
      for (const form of ['forof', 'promiseAllMap']) {
        const work = spans.find((span) => span.name === `work:${form}:0`)!;
        expect(work.parentSpanId).toBe(spans.find((span) => span.name === `produce:${form}:0`)!.spanId);
      }
    } else {
      // One process span per message worked on (lazily: none for a loop that never used the context).
      const perMessage = spans.filter((span) => span.kind === 'CONSUMER' && span.name.endsWith('-forof') && span.links.length === 1);
      expect(perMessage).toHaveLength(3);
    }
  });
});
