// SQS transport path, fuzzed in process. The fast properties call the instrumentation's send
// wrapper around a stand-in `send` (as @threadline/sqs' own tests do); the byte property runs the
// REAL SQSClient (its real middleware and JSON serializer) against a request handler that records
// the HTTP body instead of sending it.
import { Readable } from 'node:stream';
import { context, ROOT_CONTEXT, trace, type Context, type SpanContext } from '@opentelemetry/api';
import { ReceiveMessageCommand as RealReceive, SendMessageCommand as RealSend, SQSClient } from '@aws-sdk/client-sqs';
import { SqsInstrumentation } from '@threadline/sqs';
import { setupInMemoryOtel } from '@threadline/testing';
import fc from 'fast-check';
import {
  assertNoPollution,
  assertValidOrAbsent,
  checkDelivery,
  consumerConfig,
  consumerConfigArb,
  contextText,
  describe as show,
  effectivePolicy,
  hostileKey,
  hostileMap,
  hostileValue,
  longString,
  mapWithContext,
  nonUtf8Buffer,
  numRuns,
  ownEntries,
  PROPAGATION_FIELDS,
  sameEntries,
  spanContextArb,
  traceparentOf,
} from './hostile';

const { exporter } = setupInMemoryOtel();

type AnyFn = (this: unknown, ...args: any[]) => any;
type AnyRecord = Record<string, any>;
const instrumentation = new SqsInstrumentation({ enabled: false });
const internals = instrumentation as unknown as { wrapSend(send: AnyFn): AnyFn; wrapHandler(handler: AnyFn): AnyFn; patchClientModule(exports: unknown): unknown };

// Stand-ins named like the SDK's commands (the instrumentation recognises commands by class name).
class SendMessageCommand {
  constructor(readonly input: unknown) {}
}
class SendMessageBatchCommand {
  constructor(readonly input: unknown) {}
}
class ReceiveMessageCommand {
  constructor(readonly input: unknown) {}
}

const QUEUE_URL = 'http://127.0.0.1:9324/000000000000/orders';
const attributeValue = fc.oneof(
  { weight: 6, arbitrary: fc.record({ DataType: fc.constantFrom('String', 'Number', 'Binary', 'String.custom', 'string'), StringValue: fc.option(fc.oneof(fc.string(), contextText, longString)) }) },
  { weight: 2, arbitrary: fc.record({ DataType: fc.constant('Binary'), BinaryValue: nonUtf8Buffer }) },
  { weight: 2, arbitrary: hostileValue },
);
/** Attribute values the SDK can serialize (JSON numbers would lose precision on re-parsing). */
const wellFormedAttribute = fc.oneof(
  fc.record({ DataType: fc.constantFrom('String', 'Number', 'String.custom'), StringValue: fc.oneof(fc.string(), contextText, longString) }),
  fc.record({ DataType: fc.constant('Binary'), BinaryValue: nonUtf8Buffer }),
);
const attributes = fc.oneof({ weight: 9, arbitrary: hostileMap(attributeValue) }, { weight: 1, arbitrary: fc.constantFrom(undefined, null, 'text', [1]) });
const body = fc.oneof(fc.string(), longString, contextText, fc.constant(undefined));
const sendInput = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.record(
      { QueueUrl: fc.oneof(fc.constant(QUEUE_URL), fc.string()), MessageBody: body, MessageAttributes: attributes, DelaySeconds: fc.nat(10), MessageGroupId: fc.string() },
      { requiredKeys: ['QueueUrl'] },
    ),
  },
  { weight: 1, arbitrary: hostileValue },
);
const batchInput = fc.record({
  QueueUrl: fc.constant(QUEUE_URL),
  Entries: fc.oneof(
    { weight: 9, arbitrary: fc.array(fc.oneof(fc.record({ Id: fc.string(), MessageBody: body, MessageAttributes: attributes }, { requiredKeys: ['Id'] }), hostileValue), { maxLength: 4 }) },
    { weight: 1, arbitrary: hostileValue },
  ),
});

const activeContext = (parent: SpanContext | null): Context =>
  parent === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: false });

