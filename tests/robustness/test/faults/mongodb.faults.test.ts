// The MongoDB wire server killed with SIGKILL mid-stream and restarted; an uninstrumented control
// run and an instrumented run (register hook) stream side by side through the same fault. The
// server keeps data in memory, so both apps resend what never arrived.
import { startCollector } from '@threadline/testing';
import { assertMemoryBounded, brokerUp, killMidStreamAndFinish, operation, RUN_ID, startPair } from './support';

const MESSAGES = 150;

afterEach(async () => {
  await brokerUp('mongodb');
}, 240_000);

test('mongodb queue: same documents, same bytes as the control; no threadline error; every span ends, with error status on failed inserts', async () => {
  await brokerUp('mongodb');
  const collector = await startCollector();
  const runs = startPair('mongodb-stream.cjs', collector, (name) => {
    const collection = `jobs_${RUN_ID.replace(/-/g, '_')}_${name}`;
    return {
      COLLECTION: collection,
      THREADLINE_MONGODB_QUEUE_COLLECTIONS: `threadline_faults.${collection}`,
      MESSAGES: String(MESSAGES),
      HALFWAY_AT: '40',
    };
  });
  try {
    const { results, instrumented, spans } = await killMidStreamAndFinish('mongodb', runs, collector, { messages: MESSAGES, durable: false, halfwayTimeoutMs: 60_000, finishTimeoutMs: 150_000 });
    expect(results.control.failedAttempts + (results.control.counters.claimFailed ?? 0)).toBeGreaterThan(0);
    expect(instrumented.failedAttempts + (instrumented.counters.claimFailed ?? 0)).toBeGreaterThan(0);
    const sends = spans.filter((span) => operation(span) === 'send');
    expect(sends).toHaveLength(instrumented.attempts);
    expect(sends.filter((span) => span.status.code === 'ERROR')).toHaveLength(instrumented.failedAttempts);
    // One process span per claimed document (an empty or failed claim makes none).
    expect(spans.filter((span) => operation(span) === 'process')).toHaveLength(instrumented.counters.claimed ?? 0);
    assertMemoryBounded(results);
  } finally {
    await Promise.all(runs.map((run) => run.fixture.stop('SIGKILL')));
    await collector.close();
  }
});
