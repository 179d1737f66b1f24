// Shared by the integration tests: the kafkajs versions under test, topic set-up on the real
// broker, and a runner for the fixture apps.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { brokerAddresses, createKafkaTopics, runFixture, type CollectedSpan, type SpanCollector } from '@threadline/testing';
import { Kafka, logLevel, type ITopicConfig } from 'kafkajs';

// The fixtures load the built package through the register hook (turbo builds before testing).
if (!existsSync(join(__dirname, '../dist/index.js'))) {
  throw new Error('packages/kafkajs/dist is missing: run `pnpm --filter @threadline/kafkajs build` first');
}

export interface KafkaJsVersion {
  /** Which client: kafkajs itself, or @confluentinc/kafka-javascript's KafkaJS API. */
  client: 'kafkajs' | 'confluent';
  label: string;
  version: string;
  /** The real folder of this version (what require-in-the-middle identifies it by). */
  dir: string;
}

function versionAt(packageName: string, client: KafkaJsVersion['client'] = 'kafkajs'): KafkaJsVersion {
  const dir = realpathSync(dirname(require.resolve(`${packageName}/package.json`)));
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  return { client, label: `${client === 'kafkajs' ? 'kafkajs' : '@confluentinc/kafka-javascript'} ${version}`, version, dir };
}

/** The oldest and the newest supported major, as installed (kafkajs-v1 is an alias of kafkajs@1.16.0). */
export const V1 = versionAt('kafkajs-v1');
export const V2 = versionAt('kafkajs');
if (!V1.version.startsWith('1.') || V2.version !== '2.2.4') throw new Error(`unexpected kafkajs versions ${V1.version} / ${V2.version}`);

/**
 * @confluentinc/kafka-javascript, oldest and newest supported (confluent-kafka-v1 is an alias of
 * 1.0.0). Its native addon is built by tools/confluent-kafka.mjs, which `npm test` runs.
 */
export const CONFLUENT_OLDEST = versionAt('confluent-kafka-v1', 'confluent');
export const CONFLUENT_NEWEST = versionAt('@confluentinc/kafka-javascript', 'confluent');
if (CONFLUENT_OLDEST.version !== '1.0.0' || CONFLUENT_NEWEST.version !== '1.10.1') {
  throw new Error(`unexpected @confluentinc/kafka-javascript versions ${CONFLUENT_OLDEST.version} / ${CONFLUENT_NEWEST.version}`);
}

export type AppKind = 'esm' | 'cjs';
const APP = {
  kafkajs: { esm: join(__dirname, 'fixtures/app.mjs'), cjs: join(__dirname, 'fixtures/app.cjs') },
  // The ESM app is the same: it imports the entry esmEntry gives, which exports the confluent KafkaJS API.
  confluent: { esm: join(__dirname, 'fixtures/app.mjs'), cjs: join(__dirname, 'fixtures/confluent-app.cjs') },
};
const ENTRY = {
  kafkajs: { module: 'kafkajs', file: 'fixtures/kafkajs-esm.mjs', newest: () => V2 },
  confluent: { module: '@confluentinc/kafka-javascript', file: 'fixtures/confluent-esm.mjs', newest: () => CONFLUENT_NEWEST },
};

const esmEntries = new Map<string, string>();
/**
 * A module that does `export { Kafka, logLevel } from 'kafkajs'` where 'kafkajs' is `version`.
 * The ESM loader hook matches the bare name 'kafkajs', so an alias like kafkajs-v1 has to be
 * reached under that name: a temporary folder whose node_modules/kafkajs links to it.
 */
function esmEntry(version: KafkaJsVersion): string {
  const { module, file, newest } = ENTRY[version.client];
  if (version === newest()) return pathToFileURL(join(__dirname, file)).href;
  let entry = esmEntries.get(version.dir);
  if (entry === undefined) {
    const root = mkdtempSync(join(tmpdir(), `threadline-kafkajs-${version.version}-`));
    mkdirSync(dirname(join(root, 'node_modules', module)), { recursive: true });
    symlinkSync(version.dir, join(root, 'node_modules', module), 'dir');
    writeFileSync(join(root, 'kafkajs.mjs'), readFileSync(join(__dirname, file)));
    entry = pathToFileURL(join(root, 'kafkajs.mjs')).href;
    esmEntries.set(version.dir, entry);
  }
  return entry;
}

/** Removes the temporary folders esmEntry made (call in afterAll). */
export function removeEsmEntries(): void {
  for (const entry of esmEntries.values()) rmSync(dirname(new URL(entry).pathname), { recursive: true, force: true });
  esmEntries.clear();
}

const RUN_ID = `${Date.now().toString(36)}-${process.pid}`;
/** A topic name no earlier run used. */
export const uniqueTopic = (name: string) => `threadline-kafkajs-${name}-${RUN_ID}`;
export const uniqueGroup = (name: string) => `threadline-kafkajs-${name}-${RUN_ID}`;

const createdTopics = new Set<string>();

function adminClient() {
  return new Kafka({
    clientId: 'threadline-kafkajs-tests',
    brokers: brokerAddresses().kafka.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { retries: 2 },
  }).admin();
}

/** Creates the topics on the real broker; fails with a clear message when Kafka is not there. */
export async function createTopics(topics: (string | ITopicConfig)[]): Promise<void> {
  const { brokers } = brokerAddresses().kafka;
  const admin = adminClient();
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `Kafka is not reachable at ${brokers.join(',')} (${(error as Error).message}). Start it with: node tools/brokers/cli.mjs up kafka`,
    );
  }
  try {
    await createKafkaTopics(admin, topics);
    for (const topic of topics) createdTopics.add(typeof topic === 'string' ? topic : topic.topic);
  } finally {
    await admin.disconnect();
  }
}

