// Real ElasticMQ, real SDKs (oldest and newest, ESM and CJS), apps run as separate processes under
// @threadline/register. Every assertion is on the spans the apps exported.
import { assertNoOrphans, assertParentChild, assertSingleTrace, brokerAddresses, findSpan, findSpans, startCollector, type CollectedSpan, type SpanCollector } from '@threadline/testing';
import {
  createQueue,
  linkOldestVersions,
  NEWEST_CJS,
  NEWEST_ESM,
  OLDEST_CJS,
  OLDEST_ESM,
  requireElasticMq,
  runRole,
  spansOf,
  traceparentOf,
  type Variant,
} from './helpers';

jest.setTimeout(90000);

let collector: SpanCollector;

beforeAll(async () => {
  await requireElasticMq();
  linkOldestVersions();
  collector = await startCollector();
});

afterAll(async () => {
  await collector?.close();
});

const queueName = (url: string) => url.slice(url.lastIndexOf('/') + 1);

describe('two processes give one trace', () => {
  test.each([
    [NEWEST_ESM.label, OLDEST_CJS.label, NEWEST_ESM, OLDEST_CJS],
    [OLDEST_ESM.label, NEWEST_CJS.label, OLDEST_ESM, NEWEST_CJS],
  ])('%s sends, %s receives', async (_sends, _receives, sender: Variant, receiver: Variant) => {
    const prefix = `two-${sender.loader}-${receiver.loader}-${sender.env.SDK_MODULE ? 'old' : 'new'}`;
    const queueUrl = await createQueue(prefix);
    const queue = queueName(queueUrl);
    // The callback form of send() on one side, the promise form on the other.
    const sent = await runRole(sender, 'send', { collector, serviceName: `${prefix}-producer`, env: { QUEUE_URL: queueUrl, CALLBACK: sender === OLDEST_ESM ? '1' : '0' } });
    const received = await runRole(receiver, 'receive', { collector, serviceName: `${prefix}-consumer`, env: { QUEUE_URL: queueUrl } });
    const spans = await spansOf(collector, prefix, (all) => all.length >= 4);

    expect(sent.sends[0].inputUnchanged).toBe(true);
    expect(received.inputUnchanged).toBe(true);
    assertSingleTrace(spans);
    assertNoOrphans(spans);
    const send = findSpan(spans, { name: `send ${queue}`, kind: 'PRODUCER', service: `${prefix}-producer` });
    const process = findSpan(spans, { name: `process ${queue}`, kind: 'CONSUMER', service: `${prefix}-consumer` });
    assertParentChild(spans, 'checkout', `send ${queue}`);
    assertParentChild(spans, `send ${queue}`, `process ${queue}`);
    // The app's own work (withMessageContext) continues the producer's trace.
    assertParentChild(spans, `send ${queue}`, 'handle');
    expect(findSpan(spans, 'handle').spanId).toBe(received.handles[0].spanId);

    // The message carries exactly the producer span's context.
    expect(received.messages[0].attributes.traceparent).toEqual({ DataType: 'String', StringValue: traceparentOf(send) });
    const messageId = sent.sends[0].messageIds[0];
    for (const span of [send, process]) {
      expect(span.attributes).toMatchObject({
        'messaging.system': 'aws_sqs',
        'messaging.destination.name': queue,
        'aws.sqs.queue.url': queueUrl,
        'server.address': '127.0.0.1',
        'server.port': brokerAddresses().elasticmq.port,
        'messaging.message.id': messageId,
      });
    }
    expect(process.attributes['messaging.operation.type']).toBe('process');
    // The body is never recorded.
    expect(JSON.stringify(spans.map((span) => span.attributes))).not.toContain('hello');
  });
});

