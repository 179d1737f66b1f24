import * as childProcess from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { ChildProcessInstrumentation, RUN_NAME_ENV, type ChildProcessInstrumentationConfig } from '../src';
import type { AnyFunction } from '../src/internal-types';
import { setupInMemoryOtel as setupOtel, VALID_TRACEPARENT } from '@threadline/testing';
import { childProcessWrapper } from './wrappers';

const { exporter, tracer } = setupOtel();

const NODE = process.execPath;
const PRINT_ENV = join(__dirname, 'fixtures', 'print-env.cjs');
const SHELL_PRINT_ENV = `"${NODE}" "${PRINT_ENV}"`;
const FOREIGN_TRACEPARENT = '00-11111111111111111111111111111111-2222222222222222-01';

interface Printed {
  env: Record<string, string>;
  cwd: string;
  args: string[];
}

function parsePrinted(stdout: unknown): Printed {
  const text = Buffer.isBuffer(stdout) ? stdout.toString('utf8') : String(stdout);
  return JSON.parse(text.trim().split('\n').pop() as string) as Printed;
}

function wrapped<K extends keyof typeof childProcess>(method: K, config: ChildProcessInstrumentationConfig = {}): (typeof childProcess)[K] {
  const instrumentation = new ChildProcessInstrumentation({ enabled: false, ...config });
  return childProcessWrapper(instrumentation, method as never, childProcess[method] as unknown as AnyFunction) as unknown as (typeof childProcess)[K];
}

/** Runs `fn` inside a fresh span; returns its result and the traceparent a direct child of that span's spawn span would see. */
function inSpan<R>(fn: () => R): { result: R; traceId: string; parentSpanId: string } {
  const parent = tracer.startSpan('work');
  const ctx = propagation.setBaggage(trace.setSpan(ROOT_CONTEXT, parent), propagation.createBaggage({ tenant: { value: 'acme' } }));
  const result = context.with(ctx, fn);
  parent.end();
  return { result, traceId: parent.spanContext().traceId, parentSpanId: parent.spanContext().spanId };
}

/** The spawn span and the traceparent that names it. */
function spawnSpan(name: string) {
  const span = exporter.getFinishedSpans().find((candidate) => candidate.name === name);
  if (span === undefined) throw new Error(`no span ${name}; have ${exporter.getFinishedSpans().map((s) => s.name).join(', ')}`);
  return { span, traceparent: `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01` };
}

function outputOf(child: ChildProcess): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, code }));
  });
}

const envBefore = JSON.stringify(process.env);
beforeEach(() => exporter.reset());
afterEach(() => {
  delete process.env.TRACEPARENT;
  delete process.env[RUN_NAME_ENV];
  delete process.env.MARK;
});
afterAll(() => {
  // Nothing this file ran may have written to the parent's env.
  expect(JSON.stringify(process.env)).toBe(envBefore);
});

