import type { TextMapPropagator } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import { JaegerPropagator } from '@opentelemetry/propagator-jaeger';

const FACTORIES: Record<string, () => TextMapPropagator> = {
  tracecontext: () => new W3CTraceContextPropagator(),
  baggage: () => new W3CBaggagePropagator(),
  b3: () => new B3Propagator(),
  b3multi: () => new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }),
  jaeger: () => new JaegerPropagator(),
};

/** The propagator OTEL_PROPAGATORS names; `tracecontext,baggage` when unset. */
export function propagatorFromEnv(env: NodeJS.ProcessEnv): TextMapPropagator {
  const names = (env.OTEL_PROPAGATORS || 'tracecontext,baggage')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.includes('none')) return new CompositePropagator({ propagators: [] });
  const propagators = [...new Set(names)].map((name) => {
    const factory = FACTORIES[name];
    if (factory === undefined) throw new Error(`OTEL_PROPAGATORS: ${name} is not one of ${Object.keys(FACTORIES).join(', ')}, none`);
    return factory();
  });
  return new CompositePropagator({ propagators });
}
