import { createTraceState, propagation, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import fc from 'fast-check';
import { pipelineOrigin, recordAdapter, withPipelineOrigin } from '../src';
import { originFromTraceStateHeader, traceStateWithOrigin } from '../src/metrics';
import { PreparedContext } from '../src/propagation';
import { setupInMemoryOtel as setupOtel } from '@threadline/testing';

setupOtel();
const numRuns = Number(process.env.FUZZ_RUNS ?? 5000);

const spanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };
const now = 1_800_000_000_000;

// Members around threadline's: valid and invalid keys and values, spaces and tabs, look-alike keys.
const key = fc.oneof(fc.constantFrom('threadline', 'xthreadline', 'threadline@x', 'dd', 'rojo', 'congo', 'a', 'Threadline', ' threadline', 'threadline '), fc.stringMatching(/^[a-z][a-z0-9_*/-]{0,20}$/));
const value = fc.oneof(
  fc.constantFrom(`o:${now.toString(36)}`, `o:${(now - 5000).toString(36)}`, 'o:', 'o:ZZ', 'o:-1', 'x', '', ' o:abc ', 'o:abc def', 'o:zzzzzzzzzzzz', 'o:1=2'),
  fc.string({ maxLength: 30 }),
  fc.string({ minLength: 200, maxLength: 300 }),
);
const spacing = fc.constantFrom('', ' ', '\t', '  ');
const member = fc.tuple(spacing, key, value, spacing).map(([before, k, v, after]) => `${before}${k}=${v}${after}`);
const header = fc.oneof(fc.array(member, { maxLength: 8 }), fc.array(member, { minLength: 30, maxLength: 40 })).map((members) => members.join(','));

const extracted = (raw: string) => propagation.extract(ROOT_CONTEXT, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: raw }, recordAdapter);

test('the header read gives what the full TraceState parse gives, for any tracestate', () => {
  fc.assert(
    fc.property(header, (raw) => {
      const ctx = extracted(raw);
      expect(pipelineOrigin(ctx, raw)).toEqual(pipelineOrigin(ctx));
      expect(pipelineOrigin(ctx, [raw])).toEqual(pipelineOrigin(ctx));
    }),
    { numRuns },
  );
});

test('the header read decides the plain cases itself and leaves the rest to the full parse', () => {
  const origin = `o:${now.toString(36)}`;
  expect(originFromTraceStateHeader(`rojo=00f067aa0ba902b7,threadline=${origin}`)).toBe(now);
  expect(originFromTraceStateHeader(`threadline=${origin} , congo=t61rcWkgMzE`)).toBe(now);
  expect(originFromTraceStateHeader('rojo=00f067aa0ba902b7')).toBeUndefined();
  expect(originFromTraceStateHeader(`xthreadline=${origin}`)).toBeUndefined();
  // Duplicates, a malformed value, too long: not decided here.
  expect(typeof originFromTraceStateHeader(`threadline=${origin},threadline=o:1`)).toBe('symbol');
  expect(typeof originFromTraceStateHeader('threadline=o:ZZ')).toBe('symbol');
  expect(typeof originFromTraceStateHeader(`threadline=${origin},a=${'x'.repeat(600)}`)).toBe('symbol');
});

test('the origin added to a serialized tracestate is what injecting withPipelineOrigin(ctx) writes', () => {
  fc.assert(
    fc.property(header, fc.integer({ min: now - 1e9, max: now }), (raw, nowMs) => {
      const traceState = createTraceState(raw);
      const ctx = trace.setSpanContext(ROOT_CONTEXT, { ...spanContext, traceState });
      const viaContext: Record<string, string> = {};
      propagation.inject(withPipelineOrigin(ctx, nowMs), viaContext, recordAdapter);
      const plain: Record<string, string> = {};
      propagation.inject(ctx, plain, recordAdapter);
      expect(traceStateWithOrigin(plain.tracestate ?? '', nowMs)).toBe(viaContext.tracestate ?? '');
    }),
    { numRuns },
  );
});

test('a prepared context with an origin writes it into tracestate only where W3C trace context is written', () => {
  const ctx = trace.setSpanContext(ROOT_CONTEXT, { ...spanContext, traceState: createTraceState('rojo=00f067aa0ba902b7') });
  const fields = Object.fromEntries(new PreparedContext(ctx, now).fields());
  expect(fields.tracestate).toBe(`threadline=o:${now.toString(36)},rojo=00f067aa0ba902b7`);
  expect(Object.fromEntries(new PreparedContext(ctx).fields()).tracestate).toBe('rojo=00f067aa0ba902b7');
  // No valid span context: no traceparent, and no tracestate made up for it.
  expect(Object.fromEntries(new PreparedContext(ROOT_CONTEXT, now).fields()).tracestate).toBeUndefined();
});
