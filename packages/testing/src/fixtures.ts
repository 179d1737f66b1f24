import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SpanCollector } from './collector';

/**
 * The register hook's entry file as the package in `fromDir` resolves it. This package does not
 * depend on @threadline/register (that would be a cycle): a package whose tests run fixtures
 * under the hook declares it as a devDependency, and turbo builds it first.
 */
export function registerEntry(fromDir: string = process.cwd()): string {
  try {
    return createRequire(join(fromDir, 'package.json')).resolve('@threadline/register');
  } catch {
    throw new Error(`@threadline/register is not resolvable from ${fromDir}: declare it as a devDependency and build it (pnpm build)`);
  }
}

export interface FixtureOptions {
  /** Where the fixture's spans go. Without one, the fixture exports nothing. */
  collector?: SpanCollector;
  /** OTEL_SERVICE_NAME of the fixture. */
  serviceName?: string;
  /**
   * Export metrics to the collector too (OTLP/HTTP JSON, every 200 ms). Off by default:
   * `OTEL_METRICS_EXPORTER=none`, so fixtures that test spans do not pay for metrics.
   */
  metrics?: boolean;
  /** Extra environment; wins over everything the runner sets. */
  env?: Record<string, string | undefined>;
  args?: string[];
  /** `import` (default) runs `node --import @threadline/register`, `require` uses --require, `none` runs uninstrumented. */
  loader?: 'import' | 'require' | 'none';
  timeoutMs?: number;
  /** Defaults to the fixture's package folder (the nearest one above it with a package.json). */
  cwd?: string;
}

export interface FixtureResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function packageDir(file: string): string {
  let dir = dirname(file);
  while (!existsSync(resolve(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

function buildCommand(file: string, options: FixtureOptions): { args: string[]; env: NodeJS.ProcessEnv; cwd: string } {
  const loader = options.loader ?? 'import';
  const cwd = options.cwd ?? packageDir(file);
  const entry = loader === 'none' ? '' : registerEntry(packageDir(file));
  const hook = loader === 'import' ? ['--import', pathToFileURL(entry).href] : loader === 'require' ? ['--require', entry] : [];
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // The parent's test-runner flags and OTel settings must not leak into the fixture; NODE_PATH
    // (set by pnpm's bin shims) would let a fixture resolve packages its app does not depend on.
    if (key === 'NODE_OPTIONS' || key === 'NODE_PATH' || key.startsWith('OTEL_') || key.startsWith('JEST_')) continue;
    env[key] = value;
  }
  Object.assign(env, {
    OTEL_SERVICE_NAME: options.serviceName ?? 'fixture',
    OTEL_TRACES_EXPORTER: options.collector ? 'otlp' : 'none',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_METRICS_EXPORTER: options.collector && options.metrics === true ? 'otlp' : 'none',
    OTEL_METRIC_EXPORT_INTERVAL: '200',
  });
  if (options.collector) env.OTEL_EXPORTER_OTLP_ENDPOINT = options.collector.url;
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return { args: [...hook, file, ...(options.args ?? [])], env, cwd };
}

export interface FixtureProcess {
  pid: number | undefined;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `pattern`; rejects on timeout or exit. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the process exits by itself. */
  exited: Promise<FixtureResult>;
  /** Sends `signal` (default SIGTERM) and resolves when the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<FixtureResult>;
}

/** Starts a fixture script as a child process under the register hook and leaves it running. */
export function startFixture(file: string, options: FixtureOptions = {}): FixtureProcess {
  const { args, env, cwd } = buildCommand(file, options);
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const lineWaiters = new Set<() => void>();
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    for (const wake of lineWaiters) wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<FixtureResult>((resolveExit) => {
    child.on('close', (code, signal) => {
      resolveExit({ code, signal, stdout, stderr });
      for (const wake of lineWaiters) wake();
    });
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });

  return {
    pid: child.pid,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForLine(pattern, timeoutMs = 20000) {
      return new Promise((resolveLine, reject) => {
        const check = () => {
          const line = stdout.split('\n').find((candidate) => pattern.test(candidate));
          if (line !== undefined) {
            done();
            resolveLine(line);
          } else if (hasExited || child.exitCode !== null) {
            done();
            reject(new Error(`${file} exited before printing ${pattern}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${file} did not print ${pattern} within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          lineWaiters.delete(check);
        };
        lineWaiters.add(check);
        check();
      });
    },
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs a fixture to completion; resolves with its exit and output (a non-zero exit does not reject). */
export async function runFixture(file: string, options: FixtureOptions = {}): Promise<FixtureResult> {
  const fixture = startFixture(file, options);
  const timeoutMs = options.timeoutMs ?? 30000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      fixture.child.kill('SIGKILL');
      reject(new Error(`${file} did not finish within ${timeoutMs} ms\nstdout:\n${fixture.stdout()}\nstderr:\n${fixture.stderr()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([fixture.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
