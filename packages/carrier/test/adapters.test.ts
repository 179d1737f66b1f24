import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import {
  amqpHeadersAdapter,
  carriedSpanContext,
  documentFieldAdapter,
  envAdapter,
  envVarName,
  extractContext,
  injectContext,
  injectCurrentContext,
  k8sEnvVarAdapter,
  kafkaHeadersAdapter,
  recordAdapter,
  sqsAttributesAdapter,
  SQS_MAX_MESSAGE_ATTRIBUTES,
  withExtractedContext,
  type CarrierAdapter,
} from '../src';
import { setupInMemoryOtel as setupOtel, VALID_TRACE_ID, VALID_TRACEPARENT } from '@threadline/testing';

const { tracer } = setupOtel();

function roundTrip<C>(carrier: C, adapter: CarrierAdapter<C>) {
  const span = tracer.startSpan('producer');
  const ctx = trace.setSpan(ROOT_CONTEXT, span);
  expect(injectContext(ctx, carrier, adapter)).toBe('injected');
  span.end();
  expect(carriedSpanContext(carrier, adapter)?.spanId).toBe(span.spanContext().spanId);
  expect(carriedSpanContext(carrier, adapter)?.traceId).toBe(span.spanContext().traceId);
}

describe('adapters round-trip the active span', () => {
  test('record', () => roundTrip<Record<string, unknown>>({}, recordAdapter));
  test('kafka headers', () => roundTrip<Record<string, unknown>>({}, kafkaHeadersAdapter));
  test('amqp headers', () => roundTrip<Record<string, unknown>>({}, amqpHeadersAdapter));
  test('sqs attributes', () => roundTrip({}, sqsAttributesAdapter));
  test('document field', () => roundTrip<Record<string, unknown>>({ payload: 1 }, documentFieldAdapter('_otel')));
  test('env map', () => roundTrip<Record<string, string | undefined>>({}, envAdapter));
  test('k8s env array', () => roundTrip([], k8sEnvVarAdapter));
});

describe('header adapters (kafka, amqp)', () => {
  test.each([
    ['string', VALID_TRACEPARENT],
    ['Buffer', Buffer.from(VALID_TRACEPARENT)],
    ['array of Buffers', [Buffer.from(VALID_TRACEPARENT), Buffer.from('ignored')]],
    ['array of strings', [VALID_TRACEPARENT]],
  ])('reads a %s value', (_label, value) => {
    expect(carriedSpanContext({ traceparent: value }, kafkaHeadersAdapter)?.traceId).toBe(VALID_TRACE_ID);
  });

  test.each([['number', 42], ['null', null], ['undefined', undefined], ['object', { a: 1 }], ['boolean', true]])(
    'ignores a %s value without throwing',
    (_label, value) => {
      expect(kafkaHeadersAdapter.get({ traceparent: value }, 'traceparent')).toBeUndefined();
      expect(carriedSpanContext({ traceparent: value }, kafkaHeadersAdapter)).toBeUndefined();
    },
  );

  test('matches keys case-insensitively, exact key first', () => {
    expect(carriedSpanContext({ TraceParent: VALID_TRACEPARENT }, kafkaHeadersAdapter)?.traceId).toBe(VALID_TRACE_ID);
    expect(kafkaHeadersAdapter.get({ TRACEPARENT: 'upper', traceparent: 'exact' }, 'traceparent')).toBe('exact');
  });

  test('null or missing headers read as no context', () => {
    expect(carriedSpanContext(null, kafkaHeadersAdapter)).toBeUndefined();
    expect(carriedSpanContext(undefined, kafkaHeadersAdapter)).toBeUndefined();
    expect(kafkaHeadersAdapter.keys(null)).toEqual([]);
  });

  test('a malformed traceparent gives no context', () => {
    for (const garbage of ['garbage', '00-00000000000000000000000000000000-b7ad6b7169203331-01', 'ff-' + VALID_TRACEPARENT.slice(3), '']) {
      expect(carriedSpanContext({ traceparent: garbage }, kafkaHeadersAdapter)).toBeUndefined();
    }
  });

  test('an inherited __proto__ key is not read as a header', () => {
    expect(recordAdapter.get({}, '__proto__')).toBeUndefined();
    expect(recordAdapter.get({}, 'constructor')).toBeUndefined();
  });
});

describe('W3C limits', () => {
  test('tracestate over 512 characters is cut to 512; the traceparent still joins', () => {
    const members = Array.from({ length: 60 }, (_, i) => `vendor${i}=${'x'.repeat(10)}`).join(',');
    expect(members.length).toBeGreaterThan(512);
    const spanContext = carriedSpanContext({ traceparent: VALID_TRACEPARENT, tracestate: members }, recordAdapter);
    expect(spanContext?.traceId).toBe(VALID_TRACE_ID);
    expect(spanContext?.traceState?.serialize().length ?? 0).toBeLessThanOrEqual(512);
  });

  test('baggage over 8192 bytes or 180 entries is cut to the limits', () => {
    const many = Array.from({ length: 400 }, (_, i) => `k${i}=${'v'.repeat(40)}`).join(',');
    expect(many.length).toBeGreaterThan(8192);
    const ctx = extractContext({ traceparent: VALID_TRACEPARENT, baggage: many });
    const entries = propagation.getBaggage(ctx)?.getAllEntries() ?? [];
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.length).toBeLessThanOrEqual(180);
    const size = entries.map(([k, v]) => `${k}=${v.value}`).join(',').length;
    expect(size).toBeLessThanOrEqual(8192);
  });
});

