#!/usr/bin/env node
// The README's two commands: `npm test` and `npm run demo`. Each installs what it needs
// (pnpm at the pinned version, dependencies, a build, the brokers) and is safe to run again.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const task = process.argv[2] ?? 'test';
const extraArgs = process.argv.slice(3);
const pinned = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' };

function step(message) {
  process.stdout.write(`\n▶ ${message}\n`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env, ...options });
  if (result.error) throw new Error(`${command} could not start: ${result.error.message}`);
  return result.status ?? 1;
}

function must(command, args, what) {
  const status = run(command, args);
  if (status !== 0) {
    process.stderr.write(`\n✖ ${what} failed (exit ${status})\n`);
    process.exit(status);
  }
}

function pnpmCommand() {
  const local = join(root, '.cache', 'pnpm', 'node_modules', '.bin', 'pnpm');
  for (const candidate of ['pnpm', local]) {
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8', env });
    if (probe.status === 0 && probe.stdout.trim() === pinned) return candidate;
  }
  step(`installing pnpm ${pinned} into .cache/pnpm`);
  must('npm', ['install', '--no-audit', '--no-fund', '--prefix', join(root, '.cache', 'pnpm'), `pnpm@${pinned}`], 'installing pnpm');
  return local;
}

function summarizeJest() {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let suites = 0;
  for (const base of ['packages', 'examples', 'tests']) {
    const dir = join(root, base);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      for (const report of ['jest.json', 'faults.json']) {
        const file = join(dir, name, 'test-results', report);
        if (!existsSync(file)) continue;
        const results = JSON.parse(readFileSync(file, 'utf8'));
        passed += results.numPassedTests;
        failed += results.numFailedTests + (results.numRuntimeErrorTestSuites ?? 0);
        skipped += results.numPendingTests + (results.numTodoTests ?? 0);
        suites += results.numTotalTestSuites;
      }
    }
  }
  process.stdout.write(`\n${suites} test suites\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  return failed;
}

/** The demo's HTML check opens the waterfall in a real headless browser: Debian's chromium. */
function ensureChromium() {
  if (spawnSync('chromium', ['--version'], { env }).status === 0) return;
  const root = process.getuid?.() === 0;
  if (spawnSync('apt-get', ['--version'], { env }).status !== 0 || !root) {
    process.stdout.write('chromium is missing and cannot be installed here (needs root and apt-get): the HTML waterfall check will fail; install it with `apt-get install -y chromium`\n');
    return;
  }
  step('installing chromium (apt-get) for the HTML waterfall check');
  must('apt-get', ['update', '-q'], 'apt-get update');
  must('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'chromium'], 'apt-get install chromium');
}

const pnpm = pnpmCommand();
step('installing dependencies');
must(pnpm, ['install', ...(process.env.CI ? ['--frozen-lockfile'] : [])], 'pnpm install');
step('building');
must(pnpm, ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], 'build');

if (task === 'test') {
  ensureChromium();
  step('starting the brokers (tools/brokers)');
  must('node', ['tools/brokers/cli.mjs', 'up'], 'brokers up');
  step('lint, typecheck and tests');
  const statuses = [run(pnpm, ['exec', 'turbo', 'run', 'lint', 'typecheck', 'test', '--continue', '--concurrency=2', '--output-logs=new-only', ...extraArgs])];
  step('benchmark smoke test (pnpm bench --quick: small N, no timing is judged)');
  statuses.push(run(pnpm, ['bench', '--quick']));
  if (existsSync(join(root, 'tests', 'robustness', 'package.json'))) {
    // Last, and alone: these tests kill and restart the brokers.
    step('broker fault tests (kill -9 each broker mid-stream)');
    statuses.push(run(pnpm, ['--filter', '@threadline/robustness-tests', 'run', 'test:faults']));
  }
  const failedTests = summarizeJest();
  process.exit(statuses.find((status) => status !== 0) ?? (failedTests > 0 ? 1 : 0));
} else if (task === 'demo') {
  step('starting the brokers (tools/brokers)');
  must('node', ['tools/brokers/cli.mjs', 'up'], 'brokers up');
  const demo = existsSync(join(root, 'examples', 'order-pipeline', 'package.json')) ? 'order-pipeline' : 'hello-trace';
  step(`running examples/${demo}`);
  process.exit(run(pnpm, ['--filter', `./examples/${demo}`, 'run', 'demo', ...extraArgs]));
} else {
  process.stderr.write(`unknown task ${task}; use test or demo\n`);
  process.exit(2);
}
