/**
 * The CommonJS path loads each transport at the app's first require of a library it patches.
 * Every fixture runs as a real app: a temporary folder whose node_modules links the real
 * libraries and transports (or broken stand-ins), under `node --require|--import` of the built hook.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  assertNoOrphans,
  assertParentChild,
  assertSingleTrace,
  brokerAddresses,
  findSpan,
  runFixture,
  startCollector,
  type CollectedSpan,
  type FixtureOptions,
  type SpanCollector,
} from '@threadline/testing';

jest.setTimeout(60000);

const PACKAGES = join(__dirname, '..', '..');
const FIXTURES = join(__dirname, 'fixtures', 'lazy');

/** What each app may link: a library as its transport's own tests use it, or a workspace package. */
const REAL: Record<string, string> = {
  kafkajs: join(PACKAGES, 'kafkajs', 'node_modules', 'kafkajs'),
  amqplib: join(PACKAGES, 'amqplib', 'node_modules', 'amqplib'),
  'kafkajs-alias': join(PACKAGES, 'kafkajs', 'node_modules', 'kafkajs'),
  '@opentelemetry/api': join(PACKAGES, 'register', 'node_modules', '@opentelemetry', 'api'),
  '@opentelemetry/instrumentation': join(PACKAGES, 'register', 'node_modules', '@opentelemetry', 'instrumentation'),
  '@threadline/register': join(PACKAGES, 'register'),
  '@threadline/kafkajs': join(PACKAGES, 'kafkajs'),
  '@threadline/amqplib': join(PACKAGES, 'amqplib'),
  '@threadline/k8s-job': join(PACKAGES, 'k8s-job'),
};

const apps: string[] = [];

/** A throw-away app folder with the fixtures, the named real packages linked, and fake packages written. */
function makeApp(real: string[], fake: Record<string, Record<string, string>> = {}): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'threadline-lazy-')));
  apps.push(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'lazy-app', private: true }));
  for (const file of readdirSync(FIXTURES)) copyFileSync(join(FIXTURES, file), join(dir, file));
  for (const name of real) {
    const link = join(dir, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(realpathSync(REAL[name]), link, 'dir');
  }
  for (const [name, files] of Object.entries(fake)) {
    const folder = join(dir, 'node_modules', name);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'package.json'), JSON.stringify({ name, version: '0.0.0', main: 'index.js' }));
    for (const [file, text] of Object.entries(files)) writeFileSync(join(folder, file), text);
  }
  return dir;
}

const ALL = Object.keys(REAL);

