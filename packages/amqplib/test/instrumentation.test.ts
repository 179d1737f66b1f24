import { context, diag, DiagLogLevel, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { AmqplibInstrumentation, withMessageContext, type AmqplibInstrumentationConfig } from '../src';
import { consumerDestination, producerDestination, serverFromUrl } from '../src/destination';
import { createFakeModule, message, type FakeMessage } from './fake-amqplib';
import { setupInMemoryOtel as setupOtel } from '@threadline/testing';

const { exporter, tracer, openSpans } = setupOtel();
const GARBAGE = 'not-a-traceparent';

function instrument(config: AmqplibInstrumentationConfig = {}) {
  const instrumentation = new AmqplibInstrumentation({ enabled: false, ...config });
  const [definition] = instrumentation.getModuleDefinitions();
  const file = (name: string) => definition.files.find((candidate) => candidate.name.endsWith(name))!;
  const promiseApi = createFakeModule('promise');
  const callbackApi = createFakeModule('callback');
  file('channel_model.js').patch(promiseApi.model);
  file('callback_model.js').patch(callbackApi.model);
  file('connect.js').patch(promiseApi.connectModule);
  return { instrumentation, definition, file, promiseApi, callbackApi, ...promiseApi.model };
}

const spans = () => exporter.getFinishedSpans();
const span = (name: string): ReadableSpan => {
  const found = spans().filter((candidate) => candidate.name === name);
  if (found.length !== 1) throw new Error(`${found.length} spans named ${name}: ${spans().map((s) => s.name).join(', ')}`);
  return found[0];
};

let openBefore = new Set<ReadableSpan>();
/** Consumer spans this test started and has not ended: its unsettled messages' spans. */
const unsettledSpans = () => openSpans().filter((s) => s.kind === SpanKind.CONSUMER && !openBefore.has(s)).length;

beforeEach(() => {
  exporter.reset();
  openBefore = new Set(openSpans());
});

describe('naming', () => {
  test('producer destination follows the RabbitMQ conventions', () => {
    expect(producerDestination('orders', 'eu')).toBe('orders:eu');
    expect(producerDestination('', 'work')).toBe('work');
    expect(producerDestination('logs', '')).toBe('logs');
    expect(producerDestination('', '')).toBe('amq.default');
    expect(producerDestination(undefined, 42)).toBe('amq.default');
  });

  test('consumer destination: exchange, routing key and queue, empty parts and repeats left out', () => {
    expect(consumerDestination('orders', 'eu', 'billing')).toBe('orders:eu:billing');
    expect(consumerDestination('', 'work', 'work')).toBe('work');
    expect(consumerDestination('orders', 'billing', 'billing')).toBe('orders:billing');
    expect(consumerDestination('', '', '')).toBe('amq.default');
  });

  test('the server comes from host and port only: credentials never leave the URL', () => {
    expect(serverFromUrl('amqp://user:s3cret@rabbit.example:5673/vhost?heartbeat=5')).toEqual({ address: 'rabbit.example', port: 5673 });
    expect(serverFromUrl('amqps://user:s3cret@rabbit.example')).toEqual({ address: 'rabbit.example', port: 5671 });
    expect(serverFromUrl('amqp://[::1]')).toEqual({ address: '::1', port: 5672 });
    expect(serverFromUrl(undefined)).toEqual({ address: 'localhost', port: 5672 });
    expect(serverFromUrl({ hostname: 'h', port: 1234, username: 'u', password: 's3cret' })).toEqual({ address: 'h', port: 1234 });
    expect(serverFromUrl({ protocol: 'amqps', hostname: 'h', password: 's3cret' })).toEqual({ address: 'h', port: 5671 });
    expect(serverFromUrl('::not a url::')).toEqual({});
    expect(JSON.stringify(serverFromUrl('amqp://user:s3cret@h'))).not.toContain('s3cret');
  });
});

describe('publish', () => {
  test('one PRODUCER span, context in a copy of the headers, the caller’s options untouched', () => {
    const { Channel } = instrument();
    const channel = new Channel();
    const headers = { 'x-user': 'kept', n: 7, raw: Buffer.from([0, 255]) };
    const options = { headers, persistent: true, messageId: 'm-1', correlationId: 'c-1' };
    const snapshot = JSON.stringify(options);
    const parent = tracer.startSpan('caller');
    const returned = context.with(trace.setSpan(ROOT_CONTEXT, parent), () => channel.publish('orders', 'eu', Buffer.from('x'), options));
    parent.end();

    expect(returned).toBe(true);
    expect(JSON.stringify(options)).toBe(snapshot);
    expect(options.headers).toBe(headers);
    expect(Object.keys(headers)).toEqual(['x-user', 'n', 'raw']);
    const [sent] = channel.published;
    expect(sent.options).not.toBe(options);
    // Every other option reads through to the caller's object.
    expect(sent.options.persistent).toBe(true);
    expect(sent.options.messageId).toBe('m-1');
    expect(Object.keys(sent.encodedHeaders)).toEqual(['x-user', 'n', 'raw', 'traceparent']);
    expect(sent.encodedHeaders.raw).toBe(headers.raw);

    const send = span('send orders');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(sent.encodedHeaders.traceparent).toBe(`00-${send.spanContext().traceId}-${send.spanContext().spanId}-01`);
    expect(send.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.destination.name': 'orders:eu',
      'messaging.operation.type': 'send',
      'messaging.rabbitmq.destination.routing_key': 'eu',
      'messaging.message.id': 'm-1',
      'messaging.message.conversation_id': 'c-1',
      'server.address': '10.9.8.7',
      'server.port': 5999,
    });
  });

  test('sendToQueue uses the default exchange name and gets one span', () => {
    const { Channel } = instrument();
    const channel = new Channel();
    channel.sendToQueue('work', Buffer.from('x'));
    expect(spans().map((s) => s.name)).toEqual(['send amq.default']);
    expect(span('send amq.default').attributes['messaging.destination.name']).toBe('work');
    expect(channel.published[0].encodedHeaders.traceparent).toEqual(expect.any(String));
  });

  test('odd headers: null gets a fresh table; own __proto__ and inherited keys survive; nothing is polluted', () => {
    const { Channel } = instrument();
    const channel = new Channel();
    channel.publish('', 'q', Buffer.from('x'), { headers: null });
    expect(Object.keys(channel.published[0].encodedHeaders)).toEqual(['traceparent']);

    const polluting = JSON.parse('{"__proto__": {"polluted": true}, "a": "1"}');
    const inherited = Object.create({ inheritedKey: 'from-prototype' });
    inherited.own = 'own';
    channel.publish('', 'q', Buffer.from('x'), { headers: polluting });
    channel.publish('', 'q', Buffer.from('x'), { headers: inherited });
    expect(Object.keys(channel.published[1].encodedHeaders)).toEqual(['__proto__', 'a', 'traceparent']);
    expect(channel.published[1].encodedHeaders['__proto__']).toEqual({ polluted: true });
    expect(channel.published[2].encodedHeaders).toMatchObject({ own: 'own', inheritedKey: 'from-prototype' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('bad options are passed on exactly as given, and the message still goes out', () => {
    const { Channel } = instrument();
    const channel = new Channel();
    const arrayHeaders = { headers: ['not', 'a', 'table'] };
    const frozen = Object.freeze({ headers: Object.freeze({ a: 'b' }) });
    channel.publish('', 'q', Buffer.from('1'), arrayHeaders);
    channel.publish('', 'q', Buffer.from('2'), 'nonsense' as any);
    channel.publish('', 'q', Buffer.from('3'), frozen);
    expect(channel.published[0].options).toBe(arrayHeaders);
    expect(channel.published[1].options).toBe('nonsense');
    expect(channel.published[2].encodedHeaders).toMatchObject({ a: 'b', traceparent: expect.any(String) });
    expect(spans()).toHaveLength(3);
  });

  test('headers near amqplib\'s 64 KiB table buffer: the message goes exactly as given, without context', () => {
    const { Channel } = instrument();
    const channel = new Channel();
    // Fits amqplib's encoding buffer alone; the traceparent header would push it over and throw.
    const nearLimit = { headers: { big: 'x'.repeat(65362) } };
    const small = { headers: { a: 'b' } };
    channel.publish('', 'q', Buffer.from('1'), nearLimit);
    channel.publish('', 'q', Buffer.from('2'), small);
    expect(channel.published[0].options).toBe(nearLimit);
    expect(channel.published[1].encodedHeaders).toMatchObject({ a: 'b', traceparent: expect.any(String) });
  });

  test('a context the user put in the headers wins, whatever its type', () => {
    const { Channel } = instrument();
    const channel = new Channel();
    const options = { headers: { traceparent: 12345 } };
    channel.publish('', 'q', Buffer.from('x'), options);
    channel.publish('', 'q', Buffer.from('x'), { headers: { TraceParent: GARBAGE } });
    expect(channel.published[0].options).toBe(options);
    expect(channel.published[1].encodedHeaders).toEqual({ TraceParent: GARBAGE });
  });

  test('a publish that throws ends its span with the error and rethrows it', () => {
    const { Channel } = instrument();
    const channel = new Channel();
    channel.failPublish = new Error('Channel closed');
    expect(() => channel.publish('x', 'y', Buffer.from('z'))).toThrow('Channel closed');
    expect(span('send x').status).toEqual({ code: SpanStatusCode.ERROR, message: 'Channel closed' });
  });

  test('ConfirmChannel: exactly one span, ended by the broker confirm; a nack marks it failed', () => {
    const { ConfirmChannel } = instrument();
    const channel = new ConfirmChannel();
    const seen: { error: Error | null; spanId?: string }[] = [];
    const parent = tracer.startSpan('caller');
    context.with(trace.setSpan(ROOT_CONTEXT, parent), () => {
      channel.sendToQueue('q', Buffer.from('1'), {}, (error) => seen.push({ error, spanId: trace.getSpan(context.active())?.spanContext().spanId }));
      channel.publish('ex', 'rk', Buffer.from('2'), {}, (error) => seen.push({ error }));
      channel.publish('ex', 'rk', Buffer.from('3'));
    });
    expect(spans()).toHaveLength(0);
    channel.confirm(null);
    channel.confirm(new Error('message nacked'));
    channel.confirm(null);
    expect(spans().map((s) => s.name)).toEqual(['send amq.default', 'send ex', 'send ex']);
    expect(spans()[0].status.code).toBe(SpanStatusCode.UNSET);
    expect(spans()[1].status).toEqual({ code: SpanStatusCode.ERROR, message: 'message nacked' });
    expect(seen[0]).toEqual({ error: null, spanId: parent.spanContext().spanId });
    expect(seen[1].error?.message).toBe('message nacked');
    expect(channel.published).toHaveLength(3);
  });

  test('hooks that throw change nothing', () => {
    const { Channel } = instrument({
      publishHook: () => {
        throw new Error('hook');
      },
      consumeHook: () => {
        throw new Error('hook');
      },
    });
    const channel = new Channel();
    channel.sendToQueue('q', Buffer.from('x'));
    void channel.consume('q', () => undefined);
    channel.deliver('q', message('q', channel.published[0].encodedHeaders));
    expect(channel.published).toHaveLength(1);
    expect(spans().map((s) => s.name)).toEqual(['send amq.default']);
  });
});

describe('consume', () => {
  function roundTrip(config: AmqplibInstrumentationConfig = {}, consumeOptions?: any) {
    const setup = instrument(config);
    const channel = new setup.Channel();
    channel.sendToQueue('q', Buffer.from('x'), { headers: { keep: 'me' } });
    const delivered = message('q', { ...channel.published[0].encodedHeaders }, { messageId: 'id-9' });
    const seen: { spanId?: string; traceId?: string } = {};
    let handlerResult: unknown;
    void channel.consume(
      'q',
      (_received: FakeMessage | null) => {
        const active = trace.getSpan(context.active())?.spanContext();
        Object.assign(seen, { spanId: active?.spanId, traceId: active?.traceId });
        return handlerResult;
      },
      consumeOptions,
    );
    return { ...setup, channel, delivered, seen, setResult: (value: unknown) => (handlerResult = value) };
  }

  test('the handler runs in a CONSUMER span, child of the send span, ended by ack', () => {
    const { channel, delivered, seen } = roundTrip();
    channel.deliver('q', delivered);
    expect(spans().map((s) => s.name)).toEqual(['send amq.default']);
    channel.ack(delivered);
    const send = span('send amq.default');
    const process = span('process q');
    expect(process.kind).toBe(SpanKind.CONSUMER);
    expect(process.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(process.spanContext().traceId).toBe(send.spanContext().traceId);
    expect(seen.spanId).toBe(process.spanContext().spanId);
    expect(process.attributes).toMatchObject({
      'messaging.destination.name': 'q',
      'messaging.rabbitmq.destination.routing_key': 'q',
      'messaging.rabbitmq.message.delivery_tag': delivered.fields.deliveryTag,
      'messaging.message.id': 'id-9',
      'threadline.amqplib.settlement': 'ack',
    });
    expect(channel.settled).toEqual([`ack ${delivered.fields.deliveryTag}`]);
  });

  test('nack and reject end the span with an error status; requeue is named', () => {
    const { channel } = roundTrip();
    const headers = channel.published[0].encodedHeaders;
    const first = message('q', headers);
    const second = message('q', headers);
    channel.deliver('q', first);
    channel.deliver('q', second);
    channel.nack(first);
    channel.reject(second, false);
    const [nacked, rejected] = spans().filter((s) => s.name === 'process q');
    expect(nacked.status).toEqual({ code: SpanStatusCode.ERROR, message: 'nack (requeued)' });
    expect(nacked.attributes['error.type']).toBe('nack');
    expect(rejected.status).toEqual({ code: SpanStatusCode.ERROR, message: 'reject' });
    expect(rejected.attributes['threadline.amqplib.settlement']).toBe('reject');
  });

  test('ack with allUpTo, ackAll and nackAll settle every tracked message they cover', () => {
    const { channel } = roundTrip();
    const headers = channel.published[0].encodedHeaders;
    const messages = [1, 2, 3, 4, 5].map(() => message('q', headers));
    for (const delivered of messages) channel.deliver('q', delivered);
    channel.ack(messages[1], true);
    expect(spans().filter((s) => s.name === 'process q')).toHaveLength(2);
    channel.nackAll(false);
    const ended = spans().filter((s) => s.name === 'process q');
    expect(ended).toHaveLength(5);
    expect(ended.slice(2).map((s) => s.status.message)).toEqual(['nack', 'nack', 'nack']);
    channel.deliver('q', message('q', headers));
    channel.ackAll();
    expect(spans().filter((s) => s.name === 'process q')).toHaveLength(6);
  });

  test('a channel that closes with unsettled messages ends their spans with an error', () => {
    const { channel, delivered } = roundTrip();
    channel.deliver('q', delivered);
    expect(unsettledSpans()).toBe(1);
    channel.close();
    expect(span('process q').status).toEqual({ code: SpanStatusCode.ERROR, message: 'channel closed before the message was settled' });
    expect(span('process q').attributes['error.type']).toBe('channel_closed');
    expect(unsettledSpans()).toBe(0);
  });

  test('noAck: the span ends when the handler returns, or when its promise settles', async () => {
    const { channel, delivered, setResult } = roundTrip({}, { noAck: true });
    channel.deliver('q', delivered);
    expect(span('process q').attributes['threadline.amqplib.settlement']).toBe('no_ack');
    let finish!: () => void;
    setResult(new Promise<void>((resolve) => (finish = resolve)));
    channel.deliver('q', message('q', delivered.properties.headers));
    expect(spans().filter((s) => s.name === 'process q')).toHaveLength(1);
    finish();
    await new Promise((resolve) => setImmediate(resolve));
    expect(spans().filter((s) => s.name === 'process q')).toHaveLength(2);
  });

  test('a handler that throws: the error reaches amqplib unchanged and is recorded on the span', () => {
    const { Channel } = instrument();
    const channel = new Channel();
    const failure = new Error('handler failed');
    void channel.consume('q', () => {
      throw failure;
    });
    const delivered = message('q', {});
    expect(() => channel.deliver('q', delivered)).toThrow(failure);
    channel.ack(delivered);
    expect(span('process q').status).toEqual({ code: SpanStatusCode.ERROR, message: 'handler failed' });
  });

  test('cancellation (null message) reaches the handler without a span', () => {
    const { Channel } = instrument();
    const channel = new Channel();
    const received: unknown[] = [];
    void channel.consume('q', (delivered: unknown) => received.push(delivered));
    channel.deliver('q', null);
    expect(received).toEqual([null]);
    expect(spans()).toHaveLength(0);
  });

  test('garbage, non-string and missing context: a new trace, never an exception', () => {
    const { Channel } = instrument();
    const channel = new Channel();
    const handled: number[] = [];
    void channel.consume('q', () => handled.push(1));
    for (const headers of [{ traceparent: GARBAGE }, { traceparent: 42 }, { traceparent: [Buffer.from('x')] }, null, undefined]) {
      const delivered = message('q', headers);
      channel.deliver('q', delivered);
      channel.ack(delivered);
    }
    const broken = { content: Buffer.from('x'), fields: null, properties: null } as any;
    channel.deliver('q', broken);
    expect(handled).toHaveLength(6);
    const processed = spans().filter((s) => s.name === 'process q');
    expect(processed.length).toBeGreaterThanOrEqual(5);
    for (const each of processed) expect(each.parentSpanContext).toBeUndefined();
  });

  test('useLinks: a new trace that links to the send span', () => {
    const { channel, delivered } = roundTrip({ useLinks: true });
    channel.deliver('q', delivered);
    channel.ack(delivered);
    const send = span('send amq.default');
    const process = span('process q');
    expect(process.parentSpanContext).toBeUndefined();
    expect(process.spanContext().traceId).not.toBe(send.spanContext().traceId);
    expect(process.links.map((link) => link.context.spanId)).toEqual([send.spanContext().spanId]);
  });

  test('propagation-only: no spans; the handler runs in the producer’s context', () => {
    const { Channel } = instrument({ mode: 'propagation-only' });
    const channel = new Channel();
    const parent = tracer.startSpan('caller');
    context.with(trace.setSpan(ROOT_CONTEXT, parent), () => channel.sendToQueue('q', Buffer.from('x')));
    parent.end();
    let activeSpanId: string | undefined;
    void channel.consume('q', () => {
      activeSpanId = trace.getSpanContext(context.active())?.spanId;
    });
    const delivered = message('q', channel.published[0].encodedHeaders);
    channel.deliver('q', delivered);
    channel.ack(delivered);
    expect(spans().map((s) => s.name)).toEqual(['caller']);
    expect(activeSpanId).toBe(parent.spanContext().spanId);
  });
});

test('no message body and no header value is ever recorded in an attribute', () => {
  const { Channel } = instrument();
  const channel = new Channel();
  const body = 'card=4111111111111111';
  channel.publish('ex', 'rk', Buffer.from(body), { headers: { secret: 'header-value-1' } });
  void channel.consume('q', () => undefined);
  const delivered = { ...message('q', channel.published[0].encodedHeaders), content: Buffer.from(body) };
  channel.deliver('q', delivered);
  channel.ack(delivered);
  expect(spans()).toHaveLength(2);
  for (const each of spans()) expect(JSON.stringify([each.attributes, each.events, each.status])).not.toMatch(/4111|header-value-1/);
});

describe('get', () => {
  test('promise API: the fetched message gets a span that ends at ack; an empty queue gets none', async () => {
    const { Channel } = instrument();
    const channel = new Channel();
    channel.sendToQueue('q', Buffer.from('x'));
    expect(await channel.get('q')).toBe(false);
    const delivered = message('q', channel.published[0].encodedHeaders);
    channel.nextGet = delivered;
    expect(await channel.get('q', {})).toBe(delivered);
    expect(spans().map((s) => s.name)).toEqual(['send amq.default']);
    channel.ack(delivered);
    expect(span('process q').parentSpanContext?.spanId).toBe(span('send amq.default').spanContext().spanId);
    channel.nextGet = message('q', {});
    await channel.get('q', { noAck: true });
    expect(spans().filter((s) => s.name === 'process q')).toHaveLength(2);
  });

  test('callback API: the callback runs inside the message’s span', async () => {
    const { callbackApi } = instrument();
    const channel = new callbackApi.model.Channel();
    channel.sendToQueue('q', Buffer.from('x'));
    const delivered = message('q', channel.published[0].encodedHeaders);
    channel.nextGet = delivered;
    const activeSpanId = await new Promise<string | undefined>((resolve) =>
      channel.get('q', {}, (_error: unknown, received: FakeMessage) => {
        resolve(trace.getSpanContext(context.active())?.spanId);
        channel.ack(received);
      }),
    );
    expect(activeSpanId).toBe(span('process q').spanContext().spanId);
  });
});

describe('withMessageContext', () => {
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  test("runs fn in the context of the message's headers and returns what fn returns", () => {
    const seen = withMessageContext(message('q', { traceparent }), () => trace.getSpanContext(context.active()));
    expect(seen?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(seen?.spanId).toBe('00f067aa0ba902b7');
    expect(seen?.isRemote).toBe(true);
  });

  test('bad input: no message, no properties, headers of the wrong type or a garbage traceparent run fn in the active context', () => {
    const active = trace.wrapSpanContext({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 });
    const inputs = [false as const, null, undefined, {}, { properties: null }, { properties: { headers: 'traceparent' } }, { properties: { headers: { traceparent: 'garbage' } } }];
    for (const input of inputs) {
      const seen = context.with(trace.setSpan(ROOT_CONTEXT, active), () => withMessageContext(input, () => trace.getSpanContext(context.active())?.spanId));
      expect(seen).toBe('b'.repeat(16));
    }
    expect(withMessageContext(null, () => 'still runs')).toBe('still runs');
  });
});

describe('bounded memory for unsettled messages', () => {
  test('the cap ends the oldest span first and warns once', () => {
    const warnings: string[] = [];
    diag.setLogger(
      { warn: (...args: unknown[]) => warnings.push(args.join(' ')), error() {}, info() {}, debug() {}, verbose() {} },
      { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
    );
    try {
      const { Channel } = instrument({ maxUnsettledSpans: 2 });
      const channel = new Channel();
      void channel.consume('q', () => undefined);
      const delivered = [1, 2, 3, 4].map(() => message('q', {}));
      for (const each of delivered) channel.deliver('q', each);
      expect(unsettledSpans()).toBe(2);
      const evicted = spans().filter((s) => s.attributes['threadline.amqplib.settlement'] === 'evicted');
      expect(evicted.map((s) => s.attributes['messaging.rabbitmq.message.delivery_tag'])).toEqual([
        delivered[0].fields.deliveryTag,
        delivered[1].fields.deliveryTag,
      ]);
      expect(warnings.filter((text) => text.includes('maxUnsettledSpans'))).toHaveLength(1);
      // Acking an evicted message is harmless.
      channel.ack(delivered[0]);
      channel.ack(delivered[3]);
      expect(unsettledSpans()).toBe(1);
    } finally {
      diag.disable();
    }
  });

  test('the timeout ends spans whose messages are never settled', async () => {
    const { Channel } = instrument({ unsettledTimeoutMs: 30 });
    const channel = new Channel();
    void channel.consume('q', () => undefined);
    channel.deliver('q', message('q', {}));
    channel.deliver('q', message('q', {}));
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(unsettledSpans()).toBe(0);
    expect(spans().map((s) => s.attributes['threadline.amqplib.settlement'])).toEqual(['timeout', 'timeout']);
  });

  test('a span tracked after the set emptied still times out (the idle timer is reused, not leaked)', async () => {
    const { Channel } = instrument({ unsettledTimeoutMs: 40 });
    const channel = new Channel();
    void channel.consume('q', (msg: unknown) => channel.ack(msg as FakeMessage));
    channel.deliver('q', message('q', {}));
    expect(unsettledSpans()).toBe(0);
    void channel.consume('q2', () => undefined);
    channel.deliver('q2', message('q2', {}));
    expect(unsettledSpans()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(unsettledSpans()).toBe(0);
    expect(spans().map((s) => s.attributes['threadline.amqplib.settlement'])).toEqual(['ack', 'timeout']);
  });

  test('limits come from the environment when the config does not set them', () => {
    process.env.THREADLINE_AMQPLIB_MAX_UNSETTLED_SPANS = '7';
    process.env.THREADLINE_AMQPLIB_UNSETTLED_TIMEOUT_MS = 'nonsense';
    try {
      const fromEnv = new AmqplibInstrumentation({ enabled: false });
      expect(fromEnv.getConfig().maxUnsettledSpans).toBe(7);
      expect(fromEnv.getConfig().unsettledTimeoutMs).toBeUndefined();
      expect(new AmqplibInstrumentation({ enabled: false, maxUnsettledSpans: 3 }).getConfig().maxUnsettledSpans).toBe(3);
      // #17: setConfig keeps what the environment set, and the config still wins.
      fromEnv.setConfig({});
      expect(fromEnv.getConfig().maxUnsettledSpans).toBe(7);
      fromEnv.setConfig({ maxUnsettledSpans: 4 });
      expect(fromEnv.getConfig().maxUnsettledSpans).toBe(4);
    } finally {
      delete process.env.THREADLINE_AMQPLIB_MAX_UNSETTLED_SPANS;
      delete process.env.THREADLINE_AMQPLIB_UNSETTLED_TIMEOUT_MS;
    }
  });
});

describe('patching', () => {
  test('server attributes come from the connect URL, never its credentials', () => {
    const { promiseApi, Channel } = instrument();
    let connection: object | undefined;
    promiseApi.connectModule.connect('amqp://admin:s3cret@rabbit.example:5673/prod', {}, (_error, opened) => (connection = opened));
    const channel = new Channel();
    channel.connection = connection;
    channel.sendToQueue('q', Buffer.from('x'));
    const send = span('send amq.default');
    expect(send.attributes['server.address']).toBe('rabbit.example');
    expect(send.attributes['server.port']).toBe(5673);
    expect(JSON.stringify(send.attributes)).not.toMatch(/s3cret|admin/);
  });

  test('unpatch restores every original method; disable ends open spans', () => {
    const { Channel, ConfirmChannel, file, promiseApi, instrumentation } = instrument();
    const channel = new Channel();
    void channel.consume('q', () => undefined);
    channel.deliver('q', message('q', {}));
    expect(unsettledSpans()).toBe(1);
    instrumentation.disable();
    expect(unsettledSpans()).toBe(0);
    file('channel_model.js').unpatch(promiseApi.model);
    file('connect.js').unpatch(promiseApi.connectModule);
    for (const name of ['publish', 'consume', 'get', 'ack', 'nack', 'reject', 'ackAll', 'nackAll'] as const) {
      expect((Channel.prototype[name] as { __wrapped?: boolean }).__wrapped).toBeUndefined();
    }
    expect((ConfirmChannel.prototype.publish as { __wrapped?: boolean }).__wrapped).toBeUndefined();
    exporter.reset();
    new Channel().sendToQueue('q', Buffer.from('x'));
    expect(spans()).toHaveLength(0);
  });

  test('a module without the expected shape is left alone', () => {
    const { file } = instrument();
    const odd = { Channel: { prototype: { publish() {} } } };
    expect(file('channel_model.js').patch(odd)).toBe(odd);
    expect((odd.Channel.prototype.publish as { __wrapped?: boolean }).__wrapped).toBeUndefined();
    expect(file('connect.js').patch({})).toEqual({});
  });
});
