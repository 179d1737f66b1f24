// amqplib transport path, fuzzed in process: the instrumentation patches amqplib's REAL
// lib/channel_model.js (as its own unit tests patch a stand-in), publish runs amqplib's real
// argument handling and frame encoder against a connection that only records the bytes, and
// deliveries go through amqplib's real consumer dispatch.
import { context, ROOT_CONTEXT, SpanKind, trace, type Context, type SpanContext } from '@opentelemetry/api';
import { AmqplibInstrumentation, type AmqplibInstrumentationConfig, type AmqplibMessage } from '@threadline/amqplib';
import { setupInMemoryOtel } from '@threadline/testing';
import fc from 'fast-check';
import {
  assertNoPollution,
  checkDelivery,
  consumerConfig,
  consumerConfigArb,
  effectivePolicy,
  assertValidOrAbsent,
  describe as show,
  hostileKey,
  hostileMap,
  hostileValue,
  mapWithContext,
  numRuns,
  outcomeOf,
  ownEntries,
  PROPAGATION_FIELDS,
  sameEntries,
  sameFailure,
  spanContextArb,
} from './hostile';
import { amqplibFile } from './internals';

const channelModel = amqplibFile('lib/channel_model.js');
const defs = amqplibFile('lib/defs.js');
const Args = amqplibFile('lib/api_args.js');

const { exporter, openSpans } = setupInMemoryOtel();

const instrumentation = new AmqplibInstrumentation({ enabled: false });
const [definition] = instrumentation.getModuleDefinitions();
definition.files.find((file) => file.name.endsWith('channel_model.js'))!.patch(channelModel);
const { Channel } = channelModel;
const originalPublish = Channel.prototype.publish.__original as (...args: unknown[]) => unknown;
if (typeof originalPublish !== 'function') throw new Error('amqplib channel_model.js was not patched');

/** What amqplib would write to the socket for one publish: method and header frames. */
let written: { properties: Record<string, unknown>; frames: Buffer } | undefined;
/** The last write (a function, so that TypeScript does not narrow it across calls). */
const lastWritten = () => written;
const connection = {
  sendMessage(ch: number, Method: unknown, fields: unknown, Properties: unknown, properties: Record<string, unknown>, content: unknown) {
    if (!Buffer.isBuffer(content)) throw new TypeError('content is not a buffer');
    const frames = Buffer.concat([defs.encodeMethod(Method, ch, fields), defs.encodeProperties(Properties, ch, content.length, properties)]);
    written = { properties, frames };
    return true;
  },
  sendMethod() {
    return true;
  },
};

function newChannel() {
  const channel = new Channel(connection);
  channel.ch = 1;
  // consume() registers its callback when the broker answers Basic.ConsumeOk: answer at once.
  channel._rpc = (_method: unknown, _fields: unknown, _expect: unknown, callback: (error: unknown, ok: unknown) => void) =>
    callback(null, { fields: { consumerTag: 'ctag' } });
  return channel;
}

/** Frames for a publish whose headers are `headers`, every other option read from `options`. */
function framesFor(exchange: unknown, routingKey: unknown, content: Buffer, options: unknown, headers: Record<string, unknown>): Buffer {
  const view = Object.create((options as object | null | undefined) ?? Object.prototype);
  Object.defineProperty(view, 'headers', { value: headers, enumerable: true, writable: true, configurable: true });
  const properties = Args.publish(exchange, routingKey, view);
  return Buffer.concat([defs.encodeMethod(defs.BasicPublish, 1, properties), defs.encodeProperties(defs.BasicProperties, 1, content.length, properties)]);
}

/** The header table as amqplib's encoder walks it (for-in: own and inherited enumerable keys). */
function headerTable(headers: unknown): Record<string, unknown> {
  const table: Record<string, unknown> = Object.create(null);
  if (typeof headers === 'object' && headers !== null) for (const key in headers) table[key] = (headers as Record<string, unknown>)[key];
  return table;
}

const optionsArb = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(undefined, null) },
  {
    weight: 8,
    arbitrary: fc.record(
      {
        headers: fc.oneof({ weight: 6, arbitrary: hostileMap() }, { weight: 1, arbitrary: fc.constantFrom(null, undefined, 'text', 7) }, { weight: 1, arbitrary: fc.array(fc.string()) }),
        messageId: fc.oneof(fc.string(), fc.integer()),
        correlationId: fc.string(),
        persistent: fc.boolean(),
        contentType: fc.string({ maxLength: 10 }),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.dictionary(hostileKey, hostileValue, { maxKeys: 4 }) },
);

const content = fc.oneof({ weight: 9, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) }, { weight: 1, arbitrary: fc.constantFrom('text', null) });
const parentArb = fc.option(spanContextArb);

function activeContext(parent: SpanContext | null): Context {
  return parent === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: false });
}

beforeEach(() => exporter.reset());
afterEach(() => assertNoPollution());