async function runApp(app: string, file: string, options: FixtureOptions = {}) {
  const result = await runFixture(join(app, file), { cwd: app, loader: 'require', ...options });
  if (result.code !== 0) throw new Error(`${file} exited with ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  const line = result.stdout.trim().split('\n').pop() ?? '';
  return { ...result, report: JSON.parse(line.replace(/^RESULT /, '')) };
}

afterAll(() => {
  for (const dir of apps) rmSync(dir, { recursive: true, force: true });
});

describe.each(['require', 'import'] as const)('a CommonJS app under --%s', (loader) => {
  test('nothing of a transport loads until the app requires its library; then the library is patched', async () => {
    const app = makeApp(ALL);
    const { report, stderr } = await runApp(app, 'probe.cjs', { loader, env: { OTEL_LOG_LEVEL: 'warn' } });
    expect(stderr).toBe('');
    const nothing = { kafkajsTransport: false, amqplibTransport: false, k8sJobTransport: false, carrier: false, instrumentation: false, requireInTheMiddle: false };
    expect(report.atStart).toMatchObject({ ...nothing, kafkajs: false });
    // Installed transports are listed; listing them loads none.
    expect(report.listed).toEqual(['kafkajs', 'confluent-kafka', 'amqplib', 'k8s-job', 'child-process']);
    expect(report.afterListing).toMatchObject(nothing);
    // The first require of kafkajs loads its transport only, and the app receives patched exports.
    expect(report.afterKafkajs).toMatchObject({ kafkajs: true, kafkajsTransport: true, instrumentation: true, requireInTheMiddle: true, amqplibTransport: false, k8sJobTransport: false });
    expect(report.patched).toEqual({ Kafka: true, producer: true, consumer: true });
    expect(report.sameExports).toBe(true);
    expect(report.listedAfter).toEqual(['kafkajs', 'confluent-kafka', 'amqplib', 'k8s-job', 'child-process']);
  });

  test.each(['alias', 'path', 'hooked'])('kafkajs reached another way (%s) is patched too', async (how) => {
    const app = makeApp(ALL);
    const { report } = await runApp(app, 'variants.cjs', { loader, args: [how] });
    expect(report.before).toMatchObject({ kafkajsTransport: false, requireInTheMiddle: how === 'hooked' });
    expect(report.patched).toEqual({ Kafka: true, producer: true });
  });

  test.each(['child_process', 'node:child_process', 'getBuiltinModule'])(
    'child_process reached as %s after start is instrumented: the child gets TRACEPARENT',
    async (how) => {
      const app = makeApp(ALL);
      const { report } = await runApp(app, 'child.cjs', { loader, args: [how] });
      expect(report.before).toMatchObject({ k8sJobTransport: false, instrumentation: false });
      expect(report.childTraceparent).toMatch(new RegExp(`^00-${report.traceId}-[0-9a-f]{16}-01$`));
    },
  );
});

test('libraries loaded before the hook starts: their transports load at start, and the next require is patched', async () => {
  const app = makeApp(ALL);
  const { report } = await runApp(app, 'early.cjs', { loader: 'none' });
  // kafkajs was in require.cache: its transport loaded at once. child_process is watched by name.
  expect(report.afterStart).toMatchObject({ kafkajsTransport: true, k8sJobTransport: false, amqplibTransport: false });
  // As on the eager path: require-in-the-middle patches the shared exports at the next require.
  expect(report.sameObject).toBe(true);
  expect(report.patched).toEqual({ spawn: true, earlySpawn: true, Kafka: true });
});

test('once every selected transport is on, the watch on require is removed', async () => {
  const app = makeApp(ALL);
  const { report } = await runApp(app, 'restore.cjs', { loader: 'none', env: { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'kafkajs' } });
  expect(report).toEqual({ watching: true, restored: true });
});

test('a transport that throws on load, or whose constructor throws: one diag warning each, and the app gets the library unpatched', async () => {
  const app = makeApp(['kafkajs', 'amqplib', '@opentelemetry/api', '@threadline/register', '@threadline/k8s-job'], {
    '@threadline/amqplib': { 'index.js': "throw new Error('simulated load failure');\n" },
    '@threadline/kafkajs': {
      'index.js': "exports.KafkaJsInstrumentation = class { constructor() { throw new Error('simulated constructor failure'); } };\n",
    },
  });
  const { report, stderr } = await runApp(app, 'broken.cjs', { env: { OTEL_LOG_LEVEL: 'warn' } });
  const warnings = stderr.trim().split('\n');
  expect(warnings).toEqual([
    expect.stringMatching(/^@threadline\/register: amqplib not enabled: simulated load failure/),
    expect.stringMatching(/^@threadline\/register: kafkajs not enabled: simulated constructor failure/),
  ]);
  expect(report.amqplibConnect).toBe('function');
  expect(report.kafkaPatched).toBe(false);
  // The working transport in the same app is unaffected.
  expect(report.spawnPatched).toBe(true);
  // confluent-kafka lives in the same (here broken) package but its library never loads: still waiting.
  expect(report.listed).toEqual(['confluent-kafka', 'k8s-job', 'child-process']);
  expect(report.loaded).toMatchObject({ amqplib: true, kafkajs: true });
});

/** Whether this Node runs import-in-the-middle's in-thread hooks (module.registerHooks): 22.22.3+, 24.11.1+. */
function nodeRunsSyncHooks(): boolean {
  const [major, minor, patch] = process.versions.node.split('.').map(Number);
  if (major >= 26) return true;
  if (major === 24) return minor > 11 || (minor === 11 && patch >= 1);
  if (major === 22) return minor > 22 || (minor === 22 && patch >= 3);
  return major === 25 && minor >= 1;
}

describe.each([
  ['default', {}, nodeRunsSyncHooks() ? 'sync' : 'async'],
  ['THREADLINE_ESM_HOOKS=async', { THREADLINE_ESM_HOOKS: 'async' }, 'async'],
  ['THREADLINE_ESM_HOOKS=sync', { THREADLINE_ESM_HOOKS: 'sync' }, nodeRunsSyncHooks() ? 'sync' : 'async'],
] as const)(`an ES module app on Node ${process.versions.node}, %s`, (_label, env, expected) => {
  test(`keeps the eager path: transports load at start and imports are patched (${expected} hooks)`, async () => {
    const app = makeApp(ALL);
    const { report, stderr } = await runApp(app, 'esm.mjs', { loader: 'import', env: { ...env, OTEL_LOG_LEVEL: 'warn' } });
    expect(report.esmHooks).toBe(expected);
    expect(report.atStart).toMatchObject({ kafkajsTransport: true, amqplibTransport: true, k8sJobTransport: true, kafkajs: false });
    expect(report.patched).toBe(true);
    expect(report.listed).toEqual(['kafkajs', 'confluent-kafka', 'amqplib', 'k8s-job', 'child-process']);
    // Asking for in-thread hooks where Node cannot run them says so once, and falls back.
    const fellBack = 'THREADLINE_ESM_HOOKS' in env && env.THREADLINE_ESM_HOOKS === 'sync' && expected === 'async';
    expect(stderr.includes('THREADLINE_ESM_HOOKS=sync needs module.registerHooks')).toBe(fellBack);
  });
});

describe('RabbitMQ end to end: amqplib required after start', () => {
  let collector: SpanCollector;

  beforeAll(async () => {
    const { rabbitmq } = brokerAddresses();
    await new Promise<void>((resolve, reject) => {
      const socket = connect(rabbitmq.port, '127.0.0.1', () => {
        socket.end();
        resolve();
      });
      socket.on('error', (error) => reject(new Error(`RabbitMQ unreachable on port ${rabbitmq.port} (${error.message}); start it with node tools/brokers/cli.mjs up rabbitmq`)));
    });
    collector = await startCollector();
  });
  afterAll(() => collector?.close());

  /** Name, kind, parent and attributes of every span, the queue name masked: compared between the lazy and the eager path. */
  const shape = (spans: CollectedSpan[], queue: string) =>
    spans
      .map((span) =>
        JSON.stringify([span.name, span.kind, spans.find((parent) => parent.spanId === span.parentSpanId)?.name ?? null, span.attributes]).replaceAll(queue, 'QUEUE'),
      )
      .sort();

  async function trace(label: string, options: FixtureOptions) {
    const app = makeApp(ALL);
    const queue = `threadline-lazy-${label}-${Date.now().toString(36)}`;
    const service = `lazy-${label}-${Date.now().toString(36)}`;
    const { report } = await runApp(app, 'amqp.cjs', { collector, serviceName: service, ...options, env: { AMQP_URL: brokerAddresses().rabbitmq.url, QUEUE: queue, ...options.env } });
    const spans = (await collector.waitFor((all) => all.filter((span) => span.serviceName === service).length >= 4)).filter((span) => span.serviceName === service);
    expect(spans).toHaveLength(4);
    assertSingleTrace(spans);
    assertNoOrphans(spans);
    assertParentChild(spans, 'produce', { kind: 'PRODUCER' });
    assertParentChild(spans, { kind: 'PRODUCER' }, { kind: 'CONSUMER' });
    assertParentChild(spans, { kind: 'CONSUMER' }, 'handle');
    const send = findSpan(spans, { kind: 'PRODUCER' });
    expect(report.headers.traceparent).toBe(`00-${send.traceId}-${send.spanId}-01`);
    expect(report.activeSpanId).toBe(findSpan(spans, { kind: 'CONSUMER' }).spanId);
    return shape(spans, queue);
  }

  test('--require and --import (lazy) give the same spans as the eager path', async () => {
    const eager = await trace('eager', { loader: 'import', env: { THREADLINE_ESM_LOADER: 'true' } });
    expect(await trace('require', { loader: 'require' })).toEqual(eager);
    expect(await trace('import', { loader: 'import' })).toEqual(eager);
  });
});
