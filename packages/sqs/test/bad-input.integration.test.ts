// Bad input against the real ElasticMQ: full attribute budgets, attributes named like propagation
// fields, garbage context, SNS envelopes, a missing queue. Nothing may break a call or alter a message.
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import { findSpan, findSpans, startCollector, VALID_TRACEPARENT, type CollectedSpan, type SpanCollector } from '@threadline/testing';
import { createQueue, encodeAttributes, linkOldestVersions, NEWEST_CJS, OLDEST_ESM, requireElasticMq, runRole, sendRaw, spansOf, traceparentOf } from './helpers';

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

const string = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value });
const numbered = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, index) => [`a${index}`, string(`value ${index}`)]));

// Bytes that are not UTF-8, and a body with characters JSON and XML would both escape.
const BINARY = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0x0a]);
const BODY = '{"order":42,"note":"ünïcödé ✓ 🚚 <b>&amp;</b>\\n"}\ttab';

const MESSAGES: Array<{ body: string; attributes: Record<string, MessageAttributeValue>; queue?: number }> = [
  { body: 'full budget', attributes: numbered(10) },
  {
    body: BODY,
    attributes: {
      color: string('blue'),
      count: { DataType: 'Number', StringValue: '42.5' },
      blob: { DataType: 'Binary', BinaryValue: BINARY },
      kind: { DataType: 'String.json', StringValue: '{"a":1}' },
    },
  },
  {
    body: 'fields of other types',
    attributes: {
      traceparent: { DataType: 'Binary', BinaryValue: Buffer.from(VALID_TRACEPARENT) },
      tracestate: { DataType: 'Number', StringValue: '7' },
    },
  },
  { body: 'user garbage', attributes: { traceparent: string('garbage') } },
  { body: 'nine and baggage', attributes: numbered(9) },
  { body: 'to a missing queue', attributes: {}, queue: 2 },
];

test('payload and attributes arrive identical, plus only the context; no room means no context; the message is always sent', async () => {
  const [payloadQueue, budgetQueue] = [await createQueue('payload'), await createQueue('budget')];
  const missingQueue = payloadQueue.replace(/[^/]+$/, 'no-such-queue-here');
  const encoded = MESSAGES.map(({ attributes, ...rest }) => ({ ...rest, attributes: encodeAttributes(attributes) }));
  // BAGGAGE=1: the context is traceparent and baggage, two attributes.
  const common = { BAGGAGE: '1', OTEL_LOG_LEVEL: 'warn' };
  const sent = await runRole(NEWEST_CJS, 'send', {
    collector,
    serviceName: 'payload-producer',
    env: { ...common, QUEUE_URLS: JSON.stringify([payloadQueue, budgetQueue, missingQueue]), MESSAGES: JSON.stringify(encoded) },
  });
  const trimmed = await runRole(OLDEST_ESM, 'send', {
    collector,
    serviceName: 'payload-trimmed-producer',
    env: {
      ...common,
      THREADLINE_SQS_ATTRIBUTE_BUDGET: 'traceparent-only',
      QUEUE_URLS: JSON.stringify([budgetQueue]),
      MESSAGES: JSON.stringify([{ body: 'nine, trimmed', attributes: encodeAttributes(numbered(9)) }]),
    },
  });
  // The control receiver runs without threadline and asks for every attribute.
  const control = await runRole(NEWEST_CJS, 'receive', {
    serviceName: 'payload-control',
    loader: 'none',
    env: { QUEUE_URLS: JSON.stringify([payloadQueue, budgetQueue]), EXPECTS: '[5,1]', ATTRIBUTE_NAMES: '["All"]' },
  });
  const spans = await spansOf(collector, 'payload-', (all) => findSpans(all, (span: CollectedSpan) => span.kind === 'PRODUCER').length === 7);

  expect(sent.sends.slice(0, 5).every((item: { inputUnchanged: boolean }) => item.inputUnchanged)).toBe(true);
  expect(sent.sends[5].error).toEqual(expect.any(String));
  const byBody = new Map(control.messages.map((message: { body: string }) => [message.body, message]));
  expect([...byBody.keys()].sort()).toEqual([...MESSAGES.slice(0, 5).map((message) => message.body), 'nine, trimmed'].sort());
  // Each SendMessage has its own span, whose context its message carries.
  const sendSpanOf = (messageId: string) => findSpan(spans, (span: CollectedSpan) => span.kind === 'PRODUCER' && span.attributes['messaging.message.id'] === messageId);
  const context = { traceparent: string(traceparentOf(sendSpanOf(sent.sends[1].messageIds[0]))), baggage: string('tenant=acme') };

  const arrived = (body: string) => (byBody.get(body) as { attributes: Record<string, unknown> }).attributes;
  // Full budget: exactly the ten attributes, unchanged; a warning said why.
  expect(arrived('full budget')).toEqual(encodeAttributes(numbered(10)));
  // Body byte-identical; String, Number, Binary and custom-typed attributes identical; only the context added.
  expect((byBody.get(BODY) as { body: string }).body).toBe(BODY);
  expect(arrived(BODY)).toEqual({ ...encodeAttributes(MESSAGES[1].attributes), ...context });
  // Attributes the user named like propagation fields are theirs: nothing overwritten, nothing added.
  expect(arrived('fields of other types')).toEqual(encodeAttributes(MESSAGES[2].attributes));
  expect(arrived('user garbage')).toEqual({ traceparent: string('garbage') });
  // Nine attributes and a two-field context: all-or-none sends none of it...
  expect(arrived('nine and baggage')).toEqual(encodeAttributes(numbered(9)));
  // ...traceparent-only sends the trace context alone.
  expect(arrived('nine, trimmed')).toEqual({
    ...encodeAttributes(numbered(9)),
    traceparent: string(traceparentOf(sendSpanOf(trimmed.sends[0].messageIds[0]))),
  });
  expect(sent.stderr.match(/none is injected/g)).toHaveLength(2);
  expect(trimmed.stderr).toMatch(/only the trace context is injected/);

  // The failed send: an error span, the caller still got its error.
  const failed = spans.find((span) => span.name === 'send no-such-queue-here')!;
  expect(failed.status.code).toBe('ERROR');
  expect(failed.attributes['error.type']).toBe(sent.sends[5].error);
  // No body is ever recorded.
  expect(JSON.stringify(spans.map((span) => span.attributes))).not.toMatch(/full budget|ünïcödé|user garbage/);
});