/** Every user attribute kept (same value, same order, first); only context attributes added, within the budget. */
function checkAttributes(user: unknown, sent: unknown, where: { toString(): string }): number {
  const userMap = typeof user === 'object' && user !== null && !Array.isArray(user) ? (user as AnyRecord) : undefined;
  if (userMap === undefined && user !== undefined && user !== null) {
    if (!Object.is(sent, user)) throw new Error(`non-map MessageAttributes replaced; ${where}`);
    return 0;
  }
  const userKeys = userMap === undefined ? [] : Object.keys(userMap);
  if (sent === undefined) {
    if (userKeys.length > 0) throw new Error(`attributes dropped; ${where}`);
    return 0;
  }
  const sentMap = sent as AnyRecord;
  const sentKeys = Object.keys(sentMap);
  userKeys.forEach((key, index) => {
    if (sentKeys[index] !== key || !Object.is(sentMap[key], userMap![key])) throw new Error(`attribute ${JSON.stringify(key)} altered or moved; ${where}`);
  });
  const added = sentKeys.slice(userKeys.length);
  for (const key of added) {
    const value = sentMap[key];
    if (!PROPAGATION_FIELDS.has(key) || value?.DataType !== 'String' || typeof value.StringValue !== 'string') throw new Error(`added attribute ${key}=${show(value)}; ${where}`);
  }
  if (added.length > 0 && sentKeys.length > 10) throw new Error(`${sentKeys.length} attributes after injection; ${where}`);
  return added.length;
}

beforeEach(() => exporter.reset());
afterEach(() => assertNoPollution());

test('SendMessage / SendMessageBatch: the caller\'s input untouched; every user attribute kept; only context attributes added, within 10', async () => {
  let injected = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(sendInput.map((input) => ({ batch: false, input })), batchInput.map((input) => ({ batch: true, input }))), fc.option(spanContextArb), async ({ batch, input }, parent) => {
      const inputAny = input as AnyRecord;
      const messages: unknown[] = batch ? (Array.isArray(inputAny.Entries) ? inputAny.Entries : []) : [input];
      const before = [ownEntries(input), ...messages.flatMap((message) => [ownEntries(message), ownEntries((message as AnyRecord)?.MessageAttributes)])];
      let sent: AnyRecord | undefined;
      const answer = { MessageId: 'm' };
      const send = internals.wrapSend(function (command: unknown) {
        sent = command as AnyRecord;
        return Promise.resolve(answer);
      });
      const command = batch ? new SendMessageBatchCommand(input) : new SendMessageCommand(input);
      const where = { toString: () => `input=${show(input)}` };
      const result = await context.with(activeContext(parent), () => send.call({}, command));
      if (result !== answer) throw new Error(`result not passed through; ${where}`);
      const after = [ownEntries(input), ...messages.flatMap((message) => [ownEntries(message), ownEntries((message as AnyRecord)?.MessageAttributes)])];
      if (!before.every((entries, index) => sameEntries(entries, after[index]))) throw new Error(`caller's input changed; ${where}`);
      if (command.input !== input) throw new Error(`caller's command changed; ${where}`);
      const sentInput = sent!.input as AnyRecord;
      if (sent === command) return;
      if (typeof input !== 'object' || input === null) throw new Error(`a non-object input was replaced; ${where}`);
      for (const key of Object.keys(inputAny)) {
        if (key !== (batch ? 'Entries' : 'MessageAttributes') && !Object.is(sentInput[key], inputAny[key])) throw new Error(`input field ${key} altered; ${where}`);
      }
      const sentMessages: unknown[] = batch ? (Array.isArray(sentInput.Entries) ? sentInput.Entries : []) : [sentInput];
      if (sentMessages.length !== messages.length) throw new Error(`entries added or dropped; ${where}`);
      messages.forEach((message, index) => {
        const copy = sentMessages[index] as AnyRecord;
        if (typeof message !== 'object' || message === null) {
          if (!Object.is(copy, message)) throw new Error(`a non-object entry was replaced; ${where}`);
          return;
        }
        for (const key of Object.keys(message)) {
          if (key !== 'MessageAttributes' && !Object.is(copy[key], (message as AnyRecord)[key])) throw new Error(`message field ${key} altered; ${where}`);
        }
        injected += checkAttributes((message as AnyRecord).MessageAttributes, copy.MessageAttributes, where) > 0 ? 1 : 0;
      });
      for (const span of exporter.getFinishedSpans()) assertValidOrAbsent(span.spanContext(), 'send span');
      exporter.reset();
    }),
    { numRuns },
  );
  expect(injected).toBeGreaterThan(numRuns / 10);
});

