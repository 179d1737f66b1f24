import { diag, DiagLogLevel, propagation, ROOT_CONTEXT, trace, TraceFlags, type DiagLogger } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { carriedSpanContext, injectContext, sqsAttributesAdapter, type SqsMessageAttributes } from '../src';
import { setupInMemoryOtel as setupOtel, VALID_TRACE_ID } from '@threadline/testing';

setupOtel();

const warnings: string[] = [];
const logger: DiagLogger = {
  error: () => {},
  // A component logger passes its namespace first, then the message.
  warn: (...args: unknown[]) => warnings.push(args.map(String).join(' ')),
  info: () => {},
  debug: () => {},
  verbose: () => {},
};
diag.setLogger(logger, DiagLogLevel.WARN);

/** A context with tracestate and baggage: three fields (traceparent, tracestate, baggage). */
function fullContext() {
  const spanContext = {
    traceId: VALID_TRACE_ID,
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED,
    traceState: new TraceState('vendor=value'),
  };
  const withSpan = trace.setSpanContext(ROOT_CONTEXT, spanContext);
  return propagation.setBaggage(withSpan, propagation.createBaggage({ tenant: { value: 'acme' } }));
}

function attributes(count: number): SqsMessageAttributes {
  const carrier: SqsMessageAttributes = {};
  for (let i = 0; i < count; i++) carrier[`a${i}`] = { DataType: 'String', StringValue: String(i) };
  return carrier;
}

beforeEach(() => {
  warnings.length = 0;
});

describe('injectContext budgetPolicy', () => {
  test('all-or-none (default): eight attributes + three fields do not fit, nothing is injected', () => {
    const carrier = attributes(8);
    expect(injectContext(fullContext(), carrier, sqsAttributesAdapter, { maxEntries: 10 })).toBe('no-room');
    expect(Object.keys(carrier)).toHaveLength(8);
    expect(warnings.join('\n')).toMatch(/none is injected/);
  });

  test('traceparent-only: the trace context alone is injected when it fits, with a warning', () => {
    const carrier = attributes(8);
    const outcome = injectContext(fullContext(), carrier, sqsAttributesAdapter, { maxEntries: 10, budgetPolicy: 'traceparent-only' });
    expect(outcome).toBe('injected');
    expect(Object.keys(carrier).sort()).toEqual([...Object.keys(attributes(8)), 'traceparent'].sort());
    expect(carriedSpanContext(carrier, sqsAttributesAdapter)?.traceId).toBe(VALID_TRACE_ID);
    expect(warnings.join('\n')).toMatch(/only the trace context is injected/);
  });

  test('traceparent-only: with no slot left at all, nothing is injected', () => {
    const carrier = attributes(10);
    const outcome = injectContext(fullContext(), carrier, sqsAttributesAdapter, { maxEntries: 10, budgetPolicy: 'traceparent-only' });
    expect(outcome).toBe('no-room');
    expect(Object.keys(carrier)).toHaveLength(10);
    expect(warnings.join('\n')).toMatch(/none is injected/);
  });

  test('traceparent-only changes nothing when every field fits', () => {
    const carrier = attributes(7);
    expect(injectContext(fullContext(), carrier, sqsAttributesAdapter, { maxEntries: 10, budgetPolicy: 'traceparent-only' })).toBe('injected');
    expect(Object.keys(carrier)).toEqual(expect.arrayContaining(['traceparent', 'tracestate', 'baggage']));
    expect(warnings).toEqual([]);
  });
});