describe('sqs attributes adapter', () => {
  test('ignores Binary and Number attributes named like a propagation field', () => {
    expect(carriedSpanContext({ traceparent: { DataType: 'Binary', BinaryValue: Buffer.from(VALID_TRACEPARENT) } }, sqsAttributesAdapter)).toBeUndefined();
    expect(carriedSpanContext({ traceparent: { DataType: 'Number', StringValue: '1' } }, sqsAttributesAdapter)).toBeUndefined();
  });

  test('a full budget gets no context, the carrier is untouched, a warning is logged', () => {
    const full: Record<string, { DataType: string; StringValue: string }> = {};
    for (let i = 0; i < SQS_MAX_MESSAGE_ATTRIBUTES; i++) full[`a${i}`] = { DataType: 'String', StringValue: String(i) };
    const before = JSON.stringify(full);
    const span = tracer.startSpan('p');
    const outcome = injectContext(trace.setSpan(ROOT_CONTEXT, span), full, sqsAttributesAdapter, { maxEntries: SQS_MAX_MESSAGE_ATTRIBUTES });
    span.end();
    expect(outcome).toBe('no-room');
    expect(JSON.stringify(full)).toBe(before);
  });

  test('nine attributes leave room for traceparent only when nothing else is needed', () => {
    const nine: Record<string, { DataType: string; StringValue: string }> = {};
    for (let i = 0; i < 9; i++) nine[`a${i}`] = { DataType: 'String', StringValue: String(i) };
    const span = tracer.startSpan('p');
    // No tracestate and no baggage: only traceparent is written, which fits.
    expect(injectContext(trace.setSpan(ROOT_CONTEXT, span), nine, sqsAttributesAdapter, { maxEntries: 10 })).toBe('injected');
    span.end();
    expect(Object.keys(nine)).toHaveLength(10);
  });
});

describe('document field adapter', () => {
  test.each([['string', 'x'], ['number', 3], ['array', ['a']], ['null', null]])('a %s context field is ignored and kept', (_l, value) => {
    const doc: Record<string, unknown> = { _otel: value };
    expect(carriedSpanContext(doc, documentFieldAdapter())).toBeUndefined();
    const span = tracer.startSpan('p');
    injectContext(trace.setSpan(ROOT_CONTEXT, span), doc, documentFieldAdapter(), { keepExisting: false });
    span.end();
    expect(doc._otel).toEqual(value);
  });
});

describe('env adapters', () => {
  test('names are normalised per the env-carrier spec', () => {
    expect(envVarName('traceparent')).toBe('TRACEPARENT');
    expect(envVarName('x-b3-traceid')).toBe('X_B3_TRACEID');
    expect(envVarName('uber-trace-id')).toBe('UBER_TRACE_ID');
  });

  test('a lowercase traceparent variable is ignored', () => {
    expect(carriedSpanContext({ traceparent: VALID_TRACEPARENT }, envAdapter)).toBeUndefined();
    expect(carriedSpanContext({ TRACEPARENT: VALID_TRACEPARENT }, envAdapter)?.traceId).toBe(VALID_TRACE_ID);
  });

  test('k8s env never replaces a variable the user set, with value or valueFrom', () => {
    const env = [
      { name: 'TRACEPARENT', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'OTHER', value: '1' },
    ];
    const span = tracer.startSpan('p');
    injectContext(trace.setSpan(ROOT_CONTEXT, span), env, k8sEnvVarAdapter, { keepExisting: false });
    span.end();
    expect(env.filter((e) => e.name === 'TRACEPARENT')).toHaveLength(1);
    expect(env[0]).toEqual({ name: 'TRACEPARENT', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
  });

  test('null or missing env arrays do not throw', () => {
    expect(carriedSpanContext(null, k8sEnvVarAdapter)).toBeUndefined();
    expect(() => k8sEnvVarAdapter.set(null, 'traceparent', 'x')).not.toThrow();
  });
});

describe('frozen carriers and throwing carriers', () => {
  test('inject into a frozen carrier never throws and reports failure', () => {
    const span = tracer.startSpan('p');
    const frozen = Object.freeze({ a: '1' });
    expect(injectContext(trace.setSpan(ROOT_CONTEXT, span), frozen, recordAdapter)).toBe('failed');
    span.end();
    expect(frozen).toEqual({ a: '1' });
  });

  test('a carrier whose getter throws gives the base context', () => {
    const hostile = new Proxy({}, { get() { throw new Error('boom'); }, ownKeys() { throw new Error('boom'); } });
    expect(() => extractContext(hostile)).not.toThrow();
    expect(trace.getSpanContext(extractContext(hostile))).toBeUndefined();
  });
});

describe('manual helpers', () => {
  test('injectCurrentContext returns the carrier holding the active span', () => {
    const span = tracer.startSpan('p');
    const carrier = context.with(trace.setSpan(ROOT_CONTEXT, span), () => injectCurrentContext({} as Record<string, string>));
    span.end();
    expect(carrier.traceparent).toContain(span.spanContext().spanId);
  });

  test('withExtractedContext runs the function in the carried trace', () => {
    const traceId = withExtractedContext({ traceparent: VALID_TRACEPARENT }, () => trace.getSpanContext(context.active())?.traceId);
    expect(traceId).toBe(VALID_TRACE_ID);
  });

  test('without a carried context the active context stays', () => {
    const span = tracer.startSpan('outer');
    const inner = context.with(trace.setSpan(ROOT_CONTEXT, span), () => trace.getSpan(extractContext({})));
    span.end();
    expect(inner).toBe(span);
  });
});
