// ElasticMQ (SQS) killed with SIGKILL mid-stream and restarted; an uninstrumented control run and
// an instrumented run (register hook) stream side by side through the same fault. ElasticMQ keeps
// queues in memory, so both apps recreate their queue and resend what never arrived.
import { startCollector } from '@threadline/testing';
import { assertMemoryBounded, brokerUp, killMidStreamAndFinish, operation, RUN_ID, startPair } from './support';

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
    const { results, instrumented, spans } = await killMidStreamAndFinish('elasticmq', runs, collector, { messages: MESSAGES, durable: false, halfwayTimeoutMs: 60_000, finishTimeoutMs: 150_000 });
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
