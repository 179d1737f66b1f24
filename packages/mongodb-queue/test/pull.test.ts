// A claim (`await findOneAndUpdate(...)`, then work) and each loop form over find().toArray()
// (for…of, forEach, map, Promise.all(map(async))) keep each document's work in its producer's
// trace with no code change. ESM and CJS fixtures under the
// register hook, the real MongoDB wire server.
import { join } from 'node:path';
import { assertDescends, assertOutsideTraces, brokerAddresses, describePullFixture } from '@threadline/testing';

jest.setTimeout(120000);

describePullFixture(
  {
    describe: 'claims and loops over toArray()',
    test: "each document's work descends from its producer; the bad document and the code after the last claim or loop do not",
    dir: join(__dirname, 'fixtures/pull'),
    service: 'mongo-pull',
    propagationOnly: 'pull.cjs',
    env: ({ file, mode }) => {
      const db = `pull${Date.now()}${mode === 'spans' ? 's' : 'p'}${file.length}`;
      return { MONGODB_URL: brokerAddresses().mongodb.url, QUEUE_DB: db, THREADLINE_MONGODB_QUEUE_COLLECTIONS: `${db}.jobs` };
    },
    // This test has never checked the exit code, only stderr and what it saw.
    exitZero: false,
    stdout: ['SEEN 3 3 3 3 3'],
    until: ['done:promiseAllMap'],
  },
  ({ mode, spans, producers }) => {
    for (const form of ['claim', 'forof', 'forEach', 'map', 'promiseAllMap']) {
      for (const index of [0, 2]) {
        assertDescends(spans, `produce:${form}:${index}`, `work:${form}:${index}`);
        // map's callback is synchronous: it only marks the work.
        if (form !== 'map') assertDescends(spans, `work:${form}:${index}`, `inner:${form}:${index}`);
      }
      assertOutsideTraces(spans, `work:${form}:1`, producers);
      assertOutsideTraces(spans, `done:${form}`, producers);
    }
    if (mode === 'propagation-only') {
      expect(spans.filter((span) => span.kind !== 'INTERNAL')).toHaveLength(0);
      expect(spans.find((span) => span.name === 'work:claim:0')!.parentSpanId).toBe(spans.find((span) => span.name === 'produce:claim:0')!.spanId);
    }
  },
);
