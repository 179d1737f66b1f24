// Kafka killed with SIGKILL mid-stream and restarted; an uninstrumented control run and an
// instrumented run (register hook) stream side by side through the same fault.
import { startCollector } from '@threadline/testing';
import { assertMemoryBounded, assertNoLoss, assertPropagated, assertSameDelivery, assertSpansClosed, brokerUp, finishAll, killBroker, logSummary, operation, RUN_ID, spansOfService, startPair } from './support';

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
    await Promise.all(runs.map((run) => run.fixture.waitForLine(/^HALFWAY/, 90_000)));
    await killBroker('kafka');
    await new Promise((done) => setTimeout(done, 1500));
    await brokerUp('kafka');
    const results = await finishAll(runs, 170_000);
    logSummary('kafka', results);
    const { instrumented } = results;
    const service = runs[1].service;
    const expected = Object.values(instrumented.spans?.counts ?? {}).reduce((total, { started }) => total + started, 0);
    const spans = spansOfService(await collector.waitFor((all) => spansOfService(all, service).length >= expected, { timeoutMs: 20_000 }), service);

    assertSameDelivery(results, MESSAGES);
    assertNoLoss(results, true);
    assertSpansClosed(instrumented, spans);
    assertPropagated(spans);
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
