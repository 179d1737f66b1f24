// In-process unit tests: the wrappers are called directly (Jest's require does not fire module hooks).
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQS,
  SQSClient,
  type SendMessageBatchCommandInput,
  type SendMessageCommandInput,
} from '@aws-sdk/client-sqs';
import { deepFreeze, setupInMemoryOtel, TRACEPARENT_PATTERN, VALID_TRACE_ID, VALID_TRACEPARENT } from '@threadline/testing';
import { SqsInstrumentation, SUPPORTED_VERSIONS, type SqsInstrumentationConfig } from '../src';

const { exporter, provider, tracer, logs } = setupInMemoryOtel();

type AnyFn = (this: unknown, ...args: any[]) => any;
interface Internals {
  wrapSend(original: AnyFn): AnyFn;
  wrapConsumerReceive(original: AnyFn): AnyFn;
  wrapHandler(original: AnyFn): AnyFn;
  wrapBatchHandler(original: AnyFn): AnyFn;
  patchClientModule(moduleExports: unknown): unknown;
  unpatchClientModule(moduleExports: unknown): void;
  patchConsumerModule(moduleExports: unknown): unknown;
  unpatchConsumerModule(moduleExports: unknown): void;
}

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/orders';
const PRODUCER_SPAN_ID = 'b7ad6b7169203331';

function instrument(config: SqsInstrumentationConfig = {}): Internals {
  const instrumentation = new SqsInstrumentation({ enabled: false, followPulls: false, ...config });
  instrumentation.setTracerProvider(provider);
  return instrumentation as unknown as Internals;
}

interface Call {
  command: any;
  rest: unknown[];
  activeSpanId?: string;
}

/** Stands in for SQSClient.prototype.send: records what it was given and answers `output`. */
function fakeSend(answer: () => unknown = () => Promise.resolve({})) {
  const calls: Call[] = [];
  const send: AnyFn = function (command: unknown, ...rest: unknown[]) {
    calls.push({ command, rest, activeSpanId: trace.getActiveSpan()?.spanContext().spanId });
    return answer();
  };
  return { send, calls };
}

// Inputs that are incomplete or wrong on purpose: the SDK's types would reject them.
const sendMessage = (input: object) => new SendMessageCommand(input as SendMessageCommandInput);
const sendBatch = (input: object) => new SendMessageBatchCommand(input as SendMessageBatchCommandInput);
const attr = (value: string) => ({ DataType: 'String', StringValue: value });
const message = (id: string, attributes?: Record<string, unknown>, body = `body ${id}`) => ({ MessageId: id, ReceiptHandle: `rh-${id}`, Body: body, MessageAttributes: attributes });
const spans = () => exporter.getFinishedSpans();

beforeEach(() => {
  exporter.reset();
  logs.length = 0;
});

describe('module', () => {
  test('supports a closed range starting at the first JSON-protocol release', () => {
    expect(SUPPORTED_VERSIONS).toEqual(['>=3.447.0 <4']);
  });

  test('patches SQSClient.prototype.send only, once, and unpatches it', () => {
    class FakeClient {}
    const base = { send: function send() {} };
    Object.setPrototypeOf(FakeClient.prototype, base);
    const exported = { SQSClient: FakeClient };
    const instrumentation = instrument();
    instrumentation.patchClientModule(exported);
    instrumentation.patchClientModule(exported);
    const wrapped = (FakeClient.prototype as any).send;
    expect(wrapped).not.toBe(base.send);
    expect(wrapped.__original).toBe(base.send);
    expect(base.send.name).toBe('send');
    instrumentation.unpatchClientModule(exported);
    expect((FakeClient.prototype as any).send).toBe(base.send);
  });

  test('the SQS aggregated client inherits send from SQSClient (so it is covered by the same wrapper)', () => {
    expect(Object.getPrototypeOf(SQS.prototype)).toBe(SQSClient.prototype);
    expect(Object.prototype.hasOwnProperty.call(SQS.prototype, 'send')).toBe(false);
  });

  test('a module without SQSClient is left alone with a warning', () => {
    const exported = { nothing: true };
    expect(instrument().patchClientModule(exported)).toBe(exported);
    expect(logs.some((log) => log.level === 'warn' && /no SQSClient/.test(log.message))).toBe(true);
  });

  test('the ESM namespace form (`default` holding the CJS exports) is patched too', () => {
    class FakeClient {
      send() {}
    }
    const original = FakeClient.prototype.send;
    instrument().patchClientModule({ default: { SQSClient: FakeClient } });
    expect(FakeClient.prototype.send).not.toBe(original);
  });
});