const receivedAttributes = fc.oneof(
  { weight: 5, arbitrary: hostileMap(attributeValue).map((map) => ({ map: map as unknown, carried: undefined as SpanContext | undefined })) },
  {
    weight: 4,
    arbitrary: fc.tuple(mapWithContext(attributeValue), fc.constantFrom('String', 'Binary', 'Number')).map(([{ carrier, spanContext }, dataType]) => {
      for (const key of ['traceparent', 'tracestate', 'baggage']) {
        const value = Object.getOwnPropertyDescriptor(carrier, key)?.value;
        if (typeof value === 'string') carrier[key] = { DataType: key === 'traceparent' ? dataType : 'String', StringValue: value };
      }
      // Only a String attribute carries context.
      return { map: carrier as unknown, carried: dataType === 'String' ? spanContext : undefined };
    }),
  },
  { weight: 1, arbitrary: hostileValue.map((map) => ({ map, carried: undefined as SpanContext | undefined })) },
);
const isTrusted = (message: unknown) => (message as AnyRecord | undefined)?.MessageAttributes?.['x-trusted']?.StringValue === 'yes';

test('ReceiveMessage: the output comes back as it came; every parent and link is valid; policy rules hold', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(receivedAttributes, fc.option(body)), { maxLength: 4 }), consumerConfigArb, async (list, choice) => {
      instrumentation.setConfig({ enabled: false, ...consumerConfig(choice, () => false) });
      const output = { Messages: list.map(([{ map }, text], index) => ({ MessageId: `m${index}`, Body: text ?? undefined, MessageAttributes: map })) };
      const send = internals.wrapSend(() => Promise.resolve(output));
      const where = { toString: () => `messages=${show(output)} config=${show(choice)}` };
      const result = await send.call({}, new ReceiveMessageCommand({ QueueUrl: QUEUE_URL, MaxNumberOfMessages: 10 }));
      if (result !== output || output.Messages.some((message, index) => !Object.is(message.MessageAttributes, list[index][0].map))) throw new Error(`output altered; ${where}`);
      const spans = exporter.getFinishedSpans();
      exporter.reset();
      const effective = effectivePolicy(choice, false);
      for (const span of spans) {
        assertValidOrAbsent(span.parentSpanContext, `parent of ${span.name}`);
        for (const link of span.links) assertValidOrAbsent(link.context, `link of ${span.name}`);
        if (effective !== 'parent' && span.parentSpanContext !== undefined) throw new Error(`parent under ${effective}; ${where}`);
        if (effective === 'ignore' && span.links.length > 0) throw new Error(`links under ignore; ${where}`);
      }
      if (list.length === 1 && effective === 'parent' && list[0][0].carried !== undefined && spans.length === 1) {
        if (spans[0].parentSpanContext?.spanId !== list[0][0].carried.spanId) throw new Error(`valid traceparent not used as parent; ${where}`);
      }
    }),
    { numRuns },
  );
});

test('sqs-consumer handler: called once with the very message; extract never throws or yields an invalid context; policy and baggage rules hold', async () => {
  await fc.assert(
    fc.asyncProperty(receivedAttributes, consumerConfigArb, fc.boolean(), async ({ map, carried }, choice, trusted) => {
      const markable = trusted && typeof map === 'object' && map !== null && Object.isExtensible(map);
      if (markable) Object.defineProperty(map, 'x-trusted', { value: { DataType: 'String', StringValue: 'yes' }, enumerable: true, configurable: true, writable: true });
      instrumentation.setConfig({ enabled: false, ...consumerConfig(choice, isTrusted) });
      const message = { MessageId: 'm', ReceiptHandle: 'r', Body: 'b', MessageAttributes: map };
      const seen: Array<{ message: unknown; active: Context }> = [];
      const handler = internals.wrapHandler(async (received: unknown) => {
        seen.push({ message: received, active: context.active() });
        return received;
      });
      const where = { toString: () => `attributes=${show(map)} config=${show(choice)}` };
      const result = await handler.call({ queueUrl: QUEUE_URL }, message);
      if (!Object.is(result, message) || seen.length !== 1 || !Object.is(seen[0].message, message)) throw new Error(`handler not called once with the message; ${where}`);
      const spans = exporter.getFinishedSpans();
      exporter.reset();
      checkDelivery({ active: seen[0].active, spans, effective: effectivePolicy(choice, markable), choice, carried, where });
    }),
    { numRuns },
  );
});

