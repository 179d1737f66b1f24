/**
 * A chain of processes, each under the register hook, each starting the next with a different
 * child_process function: ESM `spawn` → CommonJS `exec` → ESM `fork` → CommonJS. One trace, with
 * each process's `run` span under the `spawn` span of the process that started it.
 */
import { join } from 'node:path';
import {
  assertNoOrphans,
  assertSingleTrace,
  findSpan,
  formatSpans,
  registerEntry,
  runFixture,
  startCollector,
  type CollectedSpan,
  type SpanCollector,
} from '@threadline/testing';
import { assertBuilt } from './built';

jest.setTimeout(60_000);

let collector: SpanCollector;
beforeAll(async () => {
  assertBuilt();
  collector = await startCollector();
});
afterAll(async () => {
  await collector?.close();
});

/** The one span named `name` whose parent is `parent`. */
function childOf(spans: CollectedSpan[], parent: CollectedSpan, name: string): CollectedSpan {
  return findSpan(spans, (span) => span.parentSpanId === parent.spanId && span.name === name);
}

test('a chain of four processes (spawn, exec, fork) is one trace with the right parents', async () => {
  const service = `chain-${Date.now().toString(36)}`;
  const result = await runFixture(join(__dirname, 'fixtures', 'chain.mjs'), {
    collector,
    serviceName: service,
    env: { REGISTER_ENTRY: registerEntry() },
    timeoutMs: 50_000,
  });
  expect(result.code).toBe(0);
  for (const level of [0, 1, 2, 3]) expect(result.stdout).toContain(`LEVEL ${level} envUntouched=true`);

  let spans: CollectedSpan[] = [];
  try {
    spans = (await collector.waitFor((all) => all.filter((span) => span.serviceName === service && span.name === 'chain 0').length === 1, { timeoutMs: 20_000 })).filter(
      (span) => span.serviceName === service,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${formatSpans(collector.spans())}`);
  }
  assertSingleTrace(spans);
  assertNoOrphans(spans);

  const level0 = findSpan(spans, 'chain 0');
  expect(level0.parentSpanId).toBeUndefined();
  // Each hop: the starting process's spawn span, the child's run span under it, the child's own work under that.
  const hops: Array<[string, string]> = [
    ['spawn node', 'run chain.cjs'], // spawn(process.execPath, ['--require', register, 'chain.cjs', '1'])
    ['spawn node', 'run chain.mjs'], // exec('"node" --import "…" "chain.mjs" 2')
    ['spawn chain.cjs', 'run chain.cjs'], // fork('chain.cjs', ['3'])
  ];
  let current = level0;
  for (const [index, [spawnName, runName]] of hops.entries()) {
    const spawned = childOf(spans, current, spawnName);
    expect(spawned.kind).toBe('PRODUCER');
    // Process starts have their own instrumentation scope, apart from the Kubernetes spans.
    expect(spawned.scope).toBe('@threadline/k8s-job/child-process');
    const run = childOf(spans, spawned, runName);
    expect(run.kind).toBe('CONSUMER');
    current = childOf(spans, run, `chain ${index + 1}`);
  }
  expect(spans).toHaveLength(1 + hops.length * 3);
});