describe('send', () => {
  test('SendMessage: PRODUCER span, a copy of the command with context; the frozen input is untouched', async () => {
    const { send, calls } = fakeSend(() => Promise.resolve({ MessageId: 'm-1' }));
    const wrapped = instrument().wrapSend(send);
    const input = deepFreeze({ QueueUrl: QUEUE_URL, MessageBody: 'payload', MessageAttributes: { color: attr('blue') } });
    const command = sendMessage(input);
    const before = JSON.stringify(input);
    const parent = tracer.startSpan('checkout');
    const output = await context.with(trace.setSpan(ROOT_CONTEXT, parent), () => wrapped.call({}, command));
    parent.end();

    expect(output).toEqual({ MessageId: 'm-1' });
    expect(JSON.stringify(input)).toBe(before);
    expect(command.input).toBe(input);
    const sent = calls[0].command;
    expect(sent).not.toBe(command);
    expect(sent).toBeInstanceOf(SendMessageCommand);
    expect(sent.middlewareStack).toBe(command.middlewareStack);
    expect(sent.input).not.toBe(input);
    expect(sent.input.MessageBody).toBe('payload');
    expect(sent.input.MessageAttributes.color).toBe(input.MessageAttributes.color);
    expect(Object.keys(sent.input.MessageAttributes).sort()).toEqual(['color', 'traceparent']);

    const span = spans().find((s) => s.kind === SpanKind.PRODUCER)!;
    expect(span.name).toBe('send orders');
    expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(sent.input.MessageAttributes.traceparent.StringValue).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
    expect(calls[0].activeSpanId).toBe(span.spanContext().spanId);
    expect(span.attributes).toMatchObject({
      'messaging.system': 'aws_sqs',
      'messaging.destination.name': 'orders',
      'messaging.operation.type': 'send',
      'aws.sqs.queue.url': QUEUE_URL,
      'server.address': 'sqs.eu-west-1.amazonaws.com',
      'server.port': 443,
      'messaging.message.id': 'm-1',
    });
    expect(Object.values(span.attributes)).not.toContain('payload');
  });

  test('SendMessageBatch: every entry carries the context, no entry is mutated', async () => {
    const { send, calls } = fakeSend(() => Promise.resolve({ Successful: [] }));
    const wrapped = instrument().wrapSend(send);
    const input = deepFreeze({
      QueueUrl: QUEUE_URL,
      Entries: [
        { Id: 'a', MessageBody: 'one' },
        { Id: 'b', MessageBody: 'two', MessageAttributes: { color: attr('red') } },
        { Id: 'c', MessageBody: 'three', MessageAttributes: { traceparent: attr(VALID_TRACEPARENT) } },
      ],
    });
    await wrapped.call({}, sendBatch(input));
    const span = spans()[0];
    expect(span.name).toBe('send orders');
    expect(span.attributes['messaging.batch.message_count']).toBe(3);
    const entries = calls[0].command.input.Entries;
    expect(entries[0].MessageAttributes.traceparent.StringValue).toContain(span.spanContext().spanId);
    expect(entries[1].MessageAttributes.traceparent.StringValue).toContain(span.spanContext().spanId);
    expect(entries[1].MessageAttributes.color).toEqual(attr('red'));
    // A context the user set is theirs.
    expect(entries[2].MessageAttributes.traceparent.StringValue).toBe(VALID_TRACEPARENT);
    expect(input.Entries[0]).not.toHaveProperty('MessageAttributes');
  });

  test('a full budget: no context, the message is sent unchanged, a warning', async () => {
    const { send, calls } = fakeSend();
    const attributes: Record<string, unknown> = {};
    for (let index = 0; index < 10; index++) attributes[`a${index}`] = attr(String(index));
    const input = deepFreeze({ QueueUrl: QUEUE_URL, MessageBody: 'x', MessageAttributes: attributes });
    await instrument().wrapSend(send).call({}, sendMessage(input));
    expect(calls[0].command.input).toEqual(input);
    expect(spans()).toHaveLength(1);
    expect(logs.some((log) => log.level === 'warn' && /none is injected/.test(log.message))).toBe(true);
  });

  test.each([
    ['all-or-none', ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8']],
    ['traceparent-only', ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'traceparent']],
  ] as const)('attributeBudgetPolicy %s with nine attributes and baggage', async (policy, expected) => {
    const { send, calls } = fakeSend();
    const attributes: Record<string, unknown> = {};
    for (let index = 0; index < 9; index++) attributes[`a${index}`] = attr(String(index));
    const withBaggage = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }));
    await context.with(withBaggage, () =>
      instrument({ attributeBudgetPolicy: policy }).wrapSend(send).call({}, sendMessage({ QueueUrl: QUEUE_URL, MessageBody: 'x', MessageAttributes: attributes })),
    );
    expect(Object.keys(calls[0].command.input.MessageAttributes).sort()).toEqual([...expected].sort());
    expect(logs.filter((log) => log.level === 'warn')).toHaveLength(1);
  });

  test('THREADLINE_SQS_ATTRIBUTE_BUDGET sets the policy; an explicit option wins', async () => {
    process.env.THREADLINE_SQS_ATTRIBUTE_BUDGET = 'traceparent-only';
    try {
      const attributes: Record<string, unknown> = {};
      for (let index = 0; index < 9; index++) attributes[`a${index}`] = attr(String(index));
      const withBaggage = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }));
      const fromEnv = fakeSend();
      const explicit = fakeSend();
      await context.with(withBaggage, async () => {
        await instrument().wrapSend(fromEnv.send).call({}, sendMessage({ QueueUrl: QUEUE_URL, MessageAttributes: attributes }));
        await instrument({ attributeBudgetPolicy: 'all-or-none' }).wrapSend(explicit.send).call({}, sendMessage({ QueueUrl: QUEUE_URL, MessageAttributes: attributes }));
      });
      expect(fromEnv.calls[0].command.input.MessageAttributes).toHaveProperty('traceparent');
      expect(explicit.calls[0].command.input.MessageAttributes).not.toHaveProperty('traceparent');
    } finally {
      delete process.env.THREADLINE_SQS_ATTRIBUTE_BUDGET;
    }
  });

  test('Binary and Number attributes named like a propagation field are kept, never overwritten', async () => {
    const { send, calls } = fakeSend();
    const attributes = {
      traceparent: { DataType: 'Binary', BinaryValue: Buffer.from(VALID_TRACEPARENT) },
      tracestate: { DataType: 'Number', StringValue: '7' },
    };
    // The testing kit's deepFreeze cannot freeze a Buffer: freeze around it.
    Object.freeze(attributes.traceparent);
    Object.freeze(attributes.tracestate);
    const input = Object.freeze({ QueueUrl: QUEUE_URL, MessageAttributes: Object.freeze(attributes) });
    await instrument().wrapSend(send).call({}, sendMessage(input));
    expect(calls[0].command.input.MessageAttributes).toEqual(attributes);
  });

  test('a message without attributes that gets no context keeps its shape', async () => {
    const { send, calls } = fakeSend();
    // Suppressed tracing and no active span: the propagator writes nothing.
    const wrapped = instrument({ mode: 'propagation-only' }).wrapSend(send);
    await context.with(ROOT_CONTEXT, () => wrapped.call({}, sendMessage({ QueueUrl: QUEUE_URL, MessageBody: 'x' })));
    expect(calls[0].command.input).toEqual({ QueueUrl: QUEUE_URL, MessageBody: 'x' });
  });

  test('propagation-only: no span, the active context is carried', async () => {
    const { send, calls } = fakeSend();
    const parent = tracer.startSpan('checkout');
    await context.with(trace.setSpan(ROOT_CONTEXT, parent), () =>
      instrument({ mode: 'propagation-only' }).wrapSend(send).call({}, sendMessage({ QueueUrl: QUEUE_URL })),
    );
    parent.end();
    expect(spans().map((s) => s.name)).toEqual(['checkout']);
    expect(calls[0].command.input.MessageAttributes.traceparent.StringValue).toContain(parent.spanContext().spanId);
  });

  test('a rejected send ends the span with error.type and rejects as before', async () => {
    class QueueDoesNotExist extends Error {
      override name = 'QueueDoesNotExist';
    }
    const failure = new QueueDoesNotExist('no such queue');
    const { send } = fakeSend(() => Promise.reject(failure));
    await expect(instrument().wrapSend(send).call({}, sendMessage({ QueueUrl: QUEUE_URL }))).rejects.toBe(failure);
    const span = spans()[0];
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['error.type']).toBe('QueueDoesNotExist');
  });

  test('a send that throws synchronously ends the span and throws the same error', () => {
    const failure = new Error('sync');
    const { send } = fakeSend(() => {
      throw failure;
    });
    expect(() => instrument().wrapSend(send).call({}, sendMessage({ QueueUrl: QUEUE_URL }))).toThrow(failure);
    expect(spans()[0].status.code).toBe(SpanStatusCode.ERROR);
  });

  test('callback style: the callback gets the result and the span ends', async () => {
    const { send, calls } = fakeSend();
    // The SDK calls back on a later tick with (error, output).
    const callbackSend: AnyFn = function (this: unknown, command: unknown, ...rest: unknown[]) {
      send.call(this, command, ...rest);
      const callback = rest.find((item) => typeof item === 'function') as AnyFn;
      setImmediate(() => callback(null, { MessageId: 'cb-1' }));
    };
    const output = await new Promise((resolve, reject) =>
      instrument().wrapSend(callbackSend).call({}, sendMessage({ QueueUrl: QUEUE_URL }), {}, (error: unknown, data: unknown) =>
        error ? reject(error) : resolve(data),
      ),
    );
    expect(output).toEqual({ MessageId: 'cb-1' });
    expect(calls[0].command.input.MessageAttributes).toHaveProperty('traceparent');
    expect(spans()[0].attributes['messaging.message.id']).toBe('cb-1');
  });

  test('other commands and odd inputs go through untouched', async () => {
    const { send, calls } = fakeSend();
    const wrapped = instrument().wrapSend(send);
    const hostile = new Proxy({}, {
      getPrototypeOf() {
        throw new Error('hostile');
      },
    });
    await wrapped.call({}, hostile);
    calls.shift();
    const list = new ListQueuesCommand({});
    await wrapped.call({}, list);
    await wrapped.call({}, 'not a command');
    const odd = Object.assign(sendMessage({}), { input: 'not an object' });
    await wrapped.call({}, odd);
    const garbageAttributes = sendMessage({ QueueUrl: QUEUE_URL, MessageAttributes: 'nope' as never });
    await wrapped.call({}, garbageAttributes);
    expect(calls[0].command).toBe(list);
    expect(calls[1].command).toBe('not a command');
    expect(calls[2].command).toBe(odd);
    expect(calls[3].command.input.MessageAttributes).toBe('nope');
  });

  test('the oldest SDK`s command classes are recognised too', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const oldest = require('client-sqs-oldest') as typeof import('@aws-sdk/client-sqs');
    const { send, calls } = fakeSend();
    await instrument().wrapSend(send).call({}, new oldest.SendMessageCommand({ QueueUrl: QUEUE_URL } as SendMessageCommandInput));
    expect(calls[0].command).toBeInstanceOf(oldest.SendMessageCommand);
    expect(calls[0].command.input.MessageAttributes).toHaveProperty('traceparent');
  });

  test('a custom endpoint gives server.address and server.port', async () => {
    const client = new SQSClient({ endpoint: 'http://127.0.0.1:9324', region: 'elasticmq', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const { send } = fakeSend(() => new Promise((resolve) => setTimeout(() => resolve({}), 5)));
    const wrapped = instrument().wrapSend(send);
    await wrapped.call(client, sendMessage({ QueueUrl: 'http://localhost:9324/000000000000/local' }));
    await wrapped.call(client, sendMessage({ QueueUrl: 'http://localhost:9324/000000000000/local' }));
    for (const span of spans()) expect(span.attributes).toMatchObject({ 'server.address': '127.0.0.1', 'server.port': 9324 });
    client.destroy();
  });

  test('credentials and query in a queue URL never reach a span', async () => {
    const { send } = fakeSend();
    await instrument().wrapSend(send).call({}, sendMessage({ QueueUrl: 'https://user:secret@sqs.example.com/1/q?token=abc' }));
    const span = spans()[0];
    expect(span.attributes['aws.sqs.queue.url']).toBe('https://sqs.example.com/1/q');
    expect(JSON.stringify(span.attributes)).not.toMatch(/secret|token/);
  });
});

