// RabbitMQ killed with SIGKILL mid-stream and restarted; an uninstrumented control run and an
// instrumented run (register hook) stream side by side through the same fault.
import { startCollector } from '@threadline/testing';
import { assertMemoryBounded, assertNoLoss, assertPropagated, assertSameDelivery, assertSpansClosed, brokerUp, finishAll, killBroker, logSummary, operation, RUN_ID, spansOfService, startPair } from './support';

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
    await Promise.all(runs.map((run) => run.fixture.waitForLine(/^HALFWAY/, 60_000)));
    await killBroker('rabbitmq');
    await new Promise((done) => setTimeout(done, 1500));
    await brokerUp('rabbitmq');
    const results = await finishAll(runs, 150_000);
    logSummary('rabbitmq', results);
    const { instrumented } = results;
    const service = runs[1].service;
    const expected = Object.values(instrumented.spans?.counts ?? {}).reduce((total, { started }) => total + started, 0);
    const spans = spansOfService(await collector.waitFor((all) => spansOfService(all, service).length >= expected, { timeoutMs: 20_000 }), service);

    assertSameDelivery(results, MESSAGES);
    assertNoLoss(results, true);
    assertSpansClosed(instrumented, spans);
    assertPropagated(spans);
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