test('three hops (CJS oldest → ESM newest → ESM oldest) give one trace', async () => {
  const prefix = 'hops';
  const [first, second] = [await createQueue('hops-1'), await createQueue('hops-2')];
  await runRole(OLDEST_CJS, 'send', { collector, serviceName: `${prefix}-a`, env: { QUEUE_URL: first } });
  await runRole(NEWEST_ESM, 'receive', { collector, serviceName: `${prefix}-b`, env: { QUEUE_URL: first, NEXT_QUEUE_URL: second } });
  const last = await runRole(OLDEST_ESM, 'receive', { collector, serviceName: `${prefix}-c`, env: { QUEUE_URL: second } });
  const spans = await spansOf(collector, prefix, (all) => all.length >= 7);

  expect(last.messages[0].body).toBe('relayed hello');
  assertSingleTrace(spans);
  assertNoOrphans(spans);
  const [q1, q2] = [queueName(first), queueName(second)];
  assertParentChild(spans, 'checkout', `send ${q1}`);
  assertParentChild(spans, `send ${q1}`, `process ${q1}`);
  assertParentChild(spans, `send ${q1}`, { name: 'handle', service: `${prefix}-b` });
  assertParentChild(spans, { name: 'handle', service: `${prefix}-b` }, `send ${q2}`);
  assertParentChild(spans, `send ${q2}`, `process ${q2}`);
  assertParentChild(spans, `send ${q2}`, { name: 'handle', service: `${prefix}-c` });
});

test('a batch send and a batch receive: every entry carries context, the receive span links to each', async () => {
  const prefix = 'batch';
  const queueUrl = await createQueue('batch');
  const queue = queueName(queueUrl);
  const attributes = JSON.stringify({ color: { DataType: 'String', StringValue: 'blue' } });
  const sent = await runRole(NEWEST_CJS, 'send', { collector, serviceName: `${prefix}-producer`, env: { QUEUE_URL: queueUrl, BATCH: '3', ATTRS: attributes } });
  const received = await runRole(OLDEST_ESM, 'receive', {
    collector,
    serviceName: `${prefix}-consumer`,
    env: { QUEUE_URL: queueUrl, EXPECT: '3', ATTRIBUTE_NAMES: JSON.stringify(['All']) },
  });
  const spans = await spansOf(collector, prefix, (all) => all.length >= 6);

  expect(sent.sends[0].inputUnchanged).toBe(true);
  expect(sent.sends[0].messageIds).toHaveLength(3);
  expect(received.batches).toEqual([3]);
  const send = findSpan(spans, `send ${queue}`);
  expect(send.attributes['messaging.batch.message_count']).toBe(3);
  for (const message of received.messages) expect(message.attributes.traceparent.StringValue).toBe(traceparentOf(send));
  expect(received.messages.find((message: { body: string }) => message.body === 'hello-0').attributes.color).toEqual({ DataType: 'String', StringValue: 'blue' });

  const receive = findSpan(spans, { name: `receive ${queue}`, service: `${prefix}-consumer` });
  expect(receive.kind).toBe('CLIENT');
  expect(receive.parentSpanId).toBeUndefined();
  expect(receive.attributes['messaging.batch.message_count']).toBe(3);
  expect(receive.links.map((link) => `${link.traceId}-${link.spanId}`)).toEqual(Array(3).fill(`${send.traceId}-${send.spanId}`));
  // Each message's own work (withMessageContext) joins its producer's trace.
  const handles = findSpans(spans, 'handle');
  expect(handles).toHaveLength(3);
  for (const handle of handles) expect(handle.parentSpanId).toBe(send.spanId);
});