test('publish: same outcome as amqplib alone; user headers untouched; frames identical but for the added context', () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 12 }),
      fc.oneof(fc.string({ maxLength: 12 }), fc.constant(undefined)),
      content,
      optionsArb,
      parentArb,
      fc.constantFrom<AmqplibInstrumentationConfig['mode']>('spans', 'propagation-only'),
      (exchange, routingKey, body, options, parent, mode) => {
        instrumentation.setConfig({ enabled: false, mode });
        const channel = newChannel();
        const callerOptions = ownEntries(options);
        const callerHeaders = ownEntries((options as { headers?: unknown } | null | undefined)?.headers);
        written = undefined;
        const control = outcomeOf(() => originalPublish.call(channel, exchange, routingKey, body, options));
        const controlFrames = lastWritten()?.frames;
        written = undefined;
        const traced = outcomeOf(() => context.with(activeContext(parent), () => channel.publish(exchange, routingKey, body, options)));
        const where = { toString: () => `options=${show(options)}` };

        if (!sameEntries(callerOptions, ownEntries(options))) throw new Error(`caller's options changed: ${where}`);
        const headers = (options as { headers?: unknown } | null | undefined)?.headers;
        if (!sameEntries(callerHeaders, ownEntries(headers))) throw new Error(`caller's headers changed: ${where}`);
        if (control.threw) {
          if (!sameFailure(control, traced)) throw new Error(`amqplib threw ${control.error}; instrumented: ${show(traced)}; ${where}`);
          return;
        }
        if (traced.threw || !Object.is(traced.value, control.value)) throw new Error(`instrumented publish ${show(traced)} differs from ${show(control)}; ${where}`);
        const sent = headerTable(lastWritten()!.properties.headers);
        const user = headerTable(headers);
        for (const key of Object.keys(user)) {
          if (!Object.is(sent[key], user[key])) throw new Error(`header ${JSON.stringify(key)} altered; ${where}`);
        }
        const added = Object.keys(sent).filter((key) => !(key in user));
        if (added.some((key) => !PROPAGATION_FIELDS.has(key))) throw new Error(`added non-context headers ${added}; ${where}`);
        const expected = added.length === 0 ? controlFrames! : framesFor(exchange, routingKey, body as Buffer, options, { ...user, ...Object.fromEntries(added.map((key) => [key, sent[key]])) });
        if (!lastWritten()!.frames.equals(expected)) throw new Error(`frames differ beyond the added context (${added}); ${where}`);
        for (const span of exporter.getFinishedSpans()) assertValidOrAbsent(span.spanContext(), 'send span');
        exporter.reset();
      },
    ),
    { numRuns },
  );
});

let deliveryTag = 0;
const deliveredHeaders = fc.oneof(
  { weight: 5, arbitrary: hostileMap().map((headers) => ({ headers, carried: undefined as SpanContext | undefined })) },
  { weight: 4, arbitrary: mapWithContext().map(({ carrier, spanContext }) => ({ headers: carrier as unknown, carried: spanContext as SpanContext | undefined })) },
  { weight: 1, arbitrary: hostileValue.map((headers) => ({ headers, carried: undefined as SpanContext | undefined })) },
);
const isTrusted = (message: AmqplibMessage) => (message.properties?.headers as Record<string, unknown> | undefined)?.['x-trusted'] === 'yes';

test('consume: the handler gets the very message once; extract never throws or yields an invalid context; policy and baggage rules hold', () => {
  let parented = 0;
  fc.assert(
    fc.property(deliveredHeaders, consumerConfigArb, fc.boolean(), fc.boolean(), ({ headers, carried }, choice, trusted, noAck) => {
      instrumentation.setConfig({ enabled: false, ...consumerConfig(choice, isTrusted) });
      const markable = trusted && typeof headers === 'object' && headers !== null && Object.isExtensible(headers);
      if (markable) Object.defineProperty(headers, 'x-trusted', { value: 'yes', enumerable: true, configurable: true, writable: true });
      const channel = newChannel();
      const seen: Array<{ message: unknown; active: Context }> = [];
      const handlerResult = { ok: true };
      void channel.consume(
        'q',
        (message: unknown) => {
          seen.push({ message, active: context.active() });
          return handlerResult;
        },
        { noAck },
      );
      deliveryTag += 1;
      const message = {
        content: Buffer.from('body'),
        fields: { exchange: '', routingKey: 'q', deliveryTag, redelivered: false, consumerTag: 'ctag' },
        properties: { headers },
      };
      const dispatched = outcomeOf(() => channel.dispatchMessage(message.fields, message));
      const where = { toString: () => `headers=${show(headers)} config=${show(choice)}` };
      if (dispatched.threw || dispatched.value !== handlerResult) throw new Error(`dispatch ${show(dispatched)}; ${where}`);
      if (seen.length !== 1 || seen[0].message !== message) throw new Error(`handler saw ${seen.length} calls / another object; ${where}`);
      if (!noAck) channel.ack(message);
      const unsettled = openSpans().filter((span) => span.kind === SpanKind.CONSUMER).length;
      if (unsettled !== 0) throw new Error(`${unsettled} consumer spans left open after ack; ${where}`);
      const spans = exporter.getFinishedSpans();
      exporter.reset();
      const effective = effectivePolicy(choice, markable);
      checkDelivery({ active: seen[0].active, spans, effective, choice, carried, where });
      if (carried !== undefined && effective === 'parent') parented += 1;
    }),
    { numRuns },
  );
  expect(parented).toBeGreaterThan(numRuns / 20);
});