describe('receive', () => {
  const receiveWith = async (names: unknown, output: unknown = { Messages: [] }, config: SqsInstrumentationConfig = {}) => {
    const { send, calls } = fakeSend(() => Promise.resolve(output));
    const input = deepFreeze({ QueueUrl: QUEUE_URL, ...(names === undefined ? {} : { MessageAttributeNames: names }) });
    const command = new ReceiveMessageCommand(input as never);
    const result = await instrument(config).wrapSend(send).call({}, command);
    return { sent: calls[0].command, command, result };
  };

  test.each([
    [undefined, ['traceparent', 'tracestate', 'baggage']],
    [['color'], ['color', 'traceparent', 'tracestate', 'baggage']],
    [['traceparent', 'color'], ['traceparent', 'color', 'tracestate', 'baggage']],
  ])('MessageAttributeNames %j becomes %j in a copy', async (names, expected) => {
    const { sent, command } = await receiveWith(names);
    expect(sent).not.toBe(command);
    expect(sent.input.MessageAttributeNames).toEqual(expected);
    expect(command.input.MessageAttributeNames).toEqual(names);
  });

  test.each([[['All']], [['.*']], [['traceparent', 'tracestate', 'baggage']], ['garbage']])('%j needs nothing: the command is sent as it is', async (names) => {
    const { sent, command } = await receiveWith(names);
    expect(sent).toBe(command);
  });

  test('no messages: no span; the output is passed through', async () => {
    const output = { Messages: [] };
    const { result } = await receiveWith(undefined, output);
    expect(result).toBe(output);
    expect(spans()).toHaveLength(0);
  });

  test('one message: a CONSUMER process span whose parent is the message`s context', async () => {
    const received = message('m-1', { traceparent: attr(VALID_TRACEPARENT) });
    const output = { Messages: [received] };
    const { result } = await receiveWith(undefined, output);
    expect(result).toBe(output);
    expect(result.Messages[0]).toBe(received);
    const span = spans()[0];
    expect(span.name).toBe('process orders');
    expect(span.kind).toBe(SpanKind.CONSUMER);
    expect(span.spanContext().traceId).toBe(VALID_TRACE_ID);
    expect(span.parentSpanContext?.spanId).toBe(PRODUCER_SPAN_ID);
    expect(span.attributes).toMatchObject({ 'messaging.message.id': 'm-1', 'messaging.operation.type': 'process', 'messaging.system': 'aws_sqs' });
    expect(JSON.stringify(span.attributes)).not.toContain('body m-1');
  });

  test('one message with useLinks: a new trace linked to the producer', async () => {
    await receiveWith(undefined, { Messages: [message('m-1', { traceparent: attr(VALID_TRACEPARENT) })] }, { useLinks: true });
    const span = spans()[0];
    expect(span.spanContext().traceId).not.toBe(VALID_TRACE_ID);
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.links.map((link) => link.context.spanId)).toEqual([PRODUCER_SPAN_ID]);
  });

  test('several messages: one receive span with a link per message that carries a context', async () => {
    const other = '00-11111111111111111111111111111111-2222222222222222-01';
    await receiveWith(undefined, {
      Messages: [message('m-1', { traceparent: attr(VALID_TRACEPARENT) }), message('m-2', { traceparent: attr(other) }), message('m-3')],
    });
    const span = spans()[0];
    expect(span.name).toBe('receive orders');
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.attributes['messaging.batch.message_count']).toBe(3);
    expect(span.links.map((link) => link.context.spanId)).toEqual([PRODUCER_SPAN_ID, '2222222222222222']);
  });

  test('garbage, Binary and Number context attributes: a root span, no error', async () => {
    await receiveWith(undefined, { Messages: [message('m-1', { traceparent: attr('garbage'), tracestate: attr('\u0000\uffff') })] });
    await receiveWith(undefined, {
      Messages: [message('m-2', { traceparent: { DataType: 'Binary', BinaryValue: Buffer.from(VALID_TRACEPARENT) } })],
    });
    await receiveWith(undefined, { Messages: [message('m-3', { traceparent: { DataType: 'Number', StringValue: '1' } })] });
    for (const span of spans()) {
      expect(span.parentSpanContext).toBeUndefined();
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
    }
    expect(spans()).toHaveLength(3);
  });

  test('a failed receive: a receive span with the error, the rejection passes through', async () => {
    const failure = Object.assign(new Error('down'), { name: 'TimeoutError' });
    const { send } = fakeSend(() => Promise.reject(failure));
    await expect(instrument().wrapSend(send).call({}, new ReceiveMessageCommand({ QueueUrl: QUEUE_URL }))).rejects.toBe(failure);
    expect(spans()[0].name).toBe('receive orders');
    expect(spans()[0].attributes['error.type']).toBe('TimeoutError');
  });

  test('incomingContext "ignore": the message`s context is not used', async () => {
    await receiveWith(undefined, { Messages: [message('m-1', { traceparent: attr(VALID_TRACEPARENT) })] }, { incomingContext: 'ignore' });
    expect(spans()[0].spanContext().traceId).not.toBe(VALID_TRACE_ID);
    expect(spans()[0].links).toEqual([]);
  });
});

