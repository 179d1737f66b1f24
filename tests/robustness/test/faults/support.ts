// Broker control and the control-vs-instrumented comparison shared by the fault suites.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startFixture, type CollectedSpan, type FixtureProcess, type SpanCollector } from '@threadline/testing';

export type BrokerName = 'kafka' | 'rabbitmq' | 'elasticmq' | 'mongodb';

const REPO = resolve(__dirname, '../../../..');
const CLI = resolve(REPO, 'tools/brokers/cli.mjs');
const STATE_DIR = resolve(process.env.THREADLINE_BROKERS_DIR || resolve(REPO, '.brokers'));
export const FIXTURES = resolve(__dirname, '../fixtures');
export const RUN_ID = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

const log = (line: string) => process.stderr.write(`[faults] ${line}\n`);

export function brokerPid(name: BrokerName): number {
  const file = resolve(STATE_DIR, 'run', `${name}.pid`);
  if (!existsSync(file)) throw new Error(`${file} is missing: is ${name} running from this state folder? (node tools/brokers/cli.mjs up ${name})`);
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${file} holds no pid`);
  return pid;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** `kill -9` of the broker's server process (pid from the brokers' state folder); waits until it is gone. */
export async function killBroker(name: BrokerName): Promise<void> {
  const pid = brokerPid(name);
  if (!alive(pid)) throw new Error(`${name} (pid ${pid}) is not running`);
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 10000;
  while (alive(pid) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 50));
  if (alive(pid)) throw new Error(`${name} (pid ${pid}) survived SIGKILL`);
  log(`killed ${name} (pid ${pid})`);
}

/** `node tools/brokers/cli.mjs up <name>`: starts it (or finds it healthy) and waits for its readiness probe. */
export function brokerUp(name: BrokerName): Promise<number> {
  const started = Date.now();
  return new Promise((resolveUp, reject) => {
    execFile(process.execPath, [CLI, 'up', name], { cwd: REPO, env: process.env, timeout: 240000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`brokers up ${name} failed: ${error.message}\n${stdout}\n${stderr}`));
      else {
        const ms = Date.now() - started;
        log(`${name} up in ${ms} ms: ${stdout.trim().split('\n').pop()}`);
        resolveUp(ms);
      }
    });
  });
}

export interface StreamResult {
  total: number;
  delivered: Array<[number, string[]]>;
  deliveries: number;
  attempts: number;
  failedAttempts: number;
  counters: Record<string, number>;
  problems: Array<{ kind: string; message: string; stack: string }>;
  spans?: { counts: Record<string, { started: number; ended: number }>; open: Array<{ name: string; ageMs: number }>; maxOpenProcess: number };
  memory: { rss: number; heapUsed: number };
  timedOut?: boolean;
  acknowledgedAttempts: number;
  lostBeforeLastFailure: string[];
  lostAfterLastFailure: string[];
}

export interface Run {
  name: 'control' | 'instrumented';
  fixture: FixtureProcess;
  service: string;
}

export function resultOf(run: Run, stdout: string, stderr: string): StreamResult {
  const line = stdout.split('\n').find((candidate) => candidate.startsWith('RESULT '));
  if (line === undefined) throw new Error(`${run.name} printed no RESULT\nstdout:\n${stdout.slice(-3000)}\nstderr:\n${stderr.slice(-3000)}`);
  return JSON.parse(line.slice('RESULT '.length)) as StreamResult;
}

/**
 * Starts the control (no hook) and the instrumented run (register hook) of one fixture side by
 * side on the same broker, each with its own queue/topic/collection from `env(run)`.
 */
export function startPair(file: string, collector: SpanCollector, env: (run: 'control' | 'instrumented') => Record<string, string>, loader: 'import' | 'require' = 'require'): Run[] {
  return (['control', 'instrumented'] as const).map((name) => {
    const service = `faults-${name}-${RUN_ID}`;
    const fixture = startFixture(resolve(FIXTURES, file), {
      collector,
      serviceName: service,
      loader: name === 'control' ? 'none' : loader,
      env: env(name),
    });
    return { name, fixture, service };
  });
}

/** Waits for every run to exit; kills what is left after `timeoutMs`. */
export async function finishAll(runs: Run[], timeoutMs: number): Promise<Record<'control' | 'instrumented', StreamResult>> {
  const timer = setTimeout(() => runs.forEach((run) => void run.fixture.stop('SIGKILL')), timeoutMs);
  try {
    const exits = await Promise.all(runs.map((run) => run.fixture.exited));
    const results = {} as Record<'control' | 'instrumented', StreamResult>;
    runs.forEach((run, index) => {
      const { code, signal, stdout, stderr } = exits[index];
      const result = resultOf(run, stdout, stderr);
      if (code !== 0 || result.timedOut) {
        throw new Error(`${run.name} exited ${code ?? signal}${result.timedOut ? ' (timed out)' : ''}\nstdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr.slice(-3000)}`);
      }
      results[run.name] = result;
    });
    return results;
  } finally {
    clearTimeout(timer);
  }
}

/** A stack whose first frame is threadline code: a problem threadline caused, not one it passed along. */
export function fromThreadline(stack: string): boolean {
  const firstFrame = stack.split('\n').find((line) => line.trim().startsWith('at '));
  return firstFrame !== undefined && /[\\/]packages[\\/]|@threadline[\\/]/.test(firstFrame);
}

/** Distinct message digests: seq → the digests received for it. */
export const digests = (result: StreamResult) => new Map(result.delivered.map(([seq, hashes]) => [seq, [...hashes].sort().join(',')]));

export function spansOfService(spans: CollectedSpan[], service: string): CollectedSpan[] {
  return spans.filter((span) => span.serviceName === service);
}

export const operation = (span: CollectedSpan) => span.name.split(' ')[0];

/**
 * The assertions every broker shares:
 * - the instrumented run delivers exactly the messages the control run delivers, byte for byte;
 * - no problem (unhandled rejection, uncaught exception) originates in threadline code;
 * - every span the hook started has ended, and arrived at the collector;
 * - memory after GC stays within a bound of the control's.
 */
export function assertSameDelivery(results: Record<'control' | 'instrumented', StreamResult>, expectedTotal: number): void {
  const { control, instrumented } = results;
  const controlDigests = digests(control);
  const tracedDigests = digests(instrumented);
  expect(controlDigests.size).toBe(expectedTotal);
  expect(tracedDigests.size).toBe(controlDigests.size);
  for (const [seq, hashes] of controlDigests) {
    // One digest per message: the same bytes on every (re)delivery, and the same as without instrumentation.
    expect([seq, tracedDigests.get(seq)]).toEqual([seq, hashes]);
    expect([seq, hashes.split(',').length]).toEqual([seq, 1]);
  }
  const threadlineProblems = instrumented.problems.filter((problem) => fromThreadline(problem.stack));
  expect(threadlineProblems).toEqual([]);
  // Whatever the libraries themselves leave unhandled shows up in both runs alike.
  expect(instrumented.problems.length).toBeLessThanOrEqual(control.problems.length);
}

export function assertSpansClosed(result: StreamResult, collected: CollectedSpan[]): void {
  const tracked = result.spans;
  if (tracked === undefined) throw new Error('the instrumented run has no span tracker (register hook not loaded?)');
  expect(tracked.open).toEqual([]);
  for (const [name, { started, ended }] of Object.entries(tracked.counts)) {
    expect([name, ended]).toEqual([name, started]);
    // Every ended span was exported: none lost at the collector.
    expect([name, collected.filter((span) => operation(span) === name).length]).toEqual([name, started]);
  }
}

export function assertMemoryBounded(results: Record<'control' | 'instrumented', StreamResult>): void {
  const { control, instrumented } = results;
  const mb = (bytes: number) => Math.round(bytes / 1048576);
  // The SDK, exporter and instrumentations cost some tens of MB once; a leak per message would grow past it.
  expect({ heapGrowthMb: mb(instrumented.memory.heapUsed - control.memory.heapUsed) }).toEqual({ heapGrowthMb: expect.any(Number) });
  expect(instrumented.memory.heapUsed - control.memory.heapUsed).toBeLessThan(40 * 1048576);
  expect(instrumented.memory.rss).toBeLessThan(400 * 1048576);
}

/** One line per run for the CI log: what the fault did to each. */
export function logSummary(broker: string, results: Record<'control' | 'instrumented', StreamResult>): void {
  for (const [name, result] of Object.entries(results)) {
    const spans = result.spans ? ` spans=${JSON.stringify(result.spans.counts)} maxOpenProcess=${result.spans.maxOpenProcess}` : '';
    log(
      `${broker} ${name}: delivered=${result.delivered.length}/${result.total} deliveries=${result.deliveries} attempts=${result.attempts} failed=${result.failedAttempts} ` +
        `acknowledged=${result.acknowledgedAttempts} lost=${JSON.stringify([result.lostBeforeLastFailure, result.lostAfterLastFailure])} ` +
        `counters=${JSON.stringify(result.counters)} problems=${result.problems.length} heap=${Math.round(result.memory.heapUsed / 1048576)}MB rss=${Math.round(result.memory.rss / 1048576)}MB${spans}`,
    );
  }
}

/** Context survived the fault: every consumer span is the child of a send span the same run exported. */
export function assertPropagated(spans: CollectedSpan[]): void {
  const sends = new Set(spans.filter((span) => operation(span) === 'send').map((span) => span.spanId));
  const processes = spans.filter((span) => operation(span) === 'process');
  const orphans = processes.filter((span) => span.parentSpanId === undefined || !sends.has(span.parentSpanId));
  expect({ processes: processes.length, withoutSendParent: orphans.length }).toEqual({ processes: processes.length, withoutSendParent: 0 });
}

/**
 * No message the broker acknowledged goes missing because of instrumentation: every attempt the
 * broker acknowledged after the last failure either run saw reached the consumer. With `durable`
 * (RabbitMQ persistent messages, Kafka acks=-1) nothing acknowledged may be lost at all.
 */
export function assertNoLoss(results: Record<'control' | 'instrumented', StreamResult>, durable: boolean): void {
  for (const [name, result] of Object.entries(results)) {
    expect([name, result.lostAfterLastFailure]).toEqual([name, []]);
    if (durable) expect([name, result.lostBeforeLastFailure]).toEqual([name, []]);
    expect(result.acknowledgedAttempts).toBeGreaterThanOrEqual(result.total);
  }
}

export interface FaultRun {
  results: Record<'control' | 'instrumented', StreamResult>;
  instrumented: StreamResult;
  /** The instrumented app's spans, once every span it started has arrived. */
  spans: CollectedSpan[];
}

/**
 * The shared fault scenario: both apps reach half-way, the broker is killed with SIGKILL and
 * restarted, both streams finish; then the checks every broker shares (same delivery, nothing
 * lost, every span ended and propagated).
 */
export async function killMidStreamAndFinish(
  broker: BrokerName,
  runs: Run[],
  collector: SpanCollector,
  options: { messages: number; durable: boolean; halfwayTimeoutMs: number; finishTimeoutMs: number },
): Promise<FaultRun> {
  await Promise.all(runs.map((run) => run.fixture.waitForLine(/^HALFWAY/, options.halfwayTimeoutMs)));
  await killBroker(broker);
  await new Promise((done) => setTimeout(done, 1500));
  await brokerUp(broker);
  const results = await finishAll(runs, options.finishTimeoutMs);
  logSummary(broker, results);
  const { instrumented } = results;
  const service = runs[1].service;
  const expected = Object.values(instrumented.spans?.counts ?? {}).reduce((total, { started }) => total + started, 0);
  const spans = spansOfService(await collector.waitFor((all) => spansOfService(all, service).length >= expected, { timeoutMs: 20_000 }), service);
  assertSameDelivery(results, options.messages);
  assertNoLoss(results, options.durable);
  assertSpansClosed(instrumented, spans);
  assertPropagated(spans);
  return { results, instrumented, spans };
}
