import { context, diag, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { kafkaHeadersAdapter, MessagingSpanPolicy, type MessagingInstrumentationConfig } from '../src';
import { setupInMemoryOtel as setupOtel, VALID_TRACEPARENT } from '@threadline/testing';

const { exporter, tracer } = setupOtel();
let config: MessagingInstrumentationConfig<{ id: number; trusted?: boolean }> = {};
const policy = new MessagingSpanPolicy<{ id: number; trusted?: boolean }>({ system: 'kafka', getTracer: () => tracer, getConfig: () => config });

beforeEach(() => {
  exporter.reset();
  config = {};
});

function produce(destination = 'orders', headers: Record<string, unknown> = {}) {
  const scope = policy.startSend({ destination, messageCount: 1 });
  scope.inject(headers, kafkaHeadersAdapter);
  scope.end();
  return { scope, headers };
}

test('send then process: the consumer span is the child of the producer span', () => {
  const { scope, headers } = produce();
  const consumer = policy.startProcess({ destination: 'orders', carrier: headers, getter: kafkaHeadersAdapter, message: { id: 1 } });
  const seenInHandler = consumer.run(() => trace.getSpan(context.active()));
  consumer.end();
  const [send, process] = exporter.getFinishedSpans();
  expect(send.name).toBe('send orders');
  expect(send.kind).toBe(SpanKind.PRODUCER);
  expect(process.name).toBe('process orders');
  expect(process.kind).toBe(SpanKind.CONSUMER);
  expect(process.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
  expect(process.spanContext().traceId).toBe(send.spanContext().traceId);
  expect(seenInHandler).toBe(consumer.span);
  expect(process.attributes['messaging.system']).toBe('kafka');
  expect(process.attributes['messaging.destination.name']).toBe('orders');
  expect(process.attributes['messaging.operation.type']).toBe('process');
  expect(scope.span).toBeDefined();
});

test('a producer span is the child of the active span, and batch count is set above one', () => {
  const parent = tracer.startSpan('http');
  context.with(trace.setSpan(ROOT_CONTEXT, parent), () => policy.startSend({ destination: 't', messageCount: 3 }).end());
  parent.end();
  const send = exporter.getFinishedSpans().find((s) => s.name === 'send t')!;
  expect(send.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
  expect(send.attributes['messaging.batch.message_count']).toBe(3);
  policy.startSend({ destination: 'single', messageCount: 1 }).end();
  expect(exporter.getFinishedSpans().find((s) => s.name === 'send single')!.attributes['messaging.batch.message_count']).toBeUndefined();
});

test('a context already in the carrier is kept: the user wins', () => {
  const { headers } = produce('orders', { traceparent: VALID_TRACEPARENT });
  expect(headers.traceparent).toBe(VALID_TRACEPARENT);
});

test('useLinks: a new trace that links to the producer', () => {
  const { headers } = produce();
  config = { useLinks: true };
  const consumer = policy.startProcess({ destination: 'orders', carrier: headers, getter: kafkaHeadersAdapter });
  consumer.end();
  const [send, process] = exporter.getFinishedSpans();
  expect(process.spanContext().traceId).not.toBe(send.spanContext().traceId);
  expect(process.parentSpanContext).toBeUndefined();
  expect(process.links.map((l) => l.context.spanId)).toEqual([send.spanContext().spanId]);
});

test('incomingContext ignore: no parent, no link, no baggage', () => {
  const headers: Record<string, unknown> = {};
  const bag = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }));
  context.with(bag, () => produce('o', headers));
  config = { incomingContext: 'ignore' };
  const consumer = policy.startProcess({ destination: 'o', carrier: headers, getter: kafkaHeadersAdapter });
  expect(propagation.getBaggage(consumer.context)).toBeUndefined();
  consumer.end();
  const process = exporter.getFinishedSpans()[1];
  expect(process.parentSpanContext).toBeUndefined();
  expect(process.links).toHaveLength(0);
});

