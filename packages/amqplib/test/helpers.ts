import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import {
  brokerAddresses,
  runFixture,
  startFixture,
  type CollectedSpan,
  type FixtureOptions,
  type FixtureResult,
  type SpanCollector,
} from '@threadline/testing';
import { decode } from './fixtures/lib/codec.cjs';

export const FIXTURE_CJS = resolve(__dirname, 'fixtures/run.cjs');
export const FIXTURE_ESM = resolve(__dirname, 'fixtures/run.mjs');

/** The installed amqplib copies: the newest (2.x, by its own name) and aliased older majors. */
export const LIBRARIES = {
  v2: { path: dirname(require.resolve('amqplib')), major: '2.' },
  v1: { path: dirname(require.resolve('amqplib-v1')), major: '1.' },
  v0: { path: dirname(require.resolve('amqplib-v0')), major: '0.10.' },
  'v0.10.0': { path: dirname(require.resolve('amqplib-v0-0')), major: '0.10.0' },
} as const;
export type LibraryName = keyof typeof LIBRARIES;

const RUN_ID = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
let counter = 0;

/** A queue, exchange or service name no earlier run used. */
export function unique(label: string): string {
  counter += 1;
  return `threadline-amqplib-${RUN_ID}-${counter}-${label}`;
}

/** Fails, with what to do, when the broker is not listening. */
export async function requireRabbitMq(): Promise<void> {
  const { host, rabbitmq } = brokerAddresses();
  await new Promise<void>((resolveProbe, reject) => {
    const socket = connect({ host, port: rabbitmq.port });
    socket.setTimeout(3000);
    socket.once('connect', () => {
      socket.destroy();
      resolveProbe();
    });
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`RabbitMQ is not reachable at ${host}:${rabbitmq.port} (${why}). Start it with: node tools/brokers/cli.mjs up rabbitmq`));
    };
    socket.once('timeout', () => fail('timeout'));
    socket.once('error', (error) => fail(error.message));
  });
}

export interface Printed {
  kind: string;
  value: any;
}

/** The `KIND <json>` lines a fixture printed. */
export function printed(stdout: string, kind: string): any[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith(`${kind} `))
    .map((line) => decode(line.slice(kind.length + 1)));
}

export interface FixtureRun {
  role: string;
  library?: LibraryName;
  esm?: boolean;
  env?: Record<string, string | undefined>;
  service: string;
  loader?: FixtureOptions['loader'];
  collector?: SpanCollector;
  /** Export metrics to the collector (OTLP JSON every 200 ms and at exit). */
  metrics?: boolean;
}

function options(run: FixtureRun): FixtureOptions {
  return {
    collector: run.collector,
    metrics: run.metrics,
    serviceName: run.service,
    loader: run.loader ?? 'import',
    // Generous: the suite shares two cores with brokers and other suites.
    timeoutMs: 45000,
    env: {
      AMQP_URL: brokerAddresses().rabbitmq.url,
      ROLE: run.role,
      LIB_PATH: run.esm ? undefined : LIBRARIES[run.library ?? 'v2'].path,
      ...run.env,
    },
  };
}

/** Checks that a fixture ran cleanly and loaded the expected amqplib. */
export function expectClean(result: FixtureResult, run: FixtureRun): FixtureResult {
  const context = `${run.service} (${run.role}) exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  // A crash, a failed scenario, or the register hook reporting a failed set-up.
  if (result.code !== 0 || /FIXTURE FAILED|\[threadline\]/.test(result.stderr)) throw new Error(context);
  const lines = [...printed(result.stdout, 'RESULT'), ...printed(result.stdout, 'RECEIVED')];
  const major = LIBRARIES[run.library ?? 'v2'].major;
  for (const line of lines) {
    if (!String(line.version).startsWith(major)) throw new Error(`expected amqplib ${major}x, ran ${line.version}\n${context}`);
    if (line.moduleSystem !== (run.esm ? 'esm' : 'cjs')) throw new Error(`ran as ${line.moduleSystem}\n${context}`);
  }
  return result;
}

export async function runRole(run: FixtureRun): Promise<FixtureResult> {
  return expectClean(await runFixture(run.esm ? FIXTURE_ESM : FIXTURE_CJS, options(run)), run);
}

/** Starts a long-running role (a consumer) and returns a promise of its clean exit. */
export function startRole(run: FixtureRun): Promise<FixtureResult> {
  const fixture = startFixture(run.esm ? FIXTURE_ESM : FIXTURE_CJS, options(run));
  const timer = setTimeout(() => void fixture.stop('SIGKILL'), 45000);
  return fixture.exited.then((result) => {
    clearTimeout(timer);
    return expectClean(result, run);
  });
}

/** Spans of the given services, once `predicate` holds for them. */
export async function spansOf(
  collector: SpanCollector,
  services: string[],
  predicate: (spans: CollectedSpan[]) => boolean,
): Promise<CollectedSpan[]> {
  const mine = (all: CollectedSpan[]) => all.filter((span) => services.includes(span.serviceName));
  return mine(await collector.waitFor((all) => predicate(mine(all)), { timeoutMs: 20000 }));
}

export const named = (spans: CollectedSpan[], name: string) => spans.filter((span) => span.name === name);

/** Every string an exported span carries: attributes, events, links, status. */
export function spanText(span: CollectedSpan): string {
  return JSON.stringify([span.name, span.attributes, span.events, span.links, span.status]);
}
