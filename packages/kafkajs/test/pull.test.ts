// eachBatch loops keep each message's work in its producer's trace, with no code change: the
// fixtures (ESM and CJS, under the register hook, real Kafka) loop over batch.messages with
// for…of, forEach, map, Promise.all(map(async)), break and a throw.
import { join } from 'node:path';
import { assertDescends, assertOutsideTraces, brokerAddresses, describePullFixture } from '@threadline/testing';

jest.setTimeout(120000);
const FORMS = ['forof', 'forEach', 'map', 'promiseAllMap', 'break', 'throw'];

describePullFixture(
  {
    describe: 'eachBatch loops',
    test: "each message's work descends from its producer; the bad message, the next message and the post-loop work do not",
    dir: join(__dirname, 'fixtures/pull'),
    service: 'pull',
    propagationOnly: 'pull.mjs',
    env: ({ file, mode }) => ({ KAFKA_BROKERS: JSON.stringify(brokerAddresses().kafka.brokers), TOPIC_PREFIX: `pull-${mode}-${file.replace('.', '-')}-${Date.now()}` }),
    until: FORMS.map((form) => `after:${form}`),
  },
  ({ mode, spans, producers }) => {
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
  },
);