describe('sqs-consumer: handleMessage runs inside the message`s trace with no extra code', () => {
  const variants: Array<[string, Variant, Record<string, string>]> = [
    ['sqs-consumer 15 (newest), ESM', NEWEST_ESM, {}],
    ['sqs-consumer 15 (newest), CJS', NEWEST_CJS, {}],
    ['sqs-consumer 7.0.0 (oldest), CJS', OLDEST_CJS, {}],
    ['sqs-consumer 7.0.0 (oldest), ESM', OLDEST_ESM, {}],
  ];
  let queues: string[];
  let sent: { traceId: string; sends: Array<{ messageIds: string[] }> };

  beforeAll(async () => {
    queues = [];
    for (let index = 0; index < variants.length; index++) queues.push(await createQueue(`consumer-${index}`));
    // One producer run: to each queue a message that succeeds and one whose handler fails.
    const messages = queues.flatMap((_, queue) => [
      { queue, body: 'ok' },
      { queue, body: 'fail' },
    ]);
    sent = await runRole(NEWEST_ESM, 'send', { collector, serviceName: 'consumer-producer', env: { QUEUE_URLS: JSON.stringify(queues), MESSAGES: JSON.stringify(messages) } });
  });

  test.each(variants.map((variant, index) => [...variant, index] as const))('%s', async (_label, variant, env, index) => {
    const prefix = `consumer-${index}-app`;
    const queue = queueName(queues[index]);
    const consumed = await runRole(variant, 'consume', { collector, serviceName: prefix, env: { QUEUE_URL: queues[index], EXPECT: '2', ...env } });
    const producerSpans = await spansOf(collector, 'consumer-producer', (all) => findSpans(all, `send ${queue}`).length === 2);
    const spans = await spansOf(collector, prefix, (all) => all.length >= 4);

    expect(consumed.errors).toEqual([expect.stringMatching(/^processing_error: .*handler failed on purpose/)]);
    // Exactly one process span per message, nothing from sqs-consumer's own receive calls.
    const processSpans = findSpans(spans, { name: `process ${queue}` });
    expect(processSpans).toHaveLength(2);
    expect(spans.filter((span) => span.scope === '@threadline/sqs')).toHaveLength(2);
    for (const handle of consumed.handles) {
      const process = processSpans.find((span) => span.spanId === handle.activeSpanId);
      expect(process).toBeDefined();
      expect(handle.hasTraceparent).toEqual([true]);
      const send = producerSpans.find((span) => span.spanId === process!.parentSpanId);
      expect(send?.name).toBe(`send ${queue}`);
      expect(process!.traceId).toBe(sent.traceId);
      expect(process!.attributes['messaging.message.id']).toBe(handle.messageIds[0]);
      const handleSpan = findSpan(spans, (span: CollectedSpan) => span.spanId === handle.spanId);
      expect(handleSpan.parentSpanId).toBe(process!.spanId);
    }
    const failed = processSpans.filter((span) => span.status.code === 'ERROR');
    expect(failed).toHaveLength(1);
    expect(failed[0].attributes['error.type']).toEqual(expect.any(String));
  });

  test('handleMessageBatch runs inside one process span linked to every message', async () => {
    const prefix = 'consumer-batch';
    const queueUrl = await createQueue('consumer-batch');
    const queue = queueName(queueUrl);
    await runRole(NEWEST_CJS, 'send', { collector, serviceName: `${prefix}-producer`, env: { QUEUE_URL: queueUrl, BATCH: '3' } });
    const consumed = await runRole(NEWEST_ESM, 'consume', { collector, serviceName: `${prefix}-app`, env: { QUEUE_URL: queueUrl, EXPECT: '3', BATCH_HANDLER: '1' } });
    const spans = await spansOf(collector, prefix, (all) => all.length >= 4);

    expect(consumed.handles).toHaveLength(1);
    const send = findSpan(spans, `send ${queue}`);
    const process = findSpan(spans, { name: `process ${queue}`, kind: 'CONSUMER' });
    expect(process.spanId).toBe(consumed.handles[0].activeSpanId);
    expect(process.attributes['messaging.batch.message_count']).toBe(3);
    expect(process.links.map((link) => link.spanId)).toEqual([send.spanId, send.spanId, send.spanId]);
    assertParentChild(spans, `process ${queue}`, 'handle');
  });
});

test('propagation-only: no threadline spans, the app`s spans still join one trace', async () => {
  const prefix = 'proponly';
  const [plain, consumer] = [await createQueue('proponly-plain'), await createQueue('proponly-consumer')];
  const env = { THREADLINE_MODE: 'propagation-only' };
  await runRole(NEWEST_CJS, 'send', { collector, serviceName: `${prefix}-producer`, env: { ...env, QUEUE_URLS: JSON.stringify([plain, consumer]) } });
  await runRole(OLDEST_ESM, 'receive', { collector, serviceName: `${prefix}-receiver`, env: { ...env, QUEUE_URL: plain } });
  const consumed = await runRole(NEWEST_ESM, 'consume', { collector, serviceName: `${prefix}-consumer`, env: { ...env, QUEUE_URL: consumer } });
  const spans = await spansOf(collector, prefix, (all) => all.length >= 3);

  expect(spans.filter((span) => span.scope === '@threadline/sqs')).toEqual([]);
  assertSingleTrace(spans);
  const checkout = findSpan(spans, 'checkout');
  for (const handle of findSpans(spans, 'handle')) expect(handle.parentSpanId).toBe(checkout.spanId);
  expect(consumed.handles[0].activeSpanId).toBe(checkout.spanId);
});
