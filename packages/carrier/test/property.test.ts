import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import fc from 'fast-check';
import {
  amqpHeadersAdapter,
  carriedSpanContext,
  documentFieldAdapter,
  envAdapter,
  extractContextFrom,
  injectContext,
  k8sEnvVarAdapter,
  kafkaHeadersAdapter,
  recordAdapter,
  sqsAttributesAdapter,
  type CarrierAdapter,
} from '../src';
import { setupInMemoryOtel as setupOtel } from '@threadline/testing';

setupOtel();
// 5,000 cases per property in CI; `pnpm fuzz` raises it.
const numRuns = Number(process.env.FUZZ_RUNS ?? 5000);

const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const spanContextArb = fc
  .record({ traceId: hex(32), spanId: hex(16), sampled: fc.boolean() })
  .filter(({ traceId, spanId }) => !/^0+$/.test(traceId) && !/^0+$/.test(spanId))
  .map(({ traceId, spanId, sampled }) => ({ traceId, spanId, traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE }));

const hostileKey = fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'prototype', 'traceparent', 'TRACEPARENT', 'tracestate', 'baggage'));
const hostileValue = fc.oneof(
  fc.string(),
  fc.string({ minLength: 1000, maxLength: 20000 }),
  fc.uint8Array().map((bytes) => Buffer.from(bytes)),
  fc.integer(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.oneof(fc.string(), fc.uint8Array().map((b) => Buffer.from(b)))),
  fc.object(),
);
const hostileMap = fc.dictionary(hostileKey, hostileValue, { maxKeys: 12 });

const adapters: Array<[string, CarrierAdapter<any>, () => any]> = [
  ['record', recordAdapter, () => ({})],
  ['kafka headers', kafkaHeadersAdapter, () => ({})],
  ['amqp headers', amqpHeadersAdapter, () => ({})],
  ['sqs attributes', sqsAttributesAdapter, () => ({})],
  ['document field', documentFieldAdapter('_otel'), () => ({ body: 'x' })],
  ['env map', envAdapter, () => ({})],
  ['k8s env array', k8sEnvVarAdapter, () => []],
];

describe.each(adapters)('%s adapter properties', (_name, adapter, empty) => {
  test('inject then extract returns the same span context', () => {
    fc.assert(
      fc.property(spanContextArb, (spanContext) => {
        const carrier = empty();
        injectContext(trace.setSpanContext(ROOT_CONTEXT, spanContext), carrier, adapter);
        const back = carriedSpanContext(carrier, adapter);
        return back?.traceId === spanContext.traceId && back.spanId === spanContext.spanId && back.traceFlags === spanContext.traceFlags;
      }),
      { numRuns },
    );
  });

  test('extract from arbitrary input never throws and never yields an invalid span context', () => {
    const carrierArb = fc.oneof(hostileMap, fc.array(fc.record({ name: hostileKey, value: hostileValue })), hostileValue);
    fc.assert(
      fc.property(carrierArb, (carrier) => {
        const ctx = extractContextFrom(ROOT_CONTEXT, carrier, adapter);
        const spanContext = trace.getSpanContext(ctx);
        return spanContext === undefined || trace.isSpanContextValid(spanContext);
      }),
      { numRuns },
    );
  });
});

describe.each(adapters.filter(([name]) => name !== 'k8s env array' && name !== 'document field'))('%s adapter: inject keeps user keys', (_name, adapter) => {
  test('inject never changes a key the user set and pollutes no prototype', () => {
    fc.assert(
      fc.property(hostileMap, spanContextArb, (userMap, spanContext) => {
        const carrier: Record<string, unknown> = { ...userMap };
        const before = new Map(Object.keys(carrier).map((key) => [key, carrier[key]]));
        injectContext(trace.setSpanContext(ROOT_CONTEXT, spanContext), carrier, adapter);
        for (const [key, value] of before) if (carrier[key] !== value) return false;
        return ({} as Record<string, unknown>).traceparent === undefined && Object.getPrototypeOf(carrier) === Object.prototype;
      }),
      { numRuns },
    );
  });
});
