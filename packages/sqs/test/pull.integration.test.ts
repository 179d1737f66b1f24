// ReceiveMessage pulls keep each message's work in its producer's trace, with no code change:
// loops over res.Messages (for…of, forEach, map, Promise.all(map(async))), Messages[0] after the
// await, and a receive inside a helper. ESM and CJS fixtures under the register hook, real ElasticMQ.
import { join } from 'node:path';
import { assertDescends, assertOutsideTraces, brokerAddresses, describePullFixture } from '@threadline/testing';

jest.setTimeout(120000);
const FORMS = ['forof', 'forEach', 'map', 'promiseAllMap', 'single', 'helper'];

describePullFixture(
  {
    describe: 'ReceiveMessage pulls',
    test: "each message's work descends from its producer; the bad message, the next poll and the post-loop work do not",
    dir: join(__dirname, 'fixtures/pull'),
    service: 'sqs-pull',
    propagationOnly: 'pull.cjs',
    env: ({ mode }) => {
      const { elasticmq } = brokerAddresses();
      return { SQS_ENDPOINT: elasticmq.endpoint, SQS_REGION: elasticmq.region, QUEUE_PREFIX: `pull${Date.now()}${mode === 'spans' ? 's' : 'p'}` };
    },
    stdout: FORMS.map((form) => `SEEN ${form} 3`),
    until: FORMS.map((form) => `done:${form}`),
  },
  ({ mode, spans, producers }) => {
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
  },
);
