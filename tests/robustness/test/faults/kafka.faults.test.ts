// Kafka killed with SIGKILL mid-stream and restarted; an uninstrumented control run and an
// instrumented run (register hook) stream side by side through the same fault.
import { startCollector } from '@threadline/testing';
import { assertMemoryBounded, brokerUp, killMidStreamAndFinish, operation, RUN_ID, startPair } from './support';

const MESSAGES = 150;

afterEach(async () => {
  await brokerUp('kafka');
}, 240_000);

test('kafkajs: same messages, same bytes as the control; no threadline error; every span ends, with error status on failed sends', async () => {
  await brokerUp('kafka');
  const collector = await startCollector();
  const runs = startPair('kafka-stream.cjs', collector, (name) => ({
    TOPIC: `threadline-faults-${RUN_ID}-${name}`,
    MESSAGES: String(MESSAGES),
    HALFWAY_AT: '40',
  }));
  try {
    const { results, instrumented, spans } = await killMidStreamAndFinish('kafka', runs, collector, { messages: MESSAGES, durable: true, halfwayTimeoutMs: 90_000, finishTimeoutMs: 170_000 });
    expect(results.control.failedAttempts).toBeGreaterThan(0);
    expect(instrumented.failedAttempts).toBeGreaterThan(0);
    const sends = spans.filter((span) => operation(span) === 'send');
    expect(sends).toHaveLength(instrumented.attempts);
    expect(sends.filter((span) => span.status.code === 'ERROR')).toHaveLength(instrumented.failedAttempts);
    expect(spans.filter((span) => operation(span) === 'process')).toHaveLength(instrumented.deliveries);
    assertMemoryBounded(results);
  } finally {
    await Promise.all(runs.map((run) => run.fixture.stop('SIGKILL')));
    await collector.close();
  }
});
