import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { diagnose } from '../src/analyze';
import { EXIT_BAD_INPUT, EXIT_CLEAN, EXIT_GAPS, runCli } from '../src/cli';
import { formatReport } from '../src/format';
import type { DoctorReport } from '../src/types';
import { pipeline } from './spans';

const folder = mkdtempSync(join(tmpdir(), 'doctor-cli-'));
const healthyFile = join(folder, 'healthy.json');
const brokenFile = join(folder, 'broken.json');
writeFileSync(healthyFile, JSON.stringify(pipeline().spans));
writeFileSync(brokenFile, JSON.stringify(pipeline({ payments: 'no-instrumentation' }).spans));

afterAll(() => rmSync(folder, { recursive: true, force: true }));

async function run(argv: string[], stdinText?: string) {
  let stdout = '';
  let stderr = '';
  const stdin = Object.assign(Readable.from(stdinText === undefined ? [] : [Buffer.from(stdinText)]), { isTTY: stdinText === undefined });
  const code = await runCli(argv, {
    stdin,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

describe('runCli', () => {
  test('clean input: exit 0 and a clean verdict', async () => {
    const { code, stdout, stderr } = await run([healthyFile]);
    expect(code).toBe(EXIT_CLEAN);
    expect(stderr).toBe('');
    expect(stdout).toContain('1. Broken hops: none');
    expect(stdout).toMatch(/Result: clean \(exit 0\)\n$/);
  });

  test('a broken hop: exit 1 and the hop named', async () => {
    const { code, stdout } = await run([brokenFile]);
    expect(code).toBe(EXIT_GAPS);
    expect(stdout).toContain('✗ trace breaks at kafka topic `orders` between service `api` (send) and service `payments` (process): 3 of 3 messages.');
    expect(stdout).toContain('Result: 1 gap found (exit 1)');
  });

  test('--json prints the report object', async () => {
    const { code, stdout } = await run([brokenFile, '--json']);
    expect(code).toBe(EXIT_GAPS);
    const report = JSON.parse(stdout) as DoctorReport;
    expect(report.clean).toBe(false);
    expect(report.brokenHops.map((hop) => [hop.producerService, hop.consumerService, hop.channel.destination])).toEqual([['api', 'payments', 'orders']]);
  });

  test('options change the verdict', async () => {
    // A one-millisecond window leaves the consumer's new traces unexplained.
    expect((await run([brokenFile, '--window-ms', '1', '--json'])).stdout).toContain('"brokenHops": []');
    const { stdout } = await run([brokenFile, '--json', '--max-trace-ms=5', '--root-ratio', '0.9', '--max-loop-children', '3', '--clock-skew-ms', '0']);
    expect((JSON.parse(stdout) as DoctorReport).options).toEqual({ windowMs: 10000, maxTraceMs: 5, rootRatio: 0.9, maxLoopChildren: 3, clockSkewMs: 0 });
  });

  test('reads stdin with - and when input is piped with no argument', async () => {
    const text = JSON.stringify(pipeline().spans);
    expect((await run(['-'], text)).code).toBe(EXIT_CLEAN);
    expect((await run([], text)).code).toBe(EXIT_CLEAN);
  });

  test.each([
    ['an unknown option', ['--colour'], /Unknown option '--colour'/],
    ['a non-numeric threshold', [healthyFile, '--window-ms', 'soon'], /--window-ms expects a number, got 'soon'/],
    ['an out-of-range threshold', [healthyFile, '--root-ratio', '2'], /rootRatio must be between 0 and 1, got 2/],
    ['a missing file', [join(folder, 'nope.json')], /nope\.json: no such file or folder/],
    ['no input on a terminal', [], /no input: name files or folders/],
  ])('%s: exit 2 with a clear message', async (_case, argv, message) => {
    const { code, stdout, stderr } = await run(argv);
    expect(code).toBe(EXIT_BAD_INPUT);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });

  test('input without spans is bad input', async () => {
    const { code, stderr } = await run(['-'], '{"resourceSpans": []}');
    expect(code).toBe(EXIT_BAD_INPUT);
    expect(stderr).toBe('threadline-doctor: no spans found in -\n');
  });

  test('--help and --version', async () => {
    expect((await run(['--help'])).stdout).toMatch(/^Usage: threadline-doctor/);
    expect((await run(['-v'])).stdout).toBe('0.1.0\n');
  });
});

describe('formatReport', () => {
  test('prints every section, the thresholds and the verdict', () => {
    const { spans } = pipeline({ payments: 'no-context' });
    const text = formatReport(diagnose(spans));
    expect(text).toContain('threadline-doctor: 18 spans, 6 traces, 3 services (api, ledger, payments)');
    expect(text).toContain('    evidence: `payments` consumer spans start a new trace right after each send (the message arrived without context)');
    expect(text).toMatch(/2\. Consumer spans that start a new trace, per service \(flagged above 0\.5\): 1 flagged/);
    expect(text).toMatch(/ {2}payments +3 +3 +0 +1\.00 +✗ mostly new traces/);
    expect(text).toMatch(/ {2}ledger +3 +0 +0 +0\.00 +ok/);
    expect(text).toContain('3. Orphans (parent span never arrived): none');
    expect(text).toContain('4. Joined by link (not breaks): none');
    expect(text).toContain('5. Never-ending traces: none');
    expect(text).toContain('Result: 2 gaps found (exit 1)');
  });
});

describe('the built bin', () => {
  const bin = resolve(__dirname, '../dist/cli.js');

  test('runs as a child process with the documented exit codes', () => {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run pnpm --filter @threadline/doctor build first`);
    const clean = spawnSync(process.execPath, [bin, healthyFile], { encoding: 'utf8' });
    expect([clean.status, clean.stderr]).toEqual([0, '']);
    const broken = spawnSync(process.execPath, [bin, '--json', brokenFile], { encoding: 'utf8' });
    expect(broken.status).toBe(1);
    expect((JSON.parse(broken.stdout) as DoctorReport).brokenHops).toHaveLength(1);
    const bad = spawnSync(process.execPath, [bin, join(folder, 'missing')], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('no such file or folder');
  });
});
