// Confirm channels, the callback API, get, settlement, bounded memory and bad input, against
// the real RabbitMQ from tools/brokers.
import { assertParentChild, assertSingleTrace, findSpan, startCollector, type SpanCollector } from '@threadline/testing';
import { encode } from './fixtures/lib/codec.cjs';
import { named, printed, requireRabbitMq, runRole, spansOf, startRole, unique, type LibraryName } from './helpers';

jest.setTimeout(60000);

let collector: SpanCollector;

beforeAll(async () => {
  await requireRabbitMq();
  collector = await startCollector();
});

afterAll(async () => {
  await collector?.close();
});

const text = (value: string) => Buffer.from(value).toString('base64');
const settlement = (span: { attributes: Record<string, unknown> }) => span.attributes['threadline.amqplib.settlement'];

describe.each([
  { library: 'v0' as LibraryName, api: 'promise' },
  { library: 'v2' as LibraryName, api: 'callback' },
])('ConfirmChannel, amqplib $library, $api API', ({ library, api }) => {
  test('one span per publish, ended by the broker confirm; a broker nack marks it failed', async () => {
    const queue = unique('confirm');
    const service = unique('confirm');
    // A full queue that rejects publishes makes the broker nack the second message.
    const queueArgs = JSON.stringify({ 'x-max-length': 1, 'x-overflow': 'reject-publish' });
    const messages = encode([
      { content: text('first'), options: {} },
      { content: text('second'), options: {} },
    ]);
    const run = await runRole({ role: 'produce', library, collector, service, env: { QUEUE: queue, CHANNEL: 'confirm', API: api, QUEUE_ARGS: queueArgs, MESSAGES: messages } });
    const [result] = printed(run.stdout, 'RESULT');
    expect(result.confirms.map((confirm: { outcome: string }) => confirm.outcome)).toEqual(['ack', 'nack: message nacked']);
    // The user's confirm callback runs in the context publish was called in.
    expect(result.confirms[0].context.spanId).toBe(result.rootSpanId);
    expect(result.optionsUnchanged).toEqual([true, true]);

    const spans = await spansOf(collector, [service], (all) => all.length >= 3);
    const sends = named(spans, 'send amq.default');
    expect(sends).toHaveLength(2);
    expect(sends.map((span) => span.status.code).sort()).toEqual(['ERROR', 'UNSET']);
    expect(sends.find((span) => span.status.code === 'ERROR')!.status.message).toBe('message nacked');
    assertSingleTrace(spans);
  });
});

describe.each(['v0', 'v2'] as LibraryName[])('callback API, amqplib %s', (library) => {
  test('publish and consume with callbacks: the process span is the child of the send span, ended by ack', async () => {
    const queue = unique('callback');
    const service = unique('callback');
    const run = await runRole({ role: 'produce+consume', library, collector, service, env: { QUEUE: queue, API: 'callback' } });
    const spans = await spansOf(collector, [service], (all) => all.length >= 4);
    assertSingleTrace(spans);
    assertParentChild(spans, { kind: 'PRODUCER' }, { kind: 'CONSUMER' });
    const process = findSpan(spans, { kind: 'CONSUMER' });
    expect(printed(run.stdout, 'RECEIVED')[0].active.spanId).toBe(process.spanId);
    expect(settlement(process)).toBe('ack');
  });
});

describe.each([
  { library: 'v2' as LibraryName, api: 'promise' },
  { library: 'v0' as LibraryName, api: 'callback' },
])('get, amqplib $library, $api API', ({ library, api }) => {
  test('the fetched message gets a process span (child of send, ended at ack); the one-liner joins its trace', async () => {
    const queue = unique('get');
    const service = unique('get');
    const run = await runRole({ role: 'produce+get', library, collector, service, env: { QUEUE: queue, API: api } });
    const spans = await spansOf(collector, [service], (all) => all.length >= 4);
    assertSingleTrace(spans);
    assertParentChild(spans, { kind: 'PRODUCER' }, { kind: 'CONSUMER' });
    assertParentChild(spans, { kind: 'PRODUCER' }, { name: 'after-get' });
    const process = findSpan(spans, { kind: 'CONSUMER' });
    expect(settlement(process)).toBe('ack');
    const [received] = printed(run.stdout, 'RECEIVED');
    expect(received.joined.traceId).toBe(process.traceId);
    // In the callback API the callback itself runs inside the message's span.
    if (api === 'callback') expect(received.active.spanId).toBe(process.spanId);
  });
});

