// ElasticMQ (SQS) killed with SIGKILL mid-stream and restarted; an uninstrumented control run and
// an instrumented run (register hook) stream side by side through the same fault. ElasticMQ keeps
// queues in memory, so both apps recreate their queue and resend what never arrived.
import { startCollector } from '@threadline/testing';
import { assertMemoryBounded, assertNoLoss, assertPropagated, assertSameDelivery, assertSpansClosed, brokerUp, finishAll, killBroker, logSummary, operation, RUN_ID, spansOfService, startPair } from './support';

const MESSAGES = 150;

afterEach(async () => {
  await brokerUp('elasticmq');
}, 240_000);

test('@aws-sdk/client-sqs: same messages, same bytes as the control; no threadline error; every span ends, with error status on failed calls', async () => {
  await brokerUp('elasticmq');
  const collector = await startCollector();
  const runs = startPair('sqs-stream.cjs', collector, (name) => ({
    QUEUE: `threadline-faults-${RUN_ID}-${name}`,
    MESSAGES: String(MESSAGES),
    HALFWAY_AT: '40',
  }));
  try {
    await Promise.all(runs.map((run) => run.fixture.waitForLine(/^HALFWAY/, 60_000)));
    await killBroker('elasticmq');
    await new Promise((done) => setTimeout(done, 1500));
    await brokerUp('elasticmq');
    const results = await finishAll(runs, 150_000);
    logSummary('elasticmq', results);
    const { instrumented } = results;
    const service = runs[1].service;
    const expected = Object.values(instrumented.spans?.counts ?? {}).reduce((total, { started }) => total + started, 0);
    const spans = spansOfService(await collector.waitFor((all) => spansOfService(all, service).length >= expected, { timeoutMs: 20_000 }), service);

    assertSameDelivery(results, MESSAGES);
    assertNoLoss(results, false);
    assertSpansClosed(instrumented, spans);
    assertPropagated(spans);
    expect(results.control.failedAttempts + (results.control.counters.receiveFailed ?? 0)).toBeGreaterThan(0);
    expect(instrumented.failedAttempts + (instrumented.counters.receiveFailed ?? 0)).toBeGreaterThan(0);
    // One send span per SendMessage; failed ones are ERROR spans.
    const sends = spans.filter((span) => operation(span) === 'send');
    expect(sends).toHaveLength(instrumented.attempts);
    expect(sends.filter((span) => span.status.code === 'ERROR')).toHaveLength(instrumented.failedAttempts);
    // A receive that failed is one ERROR `receive` span; one message makes a `process` span, several a `receive` span.
    const receives = spans.filter((span) => operation(span) === 'receive');
    const counters = instrumented.counters;
    expect(receives.filter((span) => span.status.code === 'ERROR')).toHaveLength(counters.receiveFailed ?? 0);
    expect(receives.filter((span) => span.status.code !== 'ERROR')).toHaveLength(counters.receivedSeveral ?? 0);
    expect(spans.filter((span) => operation(span) === 'process')).toHaveLength(counters.receivedOne ?? 0);
    assertMemoryBounded(results);
  } finally {
    await Promise.all(runs.map((run) => run.fixture.stop('SIGKILL')));
    await collector.close();
  }
});
