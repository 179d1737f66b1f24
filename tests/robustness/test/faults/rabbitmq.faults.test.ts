// RabbitMQ killed with SIGKILL mid-stream and restarted; an uninstrumented control run and an
// instrumented run (register hook) stream side by side through the same fault.
import { startCollector } from '@threadline/testing';
import { assertMemoryBounded, brokerUp, killMidStreamAndFinish, operation, RUN_ID, startPair } from './support';

const MESSAGES = 150;
const MAX_UNSETTLED = 20;

afterEach(async () => {
  // Whatever happened, the shared broker is back and healthy for whoever runs next.
  await brokerUp('rabbitmq');
}, 240_000);

test('amqplib: same messages, same bytes as the control; no threadline error; every span ends (error status on failures); unsettled spans stay bounded', async () => {
  await brokerUp('rabbitmq');
  const collector = await startCollector();
  const runs = startPair('amqplib-stream.cjs', collector, (name) => ({
    QUEUE: `threadline-faults-${RUN_ID}-${name}`,
    MESSAGES: String(MESSAGES),
    HALFWAY_AT: '40',
    // Acks wait long enough that ~25 messages are unsettled at a time: past the bound below.
    ACK_DELAY_MS: '500',
    THREADLINE_AMQPLIB_MAX_UNSETTLED_SPANS: String(MAX_UNSETTLED),
  }));
  try {
    const { results, instrumented, spans } = await killMidStreamAndFinish('rabbitmq', runs, collector, { messages: MESSAGES, durable: true, halfwayTimeoutMs: 60_000, finishTimeoutMs: 150_000 });
    // The fault really happened to both runs.
    expect(results.control.failedAttempts + (results.control.counters.connectFailed ?? 0)).toBeGreaterThan(0);
    expect(instrumented.counters.connectFailed ?? 0).toBeGreaterThan(0);

    // One send span per publish attempt; every failed attempt (throw or nack/close) is an ERROR span.
    const sends = spans.filter((span) => operation(span) === 'send');
    expect(sends).toHaveLength(instrumented.attempts);
    expect(sends.filter((span) => span.status.code === 'ERROR')).toHaveLength(instrumented.failedAttempts);
    // One process span per delivery; messages lost with their channel end as errors.
    const processes = spans.filter((span) => operation(span) === 'process');
    expect(processes).toHaveLength(instrumented.deliveries);
    const settlement = (value: string) => processes.filter((span) => span.attributes['threadline.amqplib.settlement'] === value);
    for (const span of settlement('channel_closed')) expect(span.status.code).toBe('ERROR');
    expect(settlement('ack').length + settlement('evicted').length + settlement('channel_closed').length).toBe(processes.length);

    // maxUnsettledSpans bounds the table: never more open consumer spans than that (+1 while the next is admitted).
    expect(settlement('evicted').length).toBeGreaterThan(0);
    expect(instrumented.spans!.maxOpenProcess).toBeLessThanOrEqual(MAX_UNSETTLED + 1);
    assertMemoryBounded(results);
  } finally {
    await Promise.all(runs.map((run) => run.fixture.stop('SIGKILL')));
    await collector.close();
  }
});