test('nack and reject end their spans with an error status; ack does not', async () => {
  const queue = unique('settle');
  const service = unique('settle');
  const messages = encode(['a', 'b', 'c'].map((body) => ({ content: text(body), options: {} })));
  await runRole({ role: 'produce+consume', collector, service, env: { QUEUE: queue, MESSAGES: messages, COUNT: '3', SETTLE: 'nack,reject,ack' } });
  const spans = await spansOf(collector, [service], (all) => named(all, `process ${queue}`).length >= 3);
  const byTag = named(spans, `process ${queue}`).sort(
    (a, b) => Number(a.attributes['messaging.rabbitmq.message.delivery_tag']) - Number(b.attributes['messaging.rabbitmq.message.delivery_tag']),
  );
  expect(byTag.map(settlement)).toEqual(['nack', 'reject', 'ack']);
  expect(byTag.map((span) => span.status)).toEqual([
    { code: 'ERROR', message: 'nack' },
    { code: 'ERROR', message: 'reject' },
    { code: 'UNSET' },
  ]);
});

test('a channel closed while messages are unsettled ends their spans with an error status', async () => {
  const queue = unique('close');
  const service = unique('close');
  const messages = encode(['a', 'b'].map((body) => ({ content: text(body), options: {} })));
  const run = await runRole({
    role: 'produce+consume',
    collector,
    service,
    env: { QUEUE: queue, MESSAGES: messages, COUNT: '2', SETTLE: 'none', AFTER: 'closeChannel' },
  });
  expect(printed(run.stdout, 'CHANNEL_CLOSED')).toHaveLength(1);
  const spans = await spansOf(collector, [service], (all) => named(all, `process ${queue}`).length >= 2);
  for (const span of named(spans, `process ${queue}`)) {
    expect(span.status).toEqual({ code: 'ERROR', message: 'channel closed before the message was settled' });
    expect(span.attributes['error.type']).toBe('channel_closed');
  }
});

test('ack with allUpTo settles every earlier message', async () => {
  const queue = unique('upto');
  const service = unique('upto');
  const messages = encode(['a', 'b', 'c'].map((body) => ({ content: text(body), options: {} })));
  await runRole({ role: 'produce+consume', library: 'v0', collector, service, env: { QUEUE: queue, MESSAGES: messages, COUNT: '3', SETTLE: 'none', AFTER: 'ackUpTo' } });
  const spans = await spansOf(collector, [service], (all) => named(all, `process ${queue}`).length >= 3);
  expect(named(spans, `process ${queue}`).map(settlement)).toEqual(['ack', 'ack', 'ack']);
});

test('noAck: the span ends when the handler’s promise settles', async () => {
  const queue = unique('noack');
  const service = unique('noack');
  await runRole({ role: 'produce+consume', collector, service, env: { QUEUE: queue, NO_ACK: 'true', HANDLER_MS: '300' } });
  const spans = await spansOf(collector, [service], (all) => named(all, `process ${queue}`).length >= 1);
  const process = findSpan(spans, { kind: 'CONSUMER' });
  expect(settlement(process)).toBe('no_ack');
  expect(process.endTimeMs - process.startTimeMs).toBeGreaterThanOrEqual(290);
});

