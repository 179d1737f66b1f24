// Shared by the integration tests: the @platformatic/kafka versions under test, whether this Node
// runs them, and the fixture runner.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { brokerAddresses, runFixture, type SpanCollector } from '@threadline/testing';
import { isSupportedNode } from '../src/instrumentation';

if (!existsSync(join(__dirname, '../dist/index.js'))) {
  throw new Error('packages/platformatic-kafka/dist is missing: run `pnpm --filter @threadline/platformatic-kafka build` first');
}

/** @platformatic/kafka 2.x needs Node 22.22+ or 24.6+ (its engines): the suites skip elsewhere. */
export const NODE_SUPPORTED = isSupportedNode(process.versions.node);
export const SKIP_REASON = `@platformatic/kafka 2.x does not run on Node ${process.versions.node} (it needs 22.22+ or 24.6+): skipped`;
/** `describe`, or `describe.skip` (with the reason printed once) on a Node the library does not run on. */
export const describeOnSupportedNode: jest.Describe = NODE_SUPPORTED
  ? describe
  : (((title: string, fn: () => void) => {
      process.stderr.write(`${SKIP_REASON}\n`);
      describe.skip(`${title} (${SKIP_REASON})`, fn);
    }) as unknown as jest.Describe);

export interface LibraryVersion {
  label: string;
  version: string;
  dir: string;
}

function versionAt(name: string): LibraryVersion {
  const dir = realpathSync(join(__dirname, '..', 'node_modules', name));
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  return { label: `@platformatic/kafka ${version}`, version, dir };
}

/** The oldest and the newest supported version (platformatic-kafka-oldest is an alias of 2.2.3). */
export const OLDEST = versionAt('platformatic-kafka-oldest');
export const NEWEST = versionAt('@platformatic/kafka');
if (OLDEST.version !== '2.2.3' || NEWEST.version !== '2.12.1') throw new Error(`unexpected versions ${OLDEST.version} / ${NEWEST.version}`);

const RUN_ID = `${Date.now().toString(36)}-${process.pid}`;
export const uniqueName = (name: string) => `threadline-platformatic-${name}-${RUN_ID}`;

export interface AppRun {
  file: string;
  service: string;
  version: LibraryVersion;
  collector?: SpanCollector;
  loader?: 'import' | 'require' | 'none';
  env?: Record<string, string>;
  /** Export metrics to the collector (OTLP JSON every 200 ms, and at exit). */
  metrics?: boolean;
}

/** Runs one fixture app to its end; returns its RESULT line and its output. */
export async function runApp<T = any>(run: AppRun): Promise<{ result: T; output: string }> {
  const fixture = await runFixture(join(__dirname, 'fixtures', run.file), {
    collector: run.collector,
    serviceName: run.service,
    metrics: run.metrics,
    loader: run.loader ?? (run.file.endsWith('.mjs') ? 'import' : 'require'),
    timeoutMs: 90000,
    env: {
      KAFKA_BROKERS: JSON.stringify(brokerAddresses().kafka.brokers),
      PLATFORMATIC_DIR: run.version.dir,
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      ...run.env,
    },
  });
  const line = fixture.stdout.split('\n').find((candidate) => candidate.startsWith('RESULT '));
  if (fixture.code !== 0 || line === undefined) {
    throw new Error(`${run.service} (${run.file}, ${run.version.label}) exited with ${fixture.code ?? fixture.signal}\nstdout:\n${fixture.stdout.slice(-4000)}\nstderr:\n${fixture.stderr.slice(-4000)}`);
  }
  return { result: JSON.parse(line.slice('RESULT '.length)) as T, output: fixture.stdout + fixture.stderr };
}
