import { context, diag, DiagLogLevel, propagation, trace, type DiagLogger, type TextMapPropagator } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type Span, type SpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface DiagRecord {
  level: 'error' | 'warn' | 'info' | 'debug' | 'verbose';
  message: string;
}

/**
 * A real SDK with an in-memory exporter, registered globally, for in-process unit tests of one
 * file. Every diag message is kept in `logs` so a test can check what was reported, and
 * `openSpans()` lists the spans started and not yet ended (a leak shows there, not in the exporter).
 */
export function setupInMemoryOtel(
  propagator: TextMapPropagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
) {
  const exporter = new InMemorySpanExporter();
  const open = new Set<Span | ReadableSpan>();
  const openTracker: SpanProcessor = {
    onStart: (span) => void open.add(span),
    onEnd: (span) => void open.delete(span),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new BasicTracerProvider({ spanProcessors: [openTracker, new SimpleSpanProcessor(exporter)] });
  trace.disable();
  context.disable();
  propagation.disable();
  diag.disable();
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(propagator);
  const logs: DiagRecord[] = [];
  // Component loggers pass their namespace first: keep every argument.
  const record = (level: DiagRecord['level']) => (...args: unknown[]) => {
    logs.push({ level, message: args.map(String).join(' ') });
  };
  const logger: DiagLogger = { error: record('error'), warn: record('warn'), info: record('info'), debug: record('debug'), verbose: record('verbose') };
  diag.setLogger(logger, DiagLogLevel.ALL);
  const openSpans = (): ReadableSpan[] => [...open] as ReadableSpan[];
  return { exporter, provider, tracer: provider.getTracer('test'), logs, openSpans };
}

export const VALID_TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
export const VALID_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
export const TRACEPARENT_PATTERN = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/;

/** Freezes an object graph, so that any write the code under test attempts throws. */
export function deepFreeze<T>(value: T): T {
  // Typed arrays and Buffers cannot be frozen; their bytes are compared by the tests instead.
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<string | symbol, unknown>)[key]);
  }
  return value;
}
