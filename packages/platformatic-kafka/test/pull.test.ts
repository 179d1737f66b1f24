// The work after `for await (const message of stream)` (and in a 'data' listener) stays in each
// message's producer trace with no code change: ESM and CJS under the register hook, real Kafka,
// the loop ended by its count, `break` or a throw.
import { join } from 'node:path';
import { assertDescends, assertOutsideTraces, brokerAddresses, describePullFixture } from '@threadline/testing';
import { describeOnSupportedNode, NEWEST } from './platformatic';

jest.setTimeout(120000);
const FORMS = ['forawait', 'break', 'throw', 'data'];

describeOnSupportedNode('@platformatic/kafka pull shapes', () => {
  describePullFixture(
    {
      describe: 'messages stream loops',
      test: "each message's work descends from its producer; the bad message and the post-loop work do not",
      dir: join(__dirname, 'fixtures/pull'),
      service: 'platformatic-pull',
      propagationOnly: 'pull.cjs',
      env: ({ file, mode }) => ({
        KAFKA_BROKERS: JSON.stringify(brokerAddresses().kafka.brokers),
        PLATFORMATIC_DIR: NEWEST.dir,
        TOPIC_PREFIX: `threadline-platformatic-pull-${mode}-${file.replace('.', '-')}-${Date.now()}`,
      }),
      until: FORMS.map((form) => `after:${form}`),
    },
    ({ mode, spans, producers }) => {
      for (const form of FORMS) {
        assertDescends(spans, `produce:${form}:0`, `work:${form}:0`);
        assertDescends(spans, `work:${form}:0`, `inner:${form}:0`);
        assertOutsideTraces(spans, `after:${form}`, producers);
        if (form === 'break' || form === 'throw') {
          expect(spans.some((span) => span.name === `work:${form}:1`)).toBe(false);
          continue;
        }
        assertDescends(spans, `produce:${form}:2`, `work:${form}:2`);
        assertOutsideTraces(spans, `work:${form}:1`, producers);
      }
      if (mode === 'propagation-only') {
        expect(spans.filter((span) => span.kind === 'CONSUMER' || span.kind === 'PRODUCER')).toHaveLength(0);
        const work = spans.find((span) => span.name === 'work:forawait:0')!;
        expect(work.parentSpanId).toBe(spans.find((span) => span.name === 'produce:forawait:0')!.spanId);
      } else {
        // One process span per message the for-await loop handed over.
        expect(spans.filter((span) => span.kind === 'CONSUMER' && span.name.endsWith('-forawait'))).toHaveLength(3);
      }
    },
  );
});