test('bounded memory: over the cap the oldest spans end first; the timeout ends the rest', async () => {
  const capQueue = unique('cap');
  const timeoutQueue = unique('timeout');
  const [capService, timeoutService] = [unique('cap'), unique('timeout')];
  const five = encode(['1', '2', '3', '4', '5'].map((body) => ({ content: text(body), options: {} })));
  const two = encode(['1', '2'].map((body) => ({ content: text(body), options: {} })));
  await Promise.all([
    runRole({
      role: 'produce+consume',
      collector,
      service: capService,
      env: { QUEUE: capQueue, MESSAGES: five, COUNT: '5', SETTLE: 'none', AFTER: 'closeChannel', THREADLINE_AMQPLIB_MAX_UNSETTLED_SPANS: '2' },
    }),
    runRole({
      role: 'produce+consume',
      collector,
      service: timeoutService,
      env: { QUEUE: timeoutQueue, MESSAGES: two, COUNT: '2', SETTLE: 'none', WAIT_MS: '1500', THREADLINE_AMQPLIB_UNSETTLED_TIMEOUT_MS: '200' },
    }),
  ]);
  const capped = named(await spansOf(collector, [capService], (all) => named(all, `process ${capQueue}`).length >= 5), `process ${capQueue}`);
  const byTag = capped.sort(
    (a, b) => Number(a.attributes['messaging.rabbitmq.message.delivery_tag']) - Number(b.attributes['messaging.rabbitmq.message.delivery_tag']),
  );
  expect(byTag.map(settlement)).toEqual(['evicted', 'evicted', 'evicted', 'channel_closed', 'channel_closed']);
  const timedOut = named(await spansOf(collector, [timeoutService], (all) => named(all, `process ${timeoutQueue}`).length >= 2), `process ${timeoutQueue}`);
  expect(timedOut.map(settlement)).toEqual(['timeout', 'timeout']);
  // Ended by the 200 ms timeout, well before the fixture closes its connection at 1500 ms.
  for (const span of timedOut) {
    expect(span.endTimeMs - span.startTimeMs).toBeGreaterThanOrEqual(190);
    expect(span.endTimeMs - span.startTimeMs).toBeLessThan(1400);
  }
});

