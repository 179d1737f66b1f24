// Bundles the start-up path into one file: loading one file instead of some 270 small modules
// is most of the register hook's start-up cost (see docs/BENCHMARKS.md).
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/start.js'],
  outfile: 'dist/start.bundle.js',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  external: [
    // Shared with the app and the transports: one copy each, loaded once.
    '@opentelemetry/api',
    '@opentelemetry/instrumentation',
    '@threadline/carrier',
    // The loader hook is registered by file and runs in its own thread.
    'import-in-the-middle',
    // Loaded lazily, only when configured or on first export.
    '@opentelemetry/exporter-trace-otlp-http',
    '@opentelemetry/exporter-trace-otlp-proto',
    '@opentelemetry/exporter-trace-otlp-grpc',
    '@opentelemetry/otlp-transformer',
    '@opentelemetry/propagator-b3',
    '@opentelemetry/propagator-jaeger',
  ],
});