test('garbage, Binary and Number context attributes and SNS envelopes on receive: no failure, no false parent', async () => {
  const [garbageQueue, snsQueue] = [await createQueue('garbage'), await createQueue('sns')];
  const snsParent = '00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01';
  const envelope = (traceparent: string) =>
    JSON.stringify({ Type: 'Notification', MessageId: 'sns-1', TopicArn: 'arn:aws:sns:eu-west-1:1:t', Message: 'hi', MessageAttributes: { traceparent: { Type: 'String', Value: traceparent } } });
  // Producers outside threadline (this Jest process).
  await sendRaw(garbageQueue, 'garbage traceparent', { traceparent: string('00-zz-garbage-01'), tracestate: string(',,=='.repeat(200)) });
  await sendRaw(garbageQueue, 'binary traceparent', { traceparent: { DataType: 'Binary', BinaryValue: Buffer.from(VALID_TRACEPARENT) } });
  await sendRaw(garbageQueue, 'number tracestate', { tracestate: { DataType: 'Number', StringValue: '1' } });
  await sendRaw(garbageQueue, '{"Type":"Notification", not json');
  await sendRaw(snsQueue, envelope(snsParent));

  const received = await runRole(OLDEST_ESM, 'receive', {
    collector,
    serviceName: 'garbage-consumer',
    env: { QUEUE_URLS: JSON.stringify([garbageQueue, snsQueue]), EXPECTS: '[4,1]', ATTRIBUTE_NAMES: '["All"]', THREADLINE_SQS_SNS_ENVELOPE: 'true' },
  });
  const spans = await spansOf(collector, 'garbage-', (all) => findSpans(all, 'handle').length === 5);

  expect(received.messages).toHaveLength(5);
  const threadline = spans.filter((span) => span.scope === '@threadline/sqs');
  for (const span of threadline) expect(span.status.code).toBe('UNSET');
  // The garbage queue's messages carry no usable context: no parent, and no link to a producer
  // (a message worked on in a followed loop links to its own receive span, in this process).
  const garbageSpans = threadline.filter((span) => span.attributes['aws.sqs.queue.url'] === garbageQueue);
  expect(garbageSpans.length).toBeGreaterThan(0);
  const ownIds = new Set(threadline.filter((span) => span.name.startsWith('receive ')).map((span) => span.spanId));
  for (const span of garbageSpans) {
    expect(span.parentSpanId).toBeUndefined();
    for (const link of span.links) expect(ownIds.has(link.spanId)).toBe(true);
  }
  // The SNS envelope's context is the parent of the process span and of the app's work.
  const snsName = snsQueue.slice(snsQueue.lastIndexOf('/') + 1);
  const process = findSpan(spans, `process ${snsName}`);
  expect(traceparentOf({ ...process, spanId: process.parentSpanId! })).toBe(snsParent);
  const handle = findSpan(spans, (span: CollectedSpan) => span.name === 'handle' && span.traceId === process.traceId);
  expect(handle.parentSpanId).toBe(process.parentSpanId);
});