describe('every function and argument shape carries the context, and Node reads the rest of the call as before', () => {
  test.each([
    ['spawnSync(file, args)', () => wrapped('spawnSync')(NODE, [PRINT_ENV, 'a']).stdout],
    ['spawnSync(file, args, options)', () => wrapped('spawnSync')(NODE, [PRINT_ENV, 'a'], { cwd: tmpdir() }).stdout],
    ['spawnSync(file, undefined, options)', () => wrapped('spawnSync')(NODE, undefined, { cwd: tmpdir(), input: `require(${JSON.stringify(PRINT_ENV)})` }).stdout],
    ['execSync(command)', () => wrapped('execSync')(`${SHELL_PRINT_ENV} a`, { stdio: 'pipe' })],
    ['execSync(command, options)', () => wrapped('execSync')(`${SHELL_PRINT_ENV} a`, { cwd: tmpdir(), encoding: 'utf8' })],
    ['execFileSync(file, args)', () => wrapped('execFileSync')(NODE, [PRINT_ENV, 'a'])],
    ['execFileSync(file, args, options)', () => wrapped('execFileSync')(NODE, [PRINT_ENV, 'a'], { cwd: tmpdir(), encoding: 'utf8' })],
    ['execFileSync(file, options)', () => wrapped('execFileSync')(NODE, { cwd: tmpdir(), input: `require(${JSON.stringify(PRINT_ENV)})` })],
  ])('%s', (label, run) => {
    const { result, traceId } = inSpan(run);
    const printed = parsePrinted(result);
    const { span, traceparent } = spawnSpan('spawn node');
    expect(span.spanContext().traceId).toBe(traceId);
    expect(printed.env.TRACEPARENT).toBe(traceparent);
    expect(printed.env.BAGGAGE).toBe('tenant=acme');
    if (label.includes('options')) expect(printed.cwd).toBe(tmpdir());
    if (!label.includes('undefined') && !label.includes('(file, options)')) expect(printed.args).toEqual(['a']);
  });

  test.each([
    ['exec(command, callback)', (done: (stdout: string) => void) => wrapped('exec')(`${SHELL_PRINT_ENV} a`, (_e, stdout) => done(String(stdout)))],
    ['exec(command, options, callback)', (done: (stdout: string) => void) => wrapped('exec')(`${SHELL_PRINT_ENV} a`, { cwd: tmpdir() }, (_e, stdout) => done(String(stdout)))],
    ['exec(command, undefined, callback)', (done: (stdout: string) => void) => wrapped('exec')(`${SHELL_PRINT_ENV} a`, undefined, (_e, stdout) => done(String(stdout)))],
    ['execFile(file, args, callback)', (done: (stdout: string) => void) => wrapped('execFile')(NODE, [PRINT_ENV, 'a'], (_e, stdout) => done(String(stdout)))],
    ['execFile(file, args, options, callback)', (done: (stdout: string) => void) => wrapped('execFile')(NODE, [PRINT_ENV, 'a'], { cwd: tmpdir() }, (_e, stdout) => done(String(stdout)))],
    ['execFile(file, null, options, callback)', (done: (stdout: string) => void) => wrapped('execFile')(NODE, null, { cwd: tmpdir() }, (_e, stdout) => done(String(stdout))).stdin?.end(`require(${JSON.stringify(PRINT_ENV)})`)],
    ['execFile(file, options, callback)', (done: (stdout: string) => void) => wrapped('execFile')(NODE, { cwd: tmpdir() }, (_e, stdout) => done(String(stdout))).stdin?.end(`require(${JSON.stringify(PRINT_ENV)})`)],
  ])('%s', async (label, run) => {
    let settle!: (stdout: string) => void;
    const output = new Promise<string>((resolve) => (settle = resolve));
    const callbackSpans: unknown[] = [];
    inSpan(() => run((stdout) => {
      callbackSpans.push(trace.getActiveSpan());
      settle(stdout);
    }));
    const printed = parsePrinted(await output);
    const { traceparent } = spawnSpan('spawn node');
    expect(printed.env.TRACEPARENT).toBe(traceparent);
    if (label.includes('options')) expect(printed.cwd).toBe(tmpdir());
    if (label.includes('args')) expect(printed.args).toEqual(['a']);
    // The callback runs in the caller's context, not inside the (already ended) spawn span.
    expect((callbackSpans[0] as { name?: string } | undefined)?.name).toBe('work');
  });

  test('spawn(file, args, options): the span covers the launch and records the pid', async () => {
    const { result: child } = inSpan(() => wrapped('spawn')(NODE, [PRINT_ENV], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const { stdout } = await outputOf(child);
    const { span, traceparent } = spawnSpan('spawn node');
    expect(span.kind).toBe(SpanKind.PRODUCER);
    expect(span.attributes['process.pid']).toBe(child.pid);
    expect(span.attributes['process.executable.name']).toBe('node');
    expect(parsePrinted(stdout).env.TRACEPARENT).toBe(traceparent);
  });

  test('fork(module, options): named after the module', async () => {
    const { result: child } = inSpan(() => wrapped('fork')(PRINT_ENV, ['a'], { silent: true }));
    const { stdout } = await outputOf(child);
    const printed = parsePrinted(stdout);
    const { traceparent } = spawnSpan('spawn print-env.cjs');
    expect(printed.env.TRACEPARENT).toBe(traceparent);
    expect(printed.env[RUN_NAME_ENV]).toBe('print-env.cjs');
    expect(printed.args).toEqual(['a']);
  });

  test('fork(module) without args or options', async () => {
    const { result: child } = inSpan(() => wrapped('fork')(PRINT_ENV, { silent: true }));
    const printed = parsePrinted((await outputOf(child)).stdout);
    expect(printed.env.TRACEPARENT).toBe(spawnSpan('spawn print-env.cjs').traceparent);
  });
});

test('util.promisify keeps resolving { stdout, stderr } for exec and execFile, with the context carried', async () => {
  const exec = promisify(wrapped('exec'));
  const execFile = promisify(wrapped('execFile'));
  const { result } = inSpan(() => Promise.all([exec(SHELL_PRINT_ENV), execFile(NODE, [PRINT_ENV])]));
  const [fromExec, fromExecFile] = await result;
  expect(Object.keys(fromExec).sort()).toEqual(['stderr', 'stdout']);
  expect(Object.keys(fromExecFile).sort()).toEqual(['stderr', 'stdout']);
  const spans = exporter.getFinishedSpans().filter((span) => span.name === 'spawn node');
  expect(spans).toHaveLength(2);
  const carried = [parsePrinted(fromExec.stdout).env.TRACEPARENT, parsePrinted(fromExecFile.stdout).env.TRACEPARENT].sort();
  expect(carried).toEqual(spans.map((span) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`).sort());
  // The promise keeps its `child` too.
  const { result: pending } = inSpan(() => exec(SHELL_PRINT_ENV));
  expect(typeof (pending as unknown as { child: ChildProcess }).child.pid).toBe('number');
  await pending;
});

test('a TRACEPARENT the caller passed wins; one merely inherited from this process is replaced', () => {
  process.env.TRACEPARENT = FOREIGN_TRACEPARENT;
  const spawnSync = wrapped('spawnSync');

  const inherited = parsePrinted(inSpan(() => spawnSync(NODE, [PRINT_ENV])).result.stdout);
  const inheritedSpread = parsePrinted(inSpan(() => spawnSync(NODE, [PRINT_ENV], { env: { ...process.env } })).result.stdout);
  const own = parsePrinted(inSpan(() => spawnSync(NODE, [PRINT_ENV], { env: { ...process.env, TRACEPARENT: VALID_TRACEPARENT } })).result.stdout);

  const spans = exporter.getFinishedSpans().filter((span) => span.name === 'spawn node');
  const named = spans.map((span) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
  expect(inherited.env.TRACEPARENT).toBe(named[0]);
  expect(inheritedSpread.env.TRACEPARENT).toBe(named[1]);
  expect(own.env.TRACEPARENT).toBe(VALID_TRACEPARENT);
  expect(own.env.BAGGAGE).toBeUndefined();
  expect(process.env.TRACEPARENT).toBe(FOREIGN_TRACEPARENT);
});

test('an explicit TRACEPARENT: undefined opts the child out: no context and no run name reach it', () => {
  delete process.env.TRACEPARENT;
  const { result } = inSpan(() => wrapped('spawnSync')(NODE, [PRINT_ENV], { env: { PATH: process.env.PATH, TRACEPARENT: undefined } }));
  const printed = parsePrinted(result.stdout);
  expect(printed.env.TRACEPARENT).toBeUndefined();
  expect(printed.env[RUN_NAME_ENV]).toBeUndefined();
  // The spawn itself is still traced.
  expect(spawnSpan('spawn node')).toBeDefined();
});

test('an explicit env is copied, never written to; its other variables arrive as they were', () => {
  const env = Object.freeze({ PATH: process.env.PATH, MARK: 'kept', traceparent: VALID_TRACEPARENT });
  const { result } = inSpan(() => wrapped('spawnSync')(NODE, [PRINT_ENV], { env }));
  const printed = parsePrinted(result.stdout);
  expect(printed.env.MARK).toBe('kept');
  // A lowercase traceparent is not a carrier per the spec: ours is added beside it.
  expect(printed.env.traceparent).toBe(VALID_TRACEPARENT);
  expect(printed.env.TRACEPARENT).toBe(spawnSpan('spawn node').traceparent);
  expect(Object.keys(env)).toEqual(['PATH', 'MARK', 'traceparent']);
});

test('allowLowercaseEnv: a lowercase traceparent the caller set counts as their context', () => {
  const env = { PATH: process.env.PATH, traceparent: VALID_TRACEPARENT };
  const { result } = inSpan(() => wrapped('spawnSync', { allowLowercaseEnv: true })(NODE, [PRINT_ENV], { env }));
  const printed = parsePrinted(result.stdout);
  expect(printed.env.traceparent).toBe(VALID_TRACEPARENT);
  expect(printed.env.TRACEPARENT).toBeUndefined();
});

test('run name: the executable, the script of a node command, never one merely inherited', () => {
  process.env[RUN_NAME_ENV] = 'parent-job';
  const script = `"${NODE}" "${PRINT_ENV}"`;
  const viaShell = parsePrinted(inSpan(() => wrapped('spawnSync')('sh', ['-c', script])).result.stdout);
  const viaNode = parsePrinted(inSpan(() => wrapped('spawnSync')(NODE, ['--stack-trace-limit=5', '-r', PRINT_ENV, PRINT_ENV])).result.stdout);
  const inline = parsePrinted(inSpan(() => wrapped('spawnSync')(NODE, ['-e', `require(${JSON.stringify(PRINT_ENV)})`])).result.stdout);
  const chosen = parsePrinted(inSpan(() => wrapped('spawnSync')('sh', ['-c', script], { env: { ...process.env, [RUN_NAME_ENV]: 'mine' } })).result.stdout);
  expect(viaShell.env[RUN_NAME_ENV]).toBe('sh');
  expect(viaNode.env[RUN_NAME_ENV]).toBe('print-env.cjs');
  expect(inline.env[RUN_NAME_ENV]).toBeUndefined();
  expect(chosen.env[RUN_NAME_ENV]).toBe('mine');
});

test("a Job's THREADLINE_SENT_AT is never inherited: a child of the job's process is no delivery of that Job", () => {
  process.env.THREADLINE_SENT_AT = '1700000000000';
  try {
    const inherited = parsePrinted(inSpan(() => wrapped('spawnSync')(NODE, [PRINT_ENV])).result.stdout);
    const spread = parsePrinted(inSpan(() => wrapped('spawnSync')(NODE, [PRINT_ENV], { env: { ...process.env } })).result.stdout);
    const own = parsePrinted(inSpan(() => wrapped('spawnSync')(NODE, [PRINT_ENV], { env: { ...process.env, THREADLINE_SENT_AT: '42' } })).result.stdout);
    expect(inherited.env.THREADLINE_SENT_AT).toBeUndefined();
    expect(spread.env.THREADLINE_SENT_AT).toBeUndefined();
    // A value the caller set themselves is theirs.
    expect(own.env.THREADLINE_SENT_AT).toBe('42');
  } finally {
    delete process.env.THREADLINE_SENT_AT;
  }
});

test('outside any span nothing changes: no span, and the env is what the caller gave', () => {
  const spawnSync = wrapped('spawnSync');
  const bare = parsePrinted(spawnSync(NODE, [PRINT_ENV]).stdout);
  const given = parsePrinted(spawnSync(NODE, [PRINT_ENV], { env: { PATH: process.env.PATH, TRACEPARENT: FOREIGN_TRACEPARENT } }).stdout);
  expect(bare.env.TRACEPARENT).toBeUndefined();
  expect(given.env.TRACEPARENT).toBe(FOREIGN_TRACEPARENT);
  expect(exporter.getFinishedSpans()).toHaveLength(0);
});

test('requireParentSpan: false gives a process started outside any span a root spawn span', () => {
  const printed = parsePrinted(wrapped('spawnSync', { requireParentSpan: false })(NODE, [PRINT_ENV]).stdout);
  const { span, traceparent } = spawnSpan('spawn node');
  expect(span.parentSpanContext).toBeUndefined();
  expect(printed.env.TRACEPARENT).toBe(traceparent);
});

test('propagation-only: no span; the child carries the active span', () => {
  const { result, traceId, parentSpanId } = inSpan(() => wrapped('spawnSync', { mode: 'propagation-only' })(NODE, [PRINT_ENV]));
  expect(parsePrinted(result.stdout).env.TRACEPARENT).toBe(`00-${traceId}-${parentSpanId}-01`);
  expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['work']);
});

test('a sync child that fails: the span records the exit code and the error, the caller gets the same error', () => {
  const { result } = inSpan(() => wrapped('spawnSync')(NODE, [PRINT_ENV, '--fail']));
  expect(result.status).toBe(3);
  const failed = spawnSpan('spawn node').span;
  expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'exited with code 3' });
  expect(failed.attributes['process.exit.code']).toBe(3);

  exporter.reset();
  let thrown: unknown;
  inSpan(() => {
    try {
      wrapped('execFileSync')(NODE, [PRINT_ENV, '--fail'], { stdio: 'pipe' });
    } catch (error) {
      thrown = error;
    }
  });
  expect((thrown as { status?: number }).status).toBe(3);
  const threw = spawnSpan('spawn node').span;
  expect(threw.status.code).toBe(SpanStatusCode.ERROR);
  expect(threw.attributes['process.exit.code']).toBe(3);
});

test('a launch failure reaches the caller\'s error listener and marks the span', async () => {
  const { result: child } = inSpan(() => wrapped('spawn')('/nonexistent/threadline-binary', ['x']));
  const error = await new Promise<NodeJS.ErrnoException>((resolve) => child.on('error', resolve));
  expect(error.code).toBe('ENOENT');
  const { span } = spawnSpan('spawn threadline-binary');
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
  expect(span.attributes['process.pid']).toBeUndefined();
});

test('arguments Node rejects are passed through: the same TypeError, no span', () => {
  const spawn = wrapped('spawn');
  // Node's own TypeError (from outside Jest's realm, hence matched by code).
  expect(() => inSpan(() => spawn(NODE, 'not-an-array' as never))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(exporter.getFinishedSpans().filter((span) => span.name.startsWith('spawn'))).toEqual([]);
});

test('exec calls execFile inside: with both patched there is one span, not two', async () => {
  const instrumentation = new ChildProcessInstrumentation({ enabled: false });
  // The CommonJS exports object itself, which Node's exec reads execFile from.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const moduleExports = require('node:child_process') as Record<string, unknown>;
  const originalExecFile = moduleExports.execFile;
  moduleExports.execFile = childProcessWrapper(instrumentation, 'execFile', originalExecFile as AnyFunction);
  try {
    const exec = childProcessWrapper(instrumentation, 'exec', childProcess.exec as unknown as AnyFunction) as typeof childProcess.exec;
    const { result } = inSpan(() => promisify(exec)(SHELL_PRINT_ENV));
    const printed = parsePrinted((await result).stdout);
    const spans = exporter.getFinishedSpans().filter((span) => span.name.startsWith('spawn'));
    expect(spans.map((span) => span.name)).toEqual(['spawn node']);
    expect(printed.env.TRACEPARENT).toBe(spawnSpan('spawn node').traceparent);
  } finally {
    moduleExports.execFile = originalExecFile;
  }
});

test('suppressed tracing (the SDK\'s own helper processes): no span and no context', () => {
  const { result } = inSpan(() =>
    context.with(suppressTracing(context.active()), () => wrapped('spawnSync')(NODE, [PRINT_ENV], { env: { PATH: process.env.PATH } })),
  );
  expect(parsePrinted(result.stdout).env).toEqual({});
  expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['work']);
});
