// An SQS message with no message-attribute slot left (SQS allows 10), through the real ElasticMQ
// with strict SQS limits: the message goes exactly as without instrumentation, without context
// (never half of one), and a diag warning says so.
import { run, unique } from './support';

const CONTEXT_ATTRIBUTES = ['traceparent', 'tracestate', 'baggage'];
const withoutContext = (attributes: Record<string, string>) =>
  Object.fromEntries(Object.entries(attributes).filter(([key]) => !CONTEXT_ATTRIBUTES.includes(key)));

async function runBoth(env: Record<string, string> = {}) {
  const control = await run('limits-sqs-budget.cjs', { loader: 'none', env: { QUEUE: unique('sqs-budget-control') } });
  const traced = await run('limits-sqs-budget.cjs', { serviceName: 'limits-sqs', env: { QUEUE: unique('sqs-budget'), OTEL_LOG_LEVEL: 'warn', ...env } });
  // Same outcome per message, and every user attribute arrives as sent.
  expect(traced.result.sent).toEqual(control.result.sent);
  for (const [name, attributes] of Object.entries(control.result.received as Record<string, Record<string, string>>)) {
    expect([name, withoutContext(traced.result.received[name])]).toEqual([name, attributes]);
  }
  return { control, traced, received: traced.result.received as Record<string, Record<string, string>> };
}

test("all-or-none (default): a full message goes without context; an 11th attribute fails exactly as without instrumentation", async () => {
  const { control, traced, received } = await runBoth();
  expect(control.result.sent.ten).toBe('ok');
  expect(control.result.sent.eleven).not.toBe('ok'); // ElasticMQ (strict) refuses 11 attributes, with or without threadline
  expect(Object.keys(received.ten)).toHaveLength(10);
  expect(Object.keys(received.ten).filter((key) => CONTEXT_ATTRIBUTES.includes(key))).toEqual([]);
  // One free slot is enough for the traceparent alone …
  expect(received.nine.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  // … but not for traceparent + baggage: then nothing, never half a context.
  expect(Object.keys(received['nine-with-baggage']).filter((key) => CONTEXT_ATTRIBUTES.includes(key))).toEqual([]);
  expect(received['eight-with-baggage']).toMatchObject({ traceparent: expect.any(String), baggage: 'tenant=acme' });
  expect(traced.output.stderr).toMatch(/carrier holds 10 of 10 entries; context needs 1 more, so none is injected/);
});

test('traceparent-only (THREADLINE_SQS_ATTRIBUTE_BUDGET): the trace context alone when the baggage does not fit', async () => {
  const { received } = await runBoth({ THREADLINE_SQS_ATTRIBUTE_BUDGET: 'traceparent-only' });
  expect(received['nine-with-baggage'].traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  expect(received['nine-with-baggage'].baggage).toBeUndefined();
  expect(Object.keys(received['nine-with-baggage'])).toHaveLength(10);
  expect(Object.keys(received.ten).filter((key) => CONTEXT_ATTRIBUTES.includes(key))).toEqual([]);
});
