// The per-instance wrappers on stand-ins announced on the library's own channel, where a broker
// adds nothing: copies instead of writes, one span per topic, header types per serializer, the
// caller's context winning, malformed calls and failures passed through unchanged.
import { channel } from 'node:diagnostics_channel';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { deepFreeze, setupInMemoryOtel, TRACEPARENT_PATTERN, VALID_TRACEPARENT } from '@threadline/testing';
import { PlatformaticKafkaInstrumentation } from '../src';
import { describeOnSupportedNode } from './platformatic';

const otel = setupInMemoryOtel();
const instrumentation = new PlatformaticKafkaInstrumentation();
instrumentation.setTracerProvider(otel.provider);
const instances = channel('plt:kafka:instances');

const OPTIONS = Symbol('plt.kafka.base.options');
const BROKERS = Symbol('plt.kafka.base.bootstrapBrokers');
type Sent = { messages: Record<string, unknown>[]; [key: string | symbol]: unknown };

/** A producer as the library makes one: `send(options, callback?)`, its options behind a symbol. */
function fakeProducer(options: Record<string, unknown> = {}, fail?: Error) {
  const calls: Sent[] = [];
  const producer = {
    clientId: 'fake-client',
    [OPTIONS]: options,
    [BROKERS]: [{ host: '127.0.0.1', port: 9092 }],
    send(sent: Sent, callback?: (error: Error | null, result?: unknown) => void) {
      calls.push(sent);
      if (callback) {
        setImmediate(() => callback(fail ?? null, fail ? undefined : { offsets: [] }));
        return undefined;
      }
      return fail ? Promise.reject(fail) : Promise.resolve({ offsets: [] });
    },
  };
  instances.publish({ type: 'producer', instance: producer });
  return { producer, calls };
}

const headerText = (headers: unknown, name: string): unknown => {
  if (headers instanceof Map) {
    for (const [key, value] of headers) if (Buffer.from(key).toString() === name) return value;
    return undefined;
  }
  return (headers as Record<string, unknown>)[name];
};

describeOnSupportedNode('producer.send wrapper', () => {
  beforeEach(() => otel.exporter.reset());

  test('one send span per topic; each message a copy carrying its topic span, the caller objects untouched', async () => {
    const { producer, calls } = fakeProducer();
    const messages = deepFreeze([
      { topic: 'a', value: Buffer.from('1'), headers: new Map([[Buffer.from('user'), Buffer.from('u')]]) },
      { topic: 'b', value: Buffer.from('2') },
      { topic: 'a', value: Buffer.from('3'), headers: { plain: Buffer.from('p') } },
    ]);
    const options = deepFreeze({ messages, acks: 1 });
    await producer.send(options as never);
    const spans = otel.exporter.getFinishedSpans();
    expect(spans.map((span) => span.name).sort()).toEqual(['send a', 'send b']);
    const spanA = spans.find((span) => span.name === 'send a')!;
    expect(spanA.kind).toBe(SpanKind.PRODUCER);
    expect(spanA.attributes).toMatchObject({ 'messaging.batch.message_count': 2, 'messaging.client.id': 'fake-client', 'server.address': '127.0.0.1', 'server.port': 9092 });
    const [sent] = calls;
    expect(sent).not.toBe(options);
    expect(sent.acks).toBe(1);
    sent.messages.forEach((message, index) => {
      expect(message).not.toBe(messages[index]);
      const carried = headerText(message.headers, 'traceparent');
      // Default (no serializer): Buffer name and value, what the library writes as they are.
      expect(Buffer.isBuffer(carried)).toBe(true);
      expect(String(carried)).toMatch(TRACEPARENT_PATTERN);
      const span = spans.find((candidate) => candidate.name === `send ${message.topic}`)!;
      expect(String(carried)).toContain(span.spanContext().spanId);
    });
    // The caller's headers are copies: its Map still has one entry, its object no traceparent.
    expect((messages[0].headers as Map<unknown, unknown>).size).toBe(1);
    expect(sent.messages[0].headers).toBeInstanceOf(Map);
    expect('traceparent' in (messages[2].headers as object)).toBe(false);
    expect((sent.messages[2].headers as Record<string, unknown>).plain).toEqual(Buffer.from('p'));
    expect(sent.messages[1].headers).toBeInstanceOf(Map);
  });

  test('with serializers of the user, the context is written as strings', async () => {
    const { producer, calls } = fakeProducer({ serializers: { headerKey: String, headerValue: String } });
    await producer.send({ messages: [{ topic: 't', value: 'v', headers: new Map([['k', 'v']]) }] } as never);
    const headers = calls[0].messages[0].headers as Map<unknown, unknown>;
    expect(typeof headers.get('traceparent')).toBe('string');
  });

  test('a context the caller set wins, whatever its case or type; the message is passed as given', async () => {
    const { producer, calls } = fakeProducer();
    const own = { topic: 't', value: Buffer.from('v'), headers: new Map([[Buffer.from('TraceParent'), Buffer.from(VALID_TRACEPARENT)]]) };
    await producer.send({ messages: [own] } as never);
    expect(calls[0].messages[0]).toBe(own);
  });

  test('malformed calls and odd headers go through untouched; failures reach the caller and mark the span', async () => {
    const { producer, calls } = fakeProducer({}, new Error('broker says no'));
    await expect(producer.send(undefined as never)).rejects.toThrow('broker says no');
    expect(calls[0]).toBeUndefined();
    const odd = { topic: 't', value: Buffer.from('v'), headers: 'not headers' };
    await expect(producer.send({ messages: [odd] } as never)).rejects.toThrow('broker says no');
    expect(calls[1].messages[0]).toBe(odd);
    await new Promise<void>((resolve) =>
      producer.send({ messages: [{ topic: 'cb', value: Buffer.from('v') }] } as never, (error) => {
        expect(error?.message).toBe('broker says no');
        resolve();
      }),
    );
    const failed = otel.exporter.getFinishedSpans().filter((span) => span.status.code === SpanStatusCode.ERROR).map((span) => span.name);
    expect(failed.sort()).toEqual(['send cb', 'send t']);
    expect(otel.openSpans()).toHaveLength(0);
  });

  test('disabled: nothing is wrapped or injected', async () => {
    instrumentation.disable();
    try {
      const { producer, calls } = fakeProducer();
      const message = { topic: 't', value: Buffer.from('v') };
      await producer.send({ messages: [message] } as never);
      expect(calls[0].messages[0]).toBe(message);
      expect(otel.exporter.getFinishedSpans()).toHaveLength(0);
    } finally {
      instrumentation.enable();
    }
  });
});
