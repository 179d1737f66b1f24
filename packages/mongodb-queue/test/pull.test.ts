// A claim (`await findOneAndUpdate(...)`, then work) and a loop over find().toArray() keep each
// document's work in its producer's trace with no code change. ESM and CJS fixtures under the
// register hook, the real MongoDB wire server.
import { join } from 'node:path';
import { assertDescends, assertOutsideTraces, brokerAddresses, runFixture, startCollector, type CollectedSpan, type SpanCollector } from '@threadline/testing';

jest.setTimeout(120000);
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

describe.each(cases)('claims and toArray loops ($title)', ({ file, mode }) => {
  test("each document's work descends from its producer; the bad document and the code after the last claim or loop do not", async () => {
    const service = `mongo-pull-${file}-${mode}-${process.pid}`;
    const db = `pull${Date.now()}${mode === 'spans' ? 's' : 'p'}${file.length}`;
    const result = await runFixture(join(__dirname, 'fixtures/pull', file), {
      collector,
      serviceName: service,
      env: { MONGODB_URL: brokerAddresses().mongodb.url, QUEUE_DB: db, THREADLINE_MONGODB_QUEUE_COLLECTIONS: `${db}.jobs`, THREADLINE_MODE: mode },
      timeoutMs: 90000,
    });
    expect(result.stderr).not.toContain('FIXTURE FAILED');
    expect(result.stdout).toContain('SEEN 3 3');
    const mine = (all: readonly CollectedSpan[]) => all.filter((span) => span.serviceName === service);
    const spans = mine(await collector.waitFor((all) => mine(all).some((span) => span.name === 'done:toArray')));
    const producers = spans.filter((span) => span.name.startsWith('produce:')).map((span) => span.name);
    for (const form of ['claim', 'toArray']) {
      for (const index of [0, 2]) {
        assertDescends(spans, `produce:${form}:${index}`, `work:${form}:${index}`);
        assertDescends(spans, `work:${form}:${index}`, `inner:${form}:${index}`);
      }
      assertOutsideTraces(spans, `work:${form}:1`, producers);
      assertOutsideTraces(spans, `done:${form}`, producers);
    }
    if (mode === 'propagation-only') {
      expect(spans.filter((span) => span.kind !== 'INTERNAL')).toHaveLength(0);
      expect(spans.find((span) => span.name === 'work:claim:0')!.parentSpanId).toBe(spans.find((span) => span.name === 'produce:claim:0')!.spanId);
    }
  });
});