describe('SNS envelope', () => {
  const envelope = (attributes: unknown) => JSON.stringify({ Type: 'Notification', MessageId: 'sns-1', Message: 'hi', MessageAttributes: attributes });
  const receive = async (body: string, config: SqsInstrumentationConfig, attributes?: Record<string, unknown>) => {
    const { send } = fakeSend(() => Promise.resolve({ Messages: [message('m-1', attributes, body)] }));
    await instrument(config).wrapSend(send).call({}, new ReceiveMessageCommand({ QueueUrl: QUEUE_URL }));
    return spans()[spans().length - 1];
  };

  test('with snsEnvelope, the context inside a notification body is the parent', async () => {
    const span = await receive(envelope({ traceparent: { Type: 'String', Value: VALID_TRACEPARENT } }), { snsEnvelope: true });
    expect(span.parentSpanContext?.spanId).toBe(PRODUCER_SPAN_ID);
  });

  test('without it, the body is not read', async () => {
    const span = await receive(envelope({ traceparent: { Type: 'String', Value: VALID_TRACEPARENT } }), {});
    expect(span.parentSpanContext).toBeUndefined();
  });

  test('the message`s own SQS attributes win over the envelope', async () => {
    const own = '00-11111111111111111111111111111111-2222222222222222-01';
    const span = await receive(envelope({ traceparent: { Type: 'String', Value: VALID_TRACEPARENT } }), { snsEnvelope: true }, { traceparent: attr(own) });
    expect(span.parentSpanContext?.spanId).toBe('2222222222222222');
  });

  test.each([
    ['not JSON', '{"Type":"Notification", broken'],
    ['another Type', JSON.stringify({ Type: 'SubscriptionConfirmation', MessageAttributes: { traceparent: { Type: 'String', Value: VALID_TRACEPARENT } } })],
    ['a Binary attribute', envelope({ traceparent: { Type: 'Binary', Value: VALID_TRACEPARENT } })],
    ['attributes that are not an object', envelope('traceparent')],
    ['a JSON array', '["Notification"]'],
  ])('%s: ignored, no parent, a debug message at most', async (_label, body) => {
    const span = await receive(body, { snsEnvelope: true });
    expect(span.parentSpanContext).toBeUndefined();
    expect(logs.filter((log) => log.level === 'warn' || log.level === 'error')).toEqual([]);
  });

  test('THREADLINE_SQS_SNS_ENVELOPE=true turns it on', async () => {
    process.env.THREADLINE_SQS_SNS_ENVELOPE = 'true';
    try {
      const span = await receive(envelope({ traceparent: { Type: 'String', Value: VALID_TRACEPARENT } }), {});
      expect(span.parentSpanContext?.spanId).toBe(PRODUCER_SPAN_ID);
    } finally {
      delete process.env.THREADLINE_SQS_SNS_ENVELOPE;
    }
  });
});