test('incomingContext as a function decides per message; a throwing function means ignore', () => {
  const { headers } = produce();
  config = { incomingContext: (m) => (m.trusted ? 'parent' : 'link') };
  policy.startProcess({ destination: 'orders', carrier: headers, getter: kafkaHeadersAdapter, message: { id: 1, trusted: true } }).end();
  policy.startProcess({ destination: 'orders', carrier: headers, getter: kafkaHeadersAdapter, message: { id: 2 } }).end();
  config = { incomingContext: () => { throw new Error('bad policy'); } };
  policy.startProcess({ destination: 'orders', carrier: headers, getter: kafkaHeadersAdapter, message: { id: 3 } }).end();
  const [send, trusted, untrusted, broken] = exporter.getFinishedSpans();
  expect(trusted.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
  expect(untrusted.parentSpanContext).toBeUndefined();
  expect(untrusted.links).toHaveLength(1);
  expect(broken.parentSpanContext).toBeUndefined();
  expect(broken.links).toHaveLength(0);
});

test('baggage is kept by default and dropped with propagateBaggage: false', () => {
  const headers: Record<string, unknown> = {};
  const bag = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }));
  context.with(bag, () => produce('o', headers));
  const kept = policy.startProcess({ destination: 'o', carrier: headers, getter: kafkaHeadersAdapter });
  expect(propagation.getBaggage(kept.context)?.getEntry('tenant')?.value).toBe('acme');
  config = { propagateBaggage: false };
  const dropped = policy.startProcess({ destination: 'o', carrier: headers, getter: kafkaHeadersAdapter });
  expect(propagation.getBaggage(dropped.context)).toBeUndefined();
});

test('a batch is one span with one link per message; parent first joins the first trace', () => {
  const carriers = [produce().headers, produce().headers, {}, { traceparent: 'garbage' }];
  const batch = policy.startBatch({ destination: 'orders', operation: 'process', carriers, getter: kafkaHeadersAdapter });
  batch.end();
  const spans = exporter.getFinishedSpans();
  const sends = spans.filter((s) => s.name === 'send orders');
  const span = spans.find((s) => s.name === 'process orders')!;
  expect(span.links.map((l) => l.context.spanId)).toEqual(sends.map((s) => s.spanContext().spanId));
  expect(span.parentSpanContext).toBeUndefined();
  expect(span.attributes['messaging.batch.message_count']).toBe(4);

  policy.startBatch({ destination: 'orders', operation: 'receive', carriers, getter: kafkaHeadersAdapter, parent: 'first' }).end();
  const receive = exporter.getFinishedSpans().find((s) => s.name === 'receive orders')!;
  expect(receive.kind).toBe(SpanKind.CLIENT);
  expect(receive.parentSpanContext?.spanId).toBe(sends[0].spanContext().spanId);
});

test('propagation-only: no spans, the context is still carried and activated', () => {
  config = { mode: 'propagation-only' };
  const parent = tracer.startSpan('http');
  const headers: Record<string, unknown> = {};
  context.with(trace.setSpan(ROOT_CONTEXT, parent), () => {
    const scope = policy.startSend({ destination: 'o' });
    expect(scope.span).toBeUndefined();
    scope.inject(headers, kafkaHeadersAdapter);
    scope.end();
  });
  parent.end();
  const consumer = policy.startProcess({ destination: 'o', carrier: headers, getter: kafkaHeadersAdapter });
  expect(consumer.span).toBeUndefined();
  expect(trace.getSpanContext(consumer.context)?.spanId).toBe(parent.spanContext().spanId);
  consumer.end();
  expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['http']);
});

test('a consumer never chains onto the ambient context (poll loops)', () => {
  const loop = tracer.startSpan('previous iteration');
  context.with(trace.setSpan(ROOT_CONTEXT, loop), () => {
    policy.startProcess({ destination: 'q', carrier: {}, getter: kafkaHeadersAdapter }).end();
  });
  loop.end();
  const process = exporter.getFinishedSpans().find((s) => s.name === 'process q')!;
  expect(process.parentSpanContext).toBeUndefined();
  expect(process.spanContext().traceId).not.toBe(loop.spanContext().traceId);
});

