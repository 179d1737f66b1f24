import { join } from 'node:path';
import { runFixture, startCollector, startFixture, type CollectedMetricPoint, type SpanCollector } from '@threadline/testing';

const fixture = join(__dirname, 'fixtures', 'metrics-child.mjs');
let collector: SpanCollector;

beforeAll(async () => {
  collector = await startCollector();
});
afterAll(() => collector.close());
beforeEach(() => collector.reset());

const find = (points: CollectedMetricPoint[], name: string) => points.find((point) => point.name === name && point.serviceName === 'metered');
const QUEUE_TIME = 'threadline.messaging.queue.time';
const hasBoth = (points: CollectedMetricPoint[]) => ['fixture.items', 'fixture.duration', 'fixture.observed', QUEUE_TIME].every((name) => find(points, name) !== undefined);

function expectValues(points: CollectedMetricPoint[]) {
  const items = find(points, 'fixture.items')!;
  expect(items).toMatchObject({ value: 3, unit: '{item}', scope: 'fixture', attributes: { kind: 'first' }, temporality: 2 });
  const duration = find(points, 'fixture.duration')!;
  expect(duration).toMatchObject({ count: 2, sum: 1, min: 0.25, max: 0.75, unit: 's' });
  // An asynchronous counter's callback ran for the last export too (synchronously, at exit).
  expect(find(points, 'fixture.observed')).toMatchObject({ value: 7, attributes: { kind: 'async' } });
  // threadline's own histogram (aggregated by threadline, cumulative by default), once.
  expect(points.filter((point) => point.name === QUEUE_TIME && point.serviceName === 'metered')).toEqual([expect.objectContaining({ scope: '@threadline/fixture', count: 2, temporality: 2 })]);
}

// A long interval: nothing is exported on the timer, so what arrives was sent by the exit path.
const noTimer = { OTEL_METRIC_EXPORT_INTERVAL: '600000' };

test.each(['http/json', 'http/protobuf'])('process.exit() right after recording still exports the metrics (OTLP %s at exit)', async (protocol) => {
  // The collector reads JSON only: protobuf is checked by what the exit path logs.
  const result = await runFixture(fixture, { collector, metrics: true, serviceName: 'metered', args: ['exit'], env: { ...noTimer, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: protocol, OTEL_LOG_LEVEL: 'warn' } });
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout.trim())).toEqual({ provider: 'MeterProvider' });
  if (protocol === 'http/json') {
    expectValues(await collector.waitForMetrics(hasBoth));
  } else {
    // The collector answered 415 to protobuf: proof the synchronous export ran, with that protocol.
    expect(result.stderr).toContain('final metrics export at exit failed');
    expect(result.stderr).toContain('415');
  }
});

test('a process whose loop drains exports the metrics once, and still ends', async () => {
  const result = await runFixture(fixture, { collector, metrics: true, serviceName: 'metered', args: ['drain'], env: noTimer, timeoutMs: 10_000 });
  expect(result.code).toBe(0);
  expectValues(await collector.waitForMetrics(hasBoth));
  // One export of the unchanged collection, not one per beforeExit.
  expect(collector.metrics().filter((point) => point.name === 'fixture.items')).toHaveLength(1);
});

test('with no collector listening, a draining process still ends: the failed export is logged once, not retried at each beforeExit', async () => {
  // Port 9 (discard) has no listener on loopback: every POST is refused.
  const started = Date.now();
  const result = await runFixture(fixture, {
    metrics: true,
    serviceName: 'metered',
    args: ['drain'],
    env: { ...noTimer, OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://127.0.0.1:9/v1/metrics', OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '2000', OTEL_LOG_LEVEL: 'warn' },
    timeoutMs: 30_000,
  });
  expect(result.code).toBe(0);
  expect(result.stderr.split('metric export failed').length - 1).toBe(1);
  expect(Date.now() - started).toBeLessThan(20_000);
});

test('with delta temporality a draining process ends after one export, not one per beforeExit', async () => {
  const result = await runFixture(fixture, { collector, metrics: true, serviceName: 'metered', args: ['drain'], env: { ...noTimer, OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta' }, timeoutMs: 10_000 });
  expect(result.code).toBe(0);
  const points = await collector.waitForMetrics(hasBoth);
  expect(find(points, 'fixture.items')).toMatchObject({ value: 3, temporality: 1 });
  // With delta the SDK aggregates threadline's histograms too: delta, once.
  expect(points.filter((point) => point.name === QUEUE_TIME && point.serviceName === 'metered')).toEqual([expect.objectContaining({ scope: '@threadline/fixture', count: 2, temporality: 1 })]);
  // An asynchronous counter gives a new zero delta at each collection; those are not sent again.
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(collector.metrics().filter((point) => point.name === 'fixture.observed')).toEqual([expect.objectContaining({ value: 7, temporality: 1 })]);
});

test('OTEL_METRIC_EXPORT_INTERVAL sets the period; OTEL_EXPORTER_OTLP_METRICS_ENDPOINT and _HEADERS are used', async () => {
  const child = startFixture(fixture, {
    collector,
    metrics: true,
    serviceName: 'metered',
    args: ['wait'],
    env: {
      OTEL_METRIC_EXPORT_INTERVAL: '150',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9/unused',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${collector.url}/v1/metrics`,
      OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'x-tenant=acme',
    },
  });
  try {
    const points = await collector.waitForMetrics((all) => (find(all.filter((point) => point.attributes.kind === 'later'), 'fixture.items')?.value ?? 0) >= 3);
    expect(find(points, 'fixture.items')?.value).toBe(3);
    // Several periodic exports arrived while the process ran.
    expect(new Set(collector.metrics().map((point) => point.timeMs)).size).toBeGreaterThanOrEqual(2);
    expect(collector.metricRequestHeaders().every((headers) => headers['x-tenant'] === 'acme')).toBe(true);
  } finally {
    await child.stop();
  }
});

test('OTEL_METRICS_EXPORTER=none sets no MeterProvider and sends nothing', async () => {
  const result = await runFixture(fixture, { collector, serviceName: 'metered', args: ['exit'], env: { OTEL_METRICS_EXPORTER: 'none' } });
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout.trim())).toEqual({ provider: 'NoopMeterProvider' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(collector.metrics()).toEqual([]);
});

test('an unknown OTEL_METRICS_EXPORTER fails set-up like an unknown traces exporter', async () => {
  const result = await runFixture(fixture, { collector, serviceName: 'metered', args: ['exit'], env: { OTEL_METRICS_EXPORTER: 'prometheus' } });
  expect(result.code).toBe(0);
  expect(result.stderr).toContain('[threadline] set-up failed, the app runs without tracing: OTEL_METRICS_EXPORTER=prometheus is not one of otlp, console, none');
});

test('OTEL_METRICS_EXPORTER=console prints the metrics', async () => {
  const result = await runFixture(fixture, { serviceName: 'metered', args: ['exit'], env: { OTEL_METRICS_EXPORTER: 'console' } });
  expect(result.code).toBe(0);
  expect(result.stdout).toContain('fixture.items');
});