/** Deletes the topics this test file created (call in afterAll); the broker is shared. */
export async function deleteCreatedTopics(): Promise<void> {
  if (createdTopics.size === 0) return;
  const admin = adminClient();
  try {
    await admin.connect();
    await admin.deleteTopics({ topics: [...createdTopics] });
    createdTopics.clear();
  } finally {
    await admin.disconnect();
  }
}

export interface AppOptions {
  app: AppKind;
  version: KafkaJsVersion;
  service: string;
  scenario: Record<string, unknown>;
  collector?: SpanCollector;
  /** `none`: the app runs without threadline (a control). Default: `--import` for ESM, `--require` for CJS. */
  loader?: 'import' | 'require' | 'none';
  env?: Record<string, string>;
  /** Called with the app's whole output (the diag lines of OTEL_LOG_LEVEL=debug go to stdout). */
  onOutput?: (stdout: string, stderr: string) => void;
  /** Export metrics to the collector (OTLP JSON every 200 ms, and at exit). */
  metrics?: boolean;
}

/** Runs one fixture app to its end and returns what it printed on its RESULT line. */
export async function runApp<T = any>(options: AppOptions): Promise<T> {
  const { app, version } = options;
  const result = await runFixture(APP[version.client][app], {
    collector: options.collector,
    serviceName: options.service,
    metrics: options.metrics,
    loader: options.loader ?? (app === 'esm' ? 'import' : 'require'),
    timeoutMs: 60000,
    env: {
      SCENARIO: JSON.stringify({ service: options.service, ...options.scenario }),
      KAFKA_BROKERS: JSON.stringify(brokerAddresses().kafka.brokers),
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      ...(app === 'esm' ? { KAFKAJS_ESM: esmEntry(version) } : { KAFKAJS_CJS: version.dir, CONFLUENT_CJS: version.dir }),
      ...options.env,
    },
  });
  options.onOutput?.(result.stdout, result.stderr);
  const line = result.stdout.split('\n').find((candidate) => candidate.startsWith('RESULT '));
  if (result.code !== 0 || line === undefined) {
    const tail = (text: string) => (text.length > 4000 ? `…${text.slice(-4000)}` : text);
    throw new Error(`${options.service} (${app}, ${version.label}) exited with ${result.code ?? result.signal}\nstdout:\n${tail(result.stdout)}\nstderr:\n${tail(result.stderr)}`);
  }
  const parsed = JSON.parse(line.slice('RESULT '.length));
  if (parsed.kafkajs !== version.version) throw new Error(`${options.service} ran ${version.client} ${parsed.kafkajs}, not ${version.version}`);
  return parsed as T;
}

/** Buffers as the fixtures encode them. */
export const b64 = (value: string | Buffer) => ({ b64: Buffer.from(value).toString('base64') });

/** What one integrity round saw: the same sends instrumented and not, read back by control consumers. */
export interface IntegrityRound {
  topic: string;
  instrumented: any;
  control: any;
  /** The instrumented topic, read by an uninstrumented consumer. */
  readInstrumented: any;
  readControl: any;
  /** The instrumented topic, read by an instrumented consumer. */
  consumed: any;
  consumerOutput: string;
  spans: CollectedSpan[];
}

/**
 * The same sends once through an instrumented producer and once through an uninstrumented one
 * (to two topics); uninstrumented consumers read both, and an instrumented one the first.
 */
export async function runIntegrityRound(options: {
  app: AppKind;
  version: KafkaJsVersion;
  name: string;
  sends: { name: string; messages: unknown[] }[];
  collector: SpanCollector;
  consumerEnv?: Record<string, string>;
}): Promise<IntegrityRound> {
  const { name, sends, collector } = options;
  const topic = uniqueTopic(name);
  const controlTopic = uniqueTopic(`${name}-control`);
  await createTopics([topic, controlTopic]);
  const common = { app: options.app, version: options.version, collector };
  const sendsTo = (target: string) => sends.map((send) => ({ span: send.name, topic: target, messages: send.messages }));
  const [instrumented, control] = await Promise.all([
    runApp({ ...common, service: `${name}-producer`, scenario: { role: 'produce', sends: sendsTo(topic) } }),
    runApp({ ...common, service: `${name}-control-producer`, loader: 'none', scenario: { role: 'produce', sends: sendsTo(controlTopic) } }),
  ]);
  const delivered = control.sends.reduce((sum: number, send: any, index: number) => sum + (send.ok ? sends[index].messages.length : 0), 0);
  const read = (target: string, service: string, extra: Partial<AppOptions>) =>
    runApp({ ...common, service, scenario: { role: 'consume', topic: target, groupId: uniqueGroup(service), count: delivered }, ...extra });
  let consumerOutput = '';
  const [readInstrumented, readControl, consumed] = await Promise.all([
    read(topic, `${name}-control-reader`, { loader: 'none' }),
    read(controlTopic, `${name}-control-reader-2`, { loader: 'none' }),
    read(topic, `${name}-consumer`, { env: options.consumerEnv, onOutput: (stdout, stderr) => (consumerOutput = stdout + stderr) }),
  ]);
  const spans = await collector.waitFor(
    (all) => all.filter((span) => span.serviceName === `${name}-consumer` && span.name.startsWith('process ')).length >= delivered,
    { timeoutMs: 20000 },
  );
  return { topic, instrumented, control, readInstrumented, readControl, consumed, consumerOutput, spans: spans.filter((span) => span.serviceName.startsWith(name)) };
}
