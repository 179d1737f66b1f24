import type { TextMapPropagator } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';

/* eslint-disable @typescript-eslint/no-require-imports */
// b3 and jaeger load only when named, to keep start-up short.
const b3 = () => require('@opentelemetry/propagator-b3') as typeof import('@opentelemetry/propagator-b3');
const FACTORIES: Record<string, () => TextMapPropagator> = {
  tracecontext: () => new W3CTraceContextPropagator(),
  baggage: () => new W3CBaggagePropagator(),
  b3: () => new (b3().B3Propagator)(),
  b3multi: () => new (b3().B3Propagator)({ injectEncoding: b3().B3InjectEncoding.MULTI_HEADER }),
  jaeger: () => new (require('@opentelemetry/propagator-jaeger') as typeof import('@opentelemetry/propagator-jaeger')).JaegerPropagator(),
};
/* eslint-enable @typescript-eslint/no-require-imports */

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
