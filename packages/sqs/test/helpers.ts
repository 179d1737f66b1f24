// Shared by the integration tests: the real ElasticMQ, the fixture apps and the SDK variants.
import { mkdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CreateQueueCommand, ListQueuesCommand, SendMessageCommand, SQSClient, type MessageAttributeValue } from '@aws-sdk/client-sqs';
import { brokerAddresses, runFixture, type CollectedSpan, type SpanCollector } from '@threadline/testing';

export const FIXTURES = join(__dirname, 'fixtures');
const PACKAGE_DIR = dirname(__dirname);

/** One way an app loads the SDK: module system × SDK version. */
export interface Variant {
  label: string;
  file: string;
  loader: 'import' | 'require';
  env: Record<string, string>;
}

export const NEWEST_ESM: Variant = { label: 'newest SDK, ESM', file: join(FIXTURES, 'app.mjs'), loader: 'import', env: {} };
export const OLDEST_ESM: Variant = {
  label: 'oldest SDK (3.447.0), ESM',
  file: join(FIXTURES, 'app.mjs'),
  loader: 'import',
  env: { SDK_MODULE: './oldest/sdk.mjs', CONSUMER_MODULE: './oldest/consumer.mjs' },
};
export const NEWEST_CJS: Variant = { label: 'newest SDK, CJS', file: join(FIXTURES, 'app.cjs'), loader: 'require', env: {} };
export const OLDEST_CJS: Variant = {
  label: 'oldest SDK (3.447.0), CJS',
  file: join(FIXTURES, 'app.cjs'),
  loader: 'require',
  env: { LIB_PATH: 'client-sqs-oldest', CONSUMER_PATH: 'sqs-consumer-oldest' },
};

/**
 * The ESM loader hook intercepts modules imported by their real name only, so the oldest versions
 * are reached through fixtures/oldest/*.mjs, which import `@aws-sdk/client-sqs` and `sqs-consumer`
 * from fixtures/oldest/node_modules: links to the installed `*-oldest` aliases, made here.
 */
export function linkOldestVersions(): void {
  const modules = join(FIXTURES, 'oldest', 'node_modules');
  const links: Array<[string, string]> = [
    ['@aws-sdk/client-sqs', 'client-sqs-oldest'],
    ['sqs-consumer', 'sqs-consumer-oldest'],
  ];
  for (const [name, alias] of links) {
    const target = realpathSync(dirname(require.resolve(`${alias}/package.json`, { paths: [PACKAGE_DIR] })));
    const link = join(modules, name);
    mkdirSync(dirname(link), { recursive: true });
    rmSync(link, { force: true, recursive: true });
    symlinkSync(target, link, 'dir');
  }
}

export const { endpoint: SQS_ENDPOINT, region: SQS_REGION } = brokerAddresses().elasticmq;

export const admin = new SQSClient({
  endpoint: SQS_ENDPOINT,
  region: SQS_REGION,
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 1,
});

/** Fails (never skips) with a clear message when ElasticMQ is not running. */
export async function requireElasticMq(): Promise<void> {
  try {
    await admin.send(new ListQueuesCommand({}), { abortSignal: AbortSignal.timeout(5000) });
  } catch (error) {
    throw new Error(
      `ElasticMQ is not reachable at ${SQS_ENDPOINT} (${(error as Error).message}); start it with \`node tools/brokers/cli.mjs up elasticmq\``,
    );
  }
}

const RUN = `tl${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

/** A fresh queue whose name is unique to this test run. */
export async function createQueue(label: string): Promise<string> {
  const { QueueUrl } = await admin.send(new CreateQueueCommand({ QueueName: `${RUN}-${label}` }));
  if (QueueUrl === undefined) throw new Error(`ElasticMQ returned no URL for queue ${label}`);
  return QueueUrl;
}

/** Sends with the uninstrumented SDK of the Jest process (a producer outside threadline). */
export async function sendRaw(queueUrl: string, body: string, attributes?: Record<string, MessageAttributeValue>): Promise<void> {
  await admin.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageAttributes: attributes }));
}

export interface RoleOptions {
  collector?: SpanCollector;
  serviceName: string;
  env?: Record<string, string | undefined>;
  /** `none` runs the app without threadline (a control). */
  loader?: 'import' | 'require' | 'none';
  timeoutMs?: number;
  /** Export metrics to the collector too. */
  metrics?: boolean;
}

/** Runs one fixture role to completion and returns what it printed on its RESULT line. */
export async function runRole<T = any>(variant: Variant, role: string, options: RoleOptions): Promise<T> {
  const outcome = await runFixture(variant.file, {
    collector: options.collector,
    metrics: options.metrics,
    serviceName: options.serviceName,
    loader: options.loader ?? variant.loader,
    args: [role],
    cwd: PACKAGE_DIR,
    timeoutMs: options.timeoutMs ?? 40000,
    env: { SQS_ENDPOINT, SQS_REGION, NODE_NO_WARNINGS: '1', ...variant.env, ...options.env },
  });
  const line = outcome.stdout.split('\n').find((candidate) => candidate.startsWith('RESULT '));
  if (outcome.code !== 0 || line === undefined) {
    throw new Error(`${variant.label} ${role} failed (exit ${outcome.code})\nstdout:\n${outcome.stdout}\nstderr:\n${outcome.stderr}`);
  }
  return Object.assign(JSON.parse(line.slice('RESULT '.length)), { stderr: outcome.stderr });
}

/** The spans of services whose names start with `prefix`, once `predicate` holds for them. */
export async function spansOf(collector: SpanCollector, prefix: string, predicate: (spans: CollectedSpan[]) => boolean): Promise<CollectedSpan[]> {
  const mine = (spans: CollectedSpan[]) => spans.filter((span) => span.serviceName.startsWith(prefix));
  return mine(await collector.waitFor((spans) => predicate(mine(spans)), { timeoutMs: 15000 }));
}

/** The traceparent a span's context is written as. */
export const traceparentOf = (span: CollectedSpan) => `00-${span.traceId}-${span.spanId}-01`;

/** Attributes as the fixtures print them (Binary as `{ base64 }`), for comparison. */
export function encodeAttributes(attributes: Record<string, MessageAttributeValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(attributes)) {
    out[name] = value.BinaryValue === undefined ? { ...value } : { ...value, BinaryValue: { base64: Buffer.from(value.BinaryValue).toString('base64') } };
  }
  return out;
}
