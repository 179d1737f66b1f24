import { propagation, ROOT_CONTEXT, trace, TraceFlags, type TextMapPropagator } from '@opentelemetry/api';
import { W3CBaggagePropagator, W3CTraceContextPropagator, CompositePropagator } from '@opentelemetry/core';
import {
  copyForInjection,
  injectContext,
  kafkaHeadersAdapter,
  MessagingScope,
  MessagingSpanPolicy,
  recordAdapter,
  sqsAttributesAdapter,
  type SqsMessageAttributes,
} from '../src';
import { setupInMemoryOtel as setupOtel, VALID_TRACE_ID } from '@threadline/testing';

const { tracer } = setupOtel();
const policy = new MessagingSpanPolicy({ system: 'kafka', getTracer: () => tracer, getConfig: () => ({}) });

afterEach(() => {
  propagation.disable();
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
});

describe('copyForInjection', () => {
  test('copies own keys and enumerable symbols; a __proto__ key stays data', () => {
    const symbol = Symbol('s');
    const source = JSON.parse('{"a":"1","__proto__":"x"}') as Record<string | symbol, unknown>;
    source[symbol] = 'sym';
    Object.defineProperty(source, 'hidden', { value: 'h', enumerable: false });
    const copy = copyForInjection(source);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['a', '__proto__']);
    expect(Object.getOwnPropertyDescriptor(copy, '__proto__')?.value).toBe('x');
    expect(copy[symbol]).toBe('sym');
    expect('hidden' in copy).toBe(false);
    copy.traceparent = 'added';
    expect(source.traceparent).toBeUndefined();
  });

  test('with inherited, takes the keys a for-in loop sees (amqplib encodes those)', () => {
    const source = Object.create({ inheritedHeader: 'p' }) as Record<string, unknown>;
    source.own = 'o';
    expect(copyForInjection(source)).toEqual({ own: 'o' });
    expect(copyForInjection(source, true)).toEqual({ own: 'o', inheritedHeader: 'p' });
  });

  test('null and undefined give an empty object', () => {
    expect(copyForInjection(null)).toEqual({});
    expect(copyForInjection(undefined)).toEqual({});
  });
});

describe('a scope injects one serialisation into many carriers', () => {
  test('every carrier of a batch gets exactly what injectContext writes', () => {
    const scope = policy.startSend({ destination: 'orders', messageCount: 3 });
    const carriers = [{}, { app: 'x' }, { other: Buffer.from('y') }] as Record<string, unknown>[];
    for (const carrier of carriers) expect(scope.inject(carrier, kafkaHeadersAdapter)).toBe('injected');
    const expected: Record<string, unknown> = {};
    injectContext(scope.context, expected, recordAdapter);
    expect(expected.traceparent).toMatch(new RegExp(`^00-[0-9a-f]{32}-${scope.span!.spanContext().spanId}-01$`));
    for (const carrier of carriers) expect(carrier.traceparent).toBe(expected.traceparent);
    scope.end();
  });

  test('the propagator runs once per scope, not once per carrier', () => {
    let injects = 0;
    const counting: TextMapPropagator = {
      inject(ctx, carrier, setter) {
        injects++;
        new W3CTraceContextPropagator().inject(ctx, carrier, setter);
      },
      extract: (ctx) => ctx,
      fields: () => ['traceparent'],
    };
    propagation.disable();
    propagation.setGlobalPropagator(counting);
    const scope = policy.startSend({ destination: 'orders', messageCount: 100 });
    for (let i = 0; i < 100; i++) scope.inject({}, kafkaHeadersAdapter);
    scope.end();
    expect(injects).toBe(1);
  });

  test('a carrier that already holds context keeps it, per carrier', () => {
    const scope = policy.startSend({ destination: 'orders', messageCount: 2 });
    const theirs = { TraceParent: 'user-set' };
    const ours: Record<string, unknown> = {};
    expect(scope.inject(theirs, kafkaHeadersAdapter)).toBe('kept-existing');
    expect(scope.inject(ours, kafkaHeadersAdapter)).toBe('injected');
    expect(theirs).toEqual({ TraceParent: 'user-set' });
    expect(typeof ours.traceparent).toBe('string');
    scope.end();
  });

  test('the SQS budget is checked per carrier with the shared serialisation', () => {
    const withState = trace.setSpanContext(ROOT_CONTEXT, { traceId: VALID_TRACE_ID, spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED });
    const ctx = propagation.setBaggage(withState, propagation.createBaggage({ tenant: { value: 'acme' } }));
    const scope = new MessagingScope(undefined, ctx);
    const roomy: SqsMessageAttributes = {};
    const crowded: SqsMessageAttributes = {};
    for (let i = 0; i < 9; i++) crowded[`a${i}`] = { DataType: 'String', StringValue: String(i) };
    expect(scope.inject(roomy, sqsAttributesAdapter, { maxEntries: 10 })).toBe('injected');
    expect(Object.keys(roomy).sort()).toEqual(['baggage', 'traceparent']);
    expect(scope.inject(crowded, sqsAttributesAdapter, { maxEntries: 10 })).toBe('no-room');
    expect(Object.keys(crowded)).toHaveLength(9);
    expect(scope.inject(crowded, sqsAttributesAdapter, { maxEntries: 10, budgetPolicy: 'traceparent-only' })).toBe('injected');
    expect(crowded.traceparent?.StringValue).toContain(VALID_TRACE_ID);
    expect(crowded.baggage).toBeUndefined();
    scope.end();
  });

  test('a propagator that throws leaves the carrier untouched and reports failed', () => {
    propagation.disable();
    propagation.setGlobalPropagator({
      inject(_ctx, carrier, setter) {
        setter.set(carrier, 'traceparent', 'half');
        throw new Error('broken propagator');
      },
      extract: (ctx) => ctx,
      fields: () => ['traceparent'],
    });
    const scope = policy.startSend({ destination: 'orders' });
    const carrier: Record<string, unknown> = { app: 'x' };
    expect(scope.inject(carrier, kafkaHeadersAdapter)).toBe('failed');
    expect(carrier).toEqual({ app: 'x' });
    scope.end();
  });
});
