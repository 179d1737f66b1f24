// Profiling aid (not part of `pnpm bench`): the cost of the pipeline origin pieces alone (adding it through
// a context, injecting, extracting, reading it back), and of a clock read. `node profile/tracestate-cost.cjs`
const api = require('@opentelemetry/api');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const { withPipelineOrigin, pipelineOrigin } = require('@threadline/carrier');
const sc = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
const ctx = api.trace.setSpanContext(api.ROOT_CONTEXT, sc);
const setter = { set(c, k, v) { c[k] = v; } };
const getter = { get(c, k) { return c[k]; }, keys(c) { return Object.keys(c); } };
function time(label, fn, n = 500000) {
  for (let i = 0; i < 50000; i++) fn(i);
  const c = process.cpuUsage(); for (let i = 0; i < n; i++) fn(i); const u = process.cpuUsage(c);
  console.log(label.padEnd(50), ((u.user + u.system) / n * 1000).toFixed(0), 'ns');
}
const now0 = Date.now();
time('withPipelineOrigin (root)', (i) => withPipelineOrigin(ctx, now0 + (i >> 10)));
const withTs = withPipelineOrigin(ctx, now0);
time('inject no tracestate', () => { const h = {}; api.propagation.inject(ctx, h, setter); });
time('inject with tracestate', () => { const h = {}; api.propagation.inject(withTs, h, setter); });
const h1 = {}; api.propagation.inject(ctx, h1, setter); const h2 = {}; api.propagation.inject(withTs, h2, setter);
console.log(h2);
time('extract no tracestate', () => api.propagation.extract(api.ROOT_CONTEXT, h1, getter));
time('extract with tracestate', () => api.propagation.extract(api.ROOT_CONTEXT, h2, getter));
time('extract with tracestate + pipelineOrigin', () => pipelineOrigin(api.propagation.extract(api.ROOT_CONTEXT, h2, getter)));
time('Date.now', () => Date.now());
time('performance.now', () => performance.now());
