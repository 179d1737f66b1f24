import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** The shared in-memory SDK (exporter, tracer, captured diag logs), registered globally per test file. */
export { setupInMemoryOtel as setupOtel } from '@threadline/testing';

export const spanId = (span: ReadableSpan): string => span.spanContext().spanId;
export const traceId = (span: ReadableSpan): string => span.spanContext().traceId;
export const parentId = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;
/** An HrTime in epoch milliseconds. */
export const toMs = ([seconds, nanos]: [number, number]): number => seconds * 1e3 + nanos / 1e6;
export const traceparentOf = (span: ReadableSpan): string => `00-${traceId(span)}-${spanId(span)}-01`;

/** Spans ended by setImmediate (deferred consumer spans) are exported after one more turn. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
