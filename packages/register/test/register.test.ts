import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertParentChild,
  assertSingleTrace,
  findSpan,
  runFixture,
  startCollector,
  startFixture,
  type SpanCollector,
} from '@threadline/testing';
import { K8S_JOB_NAME_ENV, RUN_NAME_ENV } from '@threadline/carrier';

const fixture = (name: string) => join(__dirname, 'fixtures', name);
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;
let collector: SpanCollector;
let dir: string;

beforeAll(async () => {
  collector = await startCollector();
  dir = mkdtempSync(join(tmpdir(), 'threadline-register-'));
});
afterAll(() => collector.close());
beforeEach(() => collector.reset());

async function fileHop(ext: 'mjs' | 'cjs', loader: 'import' | 'require', env: Record<string, string> = {}) {
  const file = join(dir, `record-${ext}-${loader}-${Object.values(env).join('-')}.json`);
  const producer = await runFixture(fixture(`file-producer.${ext}`), { collector, serviceName: 'producer', loader, args: [file], env });
  expect(producer).toMatchObject({ code: 0 });
  const consumer = await runFixture(fixture(`file-consumer.${ext}`), { collector, serviceName: 'consumer', loader, args: [file], env });
  expect(consumer).toMatchObject({ code: 0 });
  const spans = await collector.waitFor((all) => all.length >= 2);
  assertSingleTrace(spans);
  assertParentChild(spans, { name: 'produce', service: 'producer' }, { name: 'consume', service: 'consumer' });
  return { spans, file };
}

test.each([
  ['ESM', 'mjs', 'import'],
  ['CJS with --require', 'cjs', 'require'],
  ['CJS with --import', 'cjs', 'import'],
] as const)('two processes carry context through a JSON file (%s)', async (_label, ext, loader) => {
  await fileHop(ext, loader);
});

test.each([
  ['b3', ['b3']],
  ['b3multi', ['x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled']],
  ['jaeger', ['uber-trace-id']],
])('OTEL_PROPAGATORS=%s is honoured end to end', async (propagators, keys) => {
  const { file } = await fileHop('mjs', 'import', { OTEL_PROPAGATORS: propagators });
  const { readFileSync } = await import('node:fs');
  const record = JSON.parse(readFileSync(file, 'utf8'));
  expect(Object.keys(record.context).sort()).toEqual([...keys].sort());
});

test('only TRACEPARENT in the environment: every span joins, under one run span', async () => {
  const result = await runFixture(fixture('env-child.mjs'), {
    collector,
    serviceName: 'job',
    env: { TRACEPARENT, [RUN_NAME_ENV]: 'report-1', [K8S_JOB_NAME_ENV]: 'report-1' },
  });
  expect(result.code).toBe(0);
  const spans = await collector.waitFor((all) => all.length >= 4);
  expect(assertSingleTrace(spans)).toBe(TRACE_ID);
  const run = findSpan(spans, 'run report-1');
  expect(run.kind).toBe('CONSUMER');
  expect(run.parentSpanId).toBe(PARENT_SPAN_ID);
  expect(run.attributes['k8s.job.name']).toBe('report-1');
  expect(run.status.code).toBe('UNSET');
  for (const name of ['top-level', 'in-timer', 'in-promise']) assertParentChild(spans, 'run report-1', name);
});

test('process.exit() still exports the run span and the last spans, with the exit status', async () => {
  const result = await runFixture(fixture('env-child.mjs'), { collector, serviceName: 'job', args: ['exit'], env: { TRACEPARENT } });
  expect(result.code).toBe(3);
  const spans = await collector.waitFor((all) => all.some((span) => span.name.startsWith('run ')));
  const run = findSpan(spans, { name: /^run / });
  expect(run.status).toEqual({ code: 'ERROR', message: 'exit code 3' });
  expect(run.attributes['process.exit.code']).toBe(3);
  assertParentChild(spans, { name: /^run / }, 'before-exit-call');
});

test('an uncaught exception is recorded on the run span, and the process still fails', async () => {
  const result = await runFixture(fixture('env-child.mjs'), { collector, serviceName: 'job', args: ['throw'], env: { TRACEPARENT } });
  expect(result.code).toBe(1);
  expect(result.stderr).toContain('job failed');
  const spans = await collector.waitFor((all) => all.some((span) => span.name.startsWith('run ')));
  const run = findSpan(spans, { name: /^run / });
  expect(run.status.code).toBe('ERROR');
  expect(run.attributes['error.type']).toBe('Error');
  expect(run.events.some((event) => event.name === 'exception')).toBe(true);
});

