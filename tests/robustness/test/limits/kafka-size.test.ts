// A Kafka message with "no headers left": Kafka limits no header count, only the size of a record
// batch (the topic's max.message.bytes). Messages of every size around the limit, through the real
// Kafka, instrumented (THREADLINE_KAFKAJS_MAX_MESSAGE_BYTES set to the topic's limit) and not.
import { run, unique } from './support';

const LIMIT = 4096;
// Value sizes from well below the limit to just above it, every 4 bytes.
const SIZES = Array.from({ length: 61 }, (_, index) => LIMIT - 220 + index * 4);

let control: Awaited<ReturnType<typeof run>>;
let traced: Awaited<ReturnType<typeof run>>;

beforeAll(async () => {
  const env = { MAX_MESSAGE_BYTES: String(LIMIT), VALUE_SIZES: JSON.stringify(SIZES) };
  control = await run('limits-kafka-size.cjs', { loader: 'none', env: { ...env, TOPIC: unique('kafka-size-control') } });
  traced = await run('limits-kafka-size.cjs', {
    serviceName: 'limits-kafka',
    env: { ...env, TOPIC: unique('kafka-size'), THREADLINE_KAFKAJS_MAX_MESSAGE_BYTES: String(LIMIT), OTEL_LOG_LEVEL: 'warn' },
  });
}, 180_000);

test('accepted messages arrive byte-identical; smaller ones carry the context, the largest that fit go without it', () => {
  const sent = control.result.sent as Record<string, string>;
  expect(Object.values(sent)).toContain('ok');
  expect(Object.values(sent).some((outcome) => outcome !== 'ok')).toBe(true);
  const withContext: number[] = [];
  const withoutContext: number[] = [];
  for (const size of SIZES.filter((candidate) => sent[candidate] === 'ok' && traced.result.sent[candidate] === 'ok')) {
    const plain = control.result.received[size];
    const got = traced.result.received[size];
    expect([size, got.value, got.own]).toEqual([size, plain.value, plain.own]);
    expect(plain.headers).toEqual(['x-size']);
    expect(got.headers.filter((name: string) => name !== 'traceparent')).toEqual(['x-size']);
    (got.headers.includes('traceparent') ? withContext : withoutContext).push(size);
  }
  expect(withContext.length).toBeGreaterThan(0);
  expect(withoutContext.length).toBeGreaterThan(0);
  expect(Math.max(...withContext)).toBeLessThan(Math.min(...withoutContext));
  expect(traced.output.stderr).toMatch(/would exceed maxMessageBytes \(4096\) with the context headers; it is sent without them/);
  // Nothing the control could not send gets through instrumented either.
  for (const size of SIZES) if (sent[size] !== 'ok') expect([size, traced.result.sent[size]]).toEqual([size, sent[size]]);
});

// Regression: near the limit the size estimate is only an estimate, so a message that might
// fit as given is never the one the traceparent header pushes over (MESSAGE_TOO_LARGE).
test('every size is accepted or refused exactly as without instrumentation', () => {
  expect(traced.result.sent).toEqual(control.result.sent);
});