test('hooks run, and a throwing hook is contained and logged', () => {
  const errors: unknown[] = [];
  diag.setLogger({ error: (...a: unknown[]) => errors.push(a), warn: () => {}, info: () => {}, debug: () => {}, verbose: () => {} });
  const seen: string[] = [];
  config = {
    publishHook: (span, info) => { span.setAttribute('hooked', true); seen.push(info.destination); },
    consumeHook: () => { throw new Error('user bug'); },
  };
  const { headers } = produce('hooked');
  expect(() => policy.startProcess({ destination: 'hooked', carrier: headers, getter: kafkaHeadersAdapter }).end()).not.toThrow();
  diag.disable();
  expect(seen).toEqual(['hooked']);
  expect(exporter.getFinishedSpans()[0].attributes.hooked).toBe(true);
  expect(errors).toHaveLength(1);
});

test('end is idempotent, records errors, and endWith follows a promise', async () => {
  const scope = policy.startSend({ destination: 'e' });
  scope.end(new TypeError('broken'));
  scope.end();
  const failing = policy.startSend({ destination: 'p' });
  await expect(failing.endWith(Promise.reject(new RangeError('nope')))).rejects.toThrow('nope');
  await new Promise((r) => setImmediate(r));
  const [e, p] = exporter.getFinishedSpans();
  expect(exporter.getFinishedSpans()).toHaveLength(2);
  expect(e.status.code).toBe(SpanStatusCode.ERROR);
  expect(e.attributes['error.type']).toBe('TypeError');
  expect(p.attributes['error.type']).toBe('RangeError');
});

test('endWith hands back the caller\'s own promise and ends the span failed when it rejects', async () => {
  const scope = policy.startSend({ destination: 'lost' });
  const failure = new Error('nobody listens');
  const original = Promise.reject(failure);
  const returned = scope.endWith(original);
  // Decided in #17: the caller gets its own promise back (unhandled-rejection cases: run.test.ts).
  expect(returned).toBe(original);
  await expect(returned).rejects.toBe(failure);
  await new Promise((resolve) => setImmediate(resolve));
  expect(exporter.getFinishedSpans().find((s) => s.name === 'send lost')?.attributes['error.type']).toBe('Error');
});

test('propagation-only: endWith hands back the very same promise (nothing waits on it)', async () => {
  config = { mode: 'propagation-only' };
  const scope = policy.startSend({ destination: 'quiet' });
  const original = Promise.resolve('value');
  expect(scope.endWith(original)).toBe(original);
  expect(scope.isEnded).toBe(true);
  await expect(original).resolves.toBe('value');
});

test('a pull span can start when the call started, before the messages arrived', () => {
  const startTime = Date.now() - 250;
  policy.startBatch({ destination: 'pulled', operation: 'receive', carriers: [{}, {}], getter: kafkaHeadersAdapter, startTime }).end();
  const span = exporter.getFinishedSpans().find((s) => s.name === 'receive pulled')!;
  expect(span.duration[0] * 1000 + span.duration[1] / 1e6).toBeGreaterThanOrEqual(240);
});

test('destinationName sets messaging.destination.name apart from the span name (send, process and batch)', () => {
  policy.startSend({ destination: 'orders', destinationName: 'orders:eu.created' }).end();
  policy.startProcess({ destination: 'orders-q', destinationName: 'orders:eu.created:orders-q', carrier: {}, getter: kafkaHeadersAdapter }).end();
  policy.startBatch({ destination: 'orders-q', destinationName: 'orders:eu:orders-q', operation: 'receive', carriers: [], getter: kafkaHeadersAdapter }).end();
  policy.startSend({ destination: 'plain' }).end();
  const byName = Object.fromEntries(exporter.getFinishedSpans().map((span) => [span.name, span.attributes['messaging.destination.name']]));
  expect(byName).toEqual({
    'send orders': 'orders:eu.created',
    'process orders-q': 'orders:eu.created:orders-q',
    'receive orders-q': 'orders:eu:orders-q',
    'send plain': 'plain',
  });
});
