// Property tests over the SQS inject and extract paths with hostile inputs (issue 11).
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import fc from 'fast-check';
import { setupInMemoryOtel } from '@threadline/testing';
import { SqsInstrumentation } from '../src';

const { exporter, provider, tracer } = setupInMemoryOtel();
// 5,000 cases per property in CI; `pnpm fuzz` raises it.
const numRuns = Number(process.env.FUZZ_RUNS ?? 5000);

type AnyFn = (this: unknown, ...args: any[]) => any;
const instrumentation = new SqsInstrumentation({ enabled: false, snsEnvelope: true });
instrumentation.setTracerProvider(provider);
const wrapSend = (send: AnyFn): AnyFn => (instrumentation as unknown as { wrapSend(send: AnyFn): AnyFn }).wrapSend(send);
const wrapHandler = (handler: AnyFn): AnyFn => (instrumentation as unknown as { wrapHandler(handler: AnyFn): AnyFn }).wrapHandler(handler);

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/1/q';
// Stand-ins named like the SDK's commands (the instrumentation recognises commands by class name):
// building real SDK commands would dominate the run time of thousands of cases.
class SendMessageCommand {
  constructor(readonly input: unknown) {}
}
class ReceiveMessageCommand {
  constructor(readonly input: unknown) {}
}
const fieldName = fc.constantFrom('traceparent', 'TRACEPARENT', 'tracestate', 'baggage', '__proto__', 'constructor', 'prototype');
const hostileKey = fc.oneof(fc.string(), fieldName);
const text = fc.oneof(fc.string(), fc.string({ minLength: 600, maxLength: 1200 }), fc.constantFrom('00-zz-garbage-01', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'));
const attributeValue = fc.oneof(
  fc.record({ DataType: fc.constantFrom('String', 'Number', 'Binary', 'String.x', 'string'), StringValue: fc.option(text) }),
  fc.record({ DataType: fc.constant('Binary'), BinaryValue: fc.uint8Array().map((bytes) => Buffer.from(bytes)) }),
  text,
  fc.integer(),
  fc.constant(null),
  fc.object(),
);
const attributeMap = fc.dictionary(hostileKey, attributeValue, { maxKeys: 12 });
const body = fc.oneof(
  text,
  fc.dictionary(hostileKey, attributeValue, { maxKeys: 4 }).map((attributes) => JSON.stringify({ Type: 'Notification', MessageAttributes: attributes })),
  fc.json(),
);
const receivedMessage = fc.record(
  { MessageId: fc.option(fc.string()), Body: fc.option(body), MessageAttributes: fc.option(attributeMap) },
  { requiredKeys: [] },
);

const pristine = () => Object.getOwnPropertyNames(Object.prototype).sort().join();
const prototypeNames = pristine();

afterEach(() => {
  expect(pristine()).toBe(prototypeNames);
  expect(({} as Record<string, unknown>).DataType).toBeUndefined();
});

test('send: never throws, never alters or drops a key the user set, never mutates the input', async () => {
  await fc.assert(
    fc.asyncProperty(attributeMap, async (attributes) => {
      let sent: any;
      const send = wrapSend((command: unknown) => {
        sent = command;
        return Promise.resolve({ MessageId: 'm' });
      });
      const keys = Reflect.ownKeys(attributes);
      const values = keys.map((key) => (attributes as Record<string | symbol, unknown>)[key]);
      const input = { QueueUrl: QUEUE_URL, MessageBody: 'x', MessageAttributes: attributes };
      const span = tracer.startSpan('parent');
      await context.with(trace.setSpan(ROOT_CONTEXT, span), () => send.call({}, new SendMessageCommand(input)));
      span.end();
      exporter.reset();
      // Plain checks, one assertion per case: thousands of expect() calls would dominate the run time.
      const sentAttributes = sent.input.MessageAttributes as Record<string | symbol, unknown>;
      const callerKeys = Reflect.ownKeys(attributes);
      const ok =
        input.MessageAttributes === attributes &&
        callerKeys.length === keys.length &&
        keys.every((key, index) => callerKeys[index] === key && (attributes as Record<string | symbol, unknown>)[key] === values[index]) &&
        keys.every((key, index) => sentAttributes[key] === values[index]) &&
        Reflect.ownKeys(sentAttributes).length <= Math.max(10, keys.length);
      if (!ok) throw new Error(`attributes altered: ${String(keys.map(String))}`);
    }),
    { numRuns },
  );
  exporter.reset();
});

test('receive: never throws, returns the output as it came, extracts only valid contexts', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(receivedMessage, { maxLength: 4 }), fc.option(fc.array(fc.oneof(fc.string(), fieldName, fc.constantFrom('All', '.*')))), async (messages, names) => {
      exporter.reset();
      let sent: any;
      const output = { Messages: messages };
      const send = wrapSend((command: unknown) => {
        sent = command;
        return Promise.resolve(output);
      });
      const input = Object.freeze({ QueueUrl: QUEUE_URL, MessageAttributeNames: names ?? undefined });
      const before = JSON.stringify(input);
      expect(await send.call({}, new ReceiveMessageCommand(input as never))).toBe(output);
      expect(JSON.stringify(input)).toBe(before);
      const sentNames = sent.input.MessageAttributeNames;
      if (Array.isArray(names)) expect(sentNames.slice(0, names.length)).toEqual(names);
      if (Array.isArray(sentNames)) for (const field of ['traceparent', 'tracestate', 'baggage']) expect(sentNames.filter((name: unknown) => name === field).length).toBeLessThanOrEqual(Math.max(1, names?.filter((name) => name === field).length ?? 0));
      for (const span of exporter.getFinishedSpans()) {
        const parent = span.parentSpanContext;
        if (parent !== undefined) expect(trace.isSpanContextValid(parent)).toBe(true);
        for (const link of span.links) expect(trace.isSpanContextValid(link.context)).toBe(true);
      }
    }),
    { numRuns },
  );
  exporter.reset();
});

test('sqs-consumer handler: always called with the very message, its result passed through', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(receivedMessage, fc.constant(null), fc.string()), async (message) => {
      const handler = wrapHandler(async (received: unknown) => ({ received }));
      const result = await handler.call({ queueUrl: QUEUE_URL }, message);
      expect(result.received).toBe(message);
    }),
    { numRuns },
  );
  exporter.reset();
});