// ---- the real client: the HTTP body SQS receives ------------------------------------------------

let lastBody: string | undefined;
const requestHandler = {
  handle: async (request: { body: Uint8Array | string; headers: Record<string, string> }) => {
    lastBody = typeof request.body === 'string' ? request.body : new TextDecoder().decode(request.body);
    const receive = request.headers['x-amz-target']?.endsWith('ReceiveMessage');
    const answer = receive ? '{"Messages":[]}' : '{"MessageId":"m1"}';
    return { response: { statusCode: 200, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: Readable.from([Buffer.from(answer)]) } };
  },
};
const client = new SQSClient({ region: 'elasticmq', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1, md5: false, requestHandler });
internals.patchClientModule({ SQSClient });
const unpatchedSend = (SQSClient.prototype.send as unknown as { __original: AnyFn }).__original;

test('the real SQSClient: the JSON body is the uninstrumented body plus the context attributes, nothing else', async () => {
  let injected = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.record({ MessageBody: fc.oneof(fc.string(), longString, fc.string({ unit: 'binary' })), MessageAttributes: fc.option(fc.dictionary(hostileKey, wellFormedAttribute, { maxKeys: 10 }), { nil: undefined }) }, { requiredKeys: ['MessageBody'] }),
      spanContextArb.map((spanContext) => ({ ...spanContext, traceFlags: 1 })),
      async (fields, parent) => {
        instrumentation.setConfig({ enabled: false });
        const input = { QueueUrl: QUEUE_URL, ...fields };
        lastBody = undefined;
        let controlError: string | undefined;
        await Promise.resolve(unpatchedSend.call(client, new RealSend(input))).catch((error: Error) => (controlError = error.message));
        const control = lastBody;
        lastBody = undefined;
        let tracedError: string | undefined;
        await context.with(activeContext(parent), () => client.send(new RealSend(input))).catch((error: Error) => (tracedError = error.message));
        const where = { toString: () => `input=${show(input)}` };
        if (controlError !== tracedError) throw new Error(`errors differ: ${controlError} / ${tracedError}; ${where}`);
        if (control === undefined) {
          if (lastBody !== undefined) throw new Error(`sent although the SDK alone refused; ${where}`);
          return;
        }
        const sent = JSON.parse(lastBody!) as AnyRecord;
        const expected = JSON.parse(control) as AnyRecord;
        const added = Object.keys(sent.MessageAttributes ?? {}).filter((key) => !(key in (expected.MessageAttributes ?? {})));
        if (added.some((key) => !PROPAGATION_FIELDS.has(key))) throw new Error(`added ${added}; ${where}`);
        for (const key of added) delete sent.MessageAttributes[key];
        if (sent.MessageAttributes !== undefined && Object.keys(sent.MessageAttributes).length === 0 && expected.MessageAttributes === undefined) delete sent.MessageAttributes;
        if (JSON.stringify(sent) !== control) throw new Error(`body differs beyond the added attributes:\n${JSON.stringify(sent)}\n${control}; ${where}`);
        if (added.includes('traceparent')) {
          injected += 1;
          const spans = exporter.getFinishedSpans();
          const traceparent = JSON.parse(lastBody!).MessageAttributes.traceparent.StringValue;
          if (!spans.some((span) => traceparentOf(span.spanContext()) === traceparent)) throw new Error(`traceparent ${traceparent} names no send span; ${where}`);
        }
        exporter.reset();
      },
    ),
    // Each case runs the SDK's whole middleware stack twice.
    { numRuns: Math.max(100, Math.ceil(numRuns / 10)) },
  );
  expect(injected).toBeGreaterThan(10);
  // A receive through the real client asks for the context attributes.
  await client.send(new RealReceive({ QueueUrl: QUEUE_URL, MessageAttributeNames: ['x'] }));
  expect(JSON.parse(lastBody!).MessageAttributeNames).toEqual(expect.arrayContaining(['x', 'traceparent']));
});