describe('sqs-consumer', () => {
  const consumer = { queueUrl: QUEUE_URL };

  test('handleMessage runs inside a process span that is a child of the message`s context', async () => {
    let activeSpanId: string | undefined;
    const executeHandler: AnyFn = async function (this: unknown, received: unknown) {
      activeSpanId = trace.getActiveSpan()?.spanContext().spanId;
      return received;
    };
    const received = message('m-1', { traceparent: attr(VALID_TRACEPARENT) });
    const result = await instrument().wrapHandler(executeHandler).call(consumer, received);
    expect(result).toBe(received);
    const span = spans()[0];
    expect(span.name).toBe('process orders');
    expect(span.parentSpanContext?.spanId).toBe(PRODUCER_SPAN_ID);
    expect(activeSpanId).toBe(span.spanContext().spanId);
  });

  test('a failing handler marks the span and rejects with the same error', async () => {
    const failure = new TypeError('bad message');
    const executeHandler: AnyFn = async () => {
      throw failure;
    };
    await expect(instrument().wrapHandler(executeHandler).call(consumer, message('m-1'))).rejects.toBe(failure);
    expect(spans()[0].status.code).toBe(SpanStatusCode.ERROR);
    expect(spans()[0].attributes['error.type']).toBe('TypeError');
  });

  test('handleMessageBatch runs inside one process span linked to every message', async () => {
    let activeSpanId: string | undefined;
    const executeBatchHandler: AnyFn = async (messages: unknown) => {
      activeSpanId = trace.getActiveSpan()?.spanContext().spanId;
      return messages;
    };
    const other = '00-11111111111111111111111111111111-2222222222222222-01';
    await instrument().wrapBatchHandler(executeBatchHandler).call(consumer, [message('m-1', { traceparent: attr(VALID_TRACEPARENT) }), message('m-2', { traceparent: attr(other) })]);
    const span = spans()[0];
    expect(span.name).toBe('process orders');
    expect(span.kind).toBe(SpanKind.CONSUMER);
    expect(span.links.map((link) => link.context.spanId)).toEqual([PRODUCER_SPAN_ID, '2222222222222222']);
    expect(activeSpanId).toBe(span.spanContext().spanId);
  });

  test('its own receive makes no span (the handlers get them), but still asks for the fields', async () => {
    const instrumentation = instrument();
    const { send, calls } = fakeSend(() => Promise.resolve({ Messages: [message('m-1', { traceparent: attr(VALID_TRACEPARENT) })] }));
    const wrappedSend = instrumentation.wrapSend(send);
    const receiveMessage: AnyFn = async (params: unknown) => wrappedSend.call({}, new ReceiveMessageCommand(params as never));
    await instrumentation.wrapConsumerReceive(receiveMessage).call(consumer, { QueueUrl: QUEUE_URL, MessageAttributeNames: [] });
    expect(spans()).toHaveLength(0);
    expect(calls[0].command.input.MessageAttributeNames).toEqual(['traceparent', 'tracestate', 'baggage']);
  });

  test('patches Consumer.prototype and unpatches it', () => {
    class Consumer {
      receiveMessage() {}
      executeHandler() {}
      executeBatchHandler() {}
    }
    const originals = { ...Object.fromEntries(['receiveMessage', 'executeHandler', 'executeBatchHandler'].map((name) => [name, (Consumer.prototype as any)[name]])) };
    const instrumentation = instrument();
    instrumentation.patchConsumerModule({ Consumer });
    for (const name of Object.keys(originals)) expect((Consumer.prototype as any)[name].__original).toBe(originals[name]);
    instrumentation.unpatchConsumerModule({ Consumer });
    for (const name of Object.keys(originals)) expect((Consumer.prototype as any)[name]).toBe(originals[name]);
  });

  test('a Consumer without the expected methods: a warning, nothing breaks', () => {
    class Consumer {}
    instrument().patchConsumerModule({ Consumer });
    expect(logs.filter((log) => log.level === 'warn')).toHaveLength(3);
  });
});

describe('context attribute values', () => {
  test('a producer`s traceparent has the W3C shape', async () => {
    const { send, calls } = fakeSend();
    await instrument().wrapSend(send).call({}, sendMessage({ QueueUrl: QUEUE_URL }));
    expect(calls[0].command.input.MessageAttributes.traceparent).toEqual({ DataType: 'String', StringValue: expect.stringMatching(TRACEPARENT_PATTERN) });
  });
});