test('payload, properties and headers arrive byte-identical; the only addition is the context header', async () => {
  const queue = unique('bytes');
  const [instrumented, plain, control] = [unique('instrumented'), unique('plain'), unique('control')];
  const headers = {
    'x-string': 'välue ✓',
    'x-int': 42,
    'x-negative': -7,
    'x-float': 1.5,
    'x-big': 2 ** 40,
    'x-bool': false,
    'x-bytes': Buffer.from([0, 1, 2, 254, 255]),
    'x-table': { nested: 'yes', deeper: { n: 1 } },
    'x-array': [1, 'two', Buffer.from('three')],
    'x-null': null,
  };
  const options = {
    headers,
    contentType: 'application/octet-stream',
    contentEncoding: 'identity',
    messageId: 'm-1',
    correlationId: 'c-1',
    replyTo: 'nowhere',
    type: 'order.created',
    appId: 'threadline-test',
    timestamp: 1700000000,
    priority: 3,
    persistent: true,
    expiration: 600000,
  };
  const payload = Buffer.from([0, 255, 1, 128, 10, 13, 0x7b]);
  const messages = encode([{ content: payload.toString('base64'), options }]);
  const env = { QUEUE: queue, MESSAGES: messages };
  await Promise.all([
    runRole({ role: 'produce', collector, service: instrumented, env }),
    runRole({ role: 'produce', collector, service: plain, loader: 'none', env }),
  ]);
  const run = await runRole({ role: 'consume', collector, service: control, loader: 'none', env: { QUEUE: queue, COUNT: '2' } });
  const received = printed(run.stdout, 'RECEIVED');
  const viaThreadline = received.find((each) => each.properties.headers.traceparent !== undefined);
  const viaPlain = received.find((each) => each.properties.headers.traceparent === undefined);
  expect(viaThreadline).toBeDefined();
  expect(viaPlain).toBeDefined();

  expect(Buffer.from(viaThreadline.content, 'base64').equals(payload)).toBe(true);
  expect(viaThreadline.content).toBe(viaPlain.content);
  const { headers: withContext, ...properties } = viaThreadline.properties;
  const { headers: without, ...plainProperties } = viaPlain.properties;
  expect(encode(properties)).toBe(encode(plainProperties));
  expect(withContext.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  const { traceparent, ...userHeaders } = withContext;
  expect(Object.keys(withContext)).toEqual([...Object.keys(without), 'traceparent']);
  // Same keys, same order, same bytes.
  expect(encode(userHeaders)).toBe(encode(without));
  const send = findSpan(await spansOf(collector, [instrumented], (all) => all.length >= 2), { kind: 'PRODUCER' });
  expect(traceparent).toBe(`00-${send.traceId}-${send.spanId}-01`);
});

test('bad input never breaks delivery: garbage, non-string and null headers, from instrumented and plain publishers', async () => {
  const queue = unique('bad');
  const [instrumented, plain, consumer] = [unique('instrumented'), unique('plain'), unique('consumer')];
  const bad = [
    { traceparent: 'garbage' },
    { traceparent: 12345, tracestate: ['not', 'text'] },
    { traceparent: '00-00000000000000000000000000000000-0000000000000000-01' },
    null,
    undefined,
  ];
  const messages = encode(bad.map((headers, index) => ({ content: text(`bad-${index}`), options: headers === undefined ? undefined : { headers } })));
  const consuming = startRole({ role: 'consume', collector, service: consumer, env: { QUEUE: queue, COUNT: String(bad.length * 2) } });
  const fromInstrumented = await runRole({ role: 'produce', collector, service: instrumented, env: { QUEUE: queue, MESSAGES: messages } });
  await runRole({ role: 'produce', collector, service: plain, loader: 'none', env: { QUEUE: queue, MESSAGES: messages } });
  const received = printed((await consuming).stdout, 'RECEIVED');
  expect(received.map((message) => Buffer.from(message.content, 'base64').toString()).sort()).toEqual(
    [...bad.keys(), ...bad.keys()].map((index) => `bad-${index}`).sort(),
  );
  expect(printed(fromInstrumented.stdout, 'RESULT')[0].optionsUnchanged).toEqual(bad.map(() => true));

  const spans = await spansOf(collector, [instrumented, consumer], (all) => named(all, `process ${queue}`).length >= bad.length * 2);
  const sends = named(spans, 'send amq.default');
  expect(sends).toHaveLength(bad.length);
  const processes = named(spans, `process ${queue}`);
  expect(processes).toHaveLength(bad.length * 2);
  for (const span of [...sends, ...processes]) expect(span.status.code).toBe('UNSET');
  // Only instrumented messages whose headers held no user context (null, none) join the producer's trace.
  const joined = processes.filter((span) => sends.some((send) => send.spanId === span.parentSpanId));
  expect(joined).toHaveLength(2);
  for (const span of processes.filter((candidate) => !joined.includes(candidate))) expect(span.parentSpanId).toBeUndefined();
});

test('noAck: a handler’s rejected promise surfaces exactly as without instrumentation, and fails its span', async () => {
  const queue = unique('reject-handler');
  const [withThreadline, without] = [unique('with'), unique('without')];
  const messages = encode(['a', 'b'].map((body) => ({ content: text(body), options: {} })));
  const env = { MESSAGES: messages, COUNT: '2', REJECT_HANDLER: 'true', NO_ACK: 'true' };
  const [instrumentedRun, plainRun] = await Promise.all([
    runRole({ role: 'produce+consume', collector, service: withThreadline, env: { ...env, QUEUE: queue } }),
    runRole({ role: 'produce+consume', collector, service: without, loader: 'none', env: { ...env, QUEUE: unique('reject-handler-plain') } }),
  ]);
  const unhandled = (stdout: string) => printed(stdout, 'UNHANDLED').map((line) => line.message);
  expect(unhandled(plainRun.stdout)).toEqual(['handler rejected 0', 'handler rejected 1']);
  expect(unhandled(instrumentedRun.stdout)).toEqual(unhandled(plainRun.stdout));
  const processes = named(await spansOf(collector, [withThreadline], (all) => named(all, `process ${queue}`).length >= 2), `process ${queue}`);
  for (const span of processes) {
    expect(span.status.code).toBe('ERROR');
    expect(span.status.message).toMatch(/^handler rejected \d$/);
    expect(settlement(span)).toBe('no_ack');
  }
});