test('SIGTERM flushes, ends the run span with an error, and the process dies of the signal', async () => {
  const job = startFixture(fixture('env-child.mjs'), { collector, serviceName: 'job', args: ['wait'], env: { TRACEPARENT } });
  await job.waitForLine(/READY/);
  const result = await job.stop('SIGTERM');
  expect(result.signal).toBe('SIGTERM');
  const spans = await collector.waitFor((all) => all.some((span) => span.name.startsWith('run ')));
  expect(findSpan(spans, { name: /^run / }).status).toEqual({ code: 'ERROR', message: 'terminated by SIGTERM' });
});

test('spans ended just before process.exit() are not lost', async () => {
  const result = await runFixture(fixture('exit-early.mjs'), { collector, serviceName: 'quick' });
  expect(result.code).toBe(0);
  const spans = await collector.waitFor((all) => all.length >= 1, { timeoutMs: 5000 });
  expect(findSpan(spans, 'sent-at-exit').parentSpanId).toBeUndefined();
});

test('a malformed TRACEPARENT is ignored: the process runs and starts its own traces', async () => {
  const result = await runFixture(fixture('env-child.mjs'), { collector, serviceName: 'job', env: { TRACEPARENT: '00-garbage-01', OTEL_LOG_LEVEL: 'warn' } });
  expect(result.code).toBe(0);
  expect(result.stderr).toContain('TRACEPARENT in the environment is not a valid trace context');
  const spans = await collector.waitFor((all) => all.length >= 3);
  expect(spans.some((span) => span.name.startsWith('run '))).toBe(false);
  expect(spans.every((span) => span.parentSpanId === undefined)).toBe(true);
});

// The carrier loads only when a variable the propagator reads is set: these prove the check asks
// the configured propagator, including b3's fallback to multi-header variables.
test.each([
  ['b3', { B3: `${TRACE_ID}-${PARENT_SPAN_ID}-1` }],
  ['b3', { X_B3_TRACEID: TRACE_ID, X_B3_SPANID: PARENT_SPAN_ID, X_B3_SAMPLED: '1' }],
  ['jaeger', { UBER_TRACE_ID: `${TRACE_ID}:${PARENT_SPAN_ID}:0:1` }],
])('OTEL_PROPAGATORS=%s: a context in the environment is joined (%j)', async (propagators, variables) => {
  const result = await runFixture(fixture('env-child.mjs'), { collector, serviceName: 'job', env: { OTEL_PROPAGATORS: propagators, ...variables } });
  expect(result.code).toBe(0);
  const spans = await collector.waitFor((all) => all.length >= 4);
  expect(assertSingleTrace(spans)).toBe(TRACE_ID);
  expect(findSpan(spans, { name: /^run / }).parentSpanId).toBe(PARENT_SPAN_ID);
});

test('a lowercase traceparent variable is ignored, as the env-carrier spec says', async () => {
  await runFixture(fixture('env-child.mjs'), { collector, serviceName: 'job', env: { traceparent: TRACEPARENT } });
  const spans = await collector.waitFor((all) => all.length >= 3);
  expect(spans.some((span) => span.traceId === TRACE_ID)).toBe(false);
});

test('a set-up failure prints one clear line and the app still runs', async () => {
  const result = await runFixture(fixture('plain.cjs'), { env: { OTEL_TRACES_EXPORTER: 'zipkinx' } });
  expect(result.code).toBe(0);
  expect(result.stdout).toBe('app ran\n');
  expect(result.stderr.trim().split('\n')).toEqual([
    '[threadline] set-up failed, the app runs without tracing: OTEL_TRACES_EXPORTER=zipkinx is not one of otlp, console, none',
  ]);
});

test('--import and --require together start once', async () => {
  const { registerEntry } = await import('@threadline/testing');
  const result = await runFixture(fixture('plain.cjs'), { loader: 'import', args: [], env: { NODE_OPTIONS: `--require ${registerEntry()}`, OTEL_TRACES_EXPORTER: 'console' } });
  expect(result.code).toBe(0);
  expect(result.stderr).toBe('');
});

test('grpc without its exporter installed is a clear set-up error', async () => {
  const result = await runFixture(fixture('plain.cjs'), { env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } });
  expect(result.code).toBe(0);
  expect(result.stderr).toContain('needs @opentelemetry/exporter-trace-otlp-grpc installed next to the app');
});
