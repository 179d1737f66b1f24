#!/usr/bin/env node
// The README's two commands: `npm test` and `npm run demo` (and `npm run bootstrap`, install and
// build only). Each needs only Node and npm: it installs pnpm at the version `packageManager`
// pins, the dependencies, a build and the brokers, and is safe to run again.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { ensureNode, ensurePnpm, extraNodeLines, pinnedPnpmVersion, repoRoot as root, toolPath } from './toolchain.mjs';
import { ensureConfluentKafka } from './confluent-kafka.mjs';

const TASKS = {
  setup: 'install pnpm and the dependencies, then build',
  test: 'setup, then the brokers, lint, typecheck and every test (on each Node line), as CI runs it',
  demo: 'setup, then the brokers and the end-to-end demo',
};
const task = process.argv[2] ?? 'setup';
const extraArgs = process.argv.slice(3);

// Refused before anything is installed.
if (!Object.hasOwn(TASKS, task)) {
  process.stderr.write(`unknown task "${task}"; one of:\n${Object.entries(TASKS).map(([name, what]) => `  ${name.padEnd(6)} ${what}`).join('\n')}\n`);
  process.exit(2);
}

const baseEnv = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' };
// Every child process finds the pinned pnpm and the workspace's turbo/jest first, never a global one.
const env = { ...baseEnv, PATH: toolPath(process.env.PATH) };

function step(message) {
  process.stdout.write(`\n▶ ${message}\n`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env, ...options });
  if (result.error) throw new Error(`${command} could not start: ${result.error.message}`);
  return result.status ?? 1;
}

function must(command, args, what, options) {
  const status = run(command, args, options);
  if (status !== 0) {
    process.stderr.write(`\n✖ ${what} failed (exit ${status})\n`);
    process.exit(status);
  }
}

function guarded(what, fn) {
  try {
    return fn();
  } catch (error) {
    process.stderr.write(`\n✖ ${what}: ${error.message}\n`);
    process.exit(1);
  }
}

const RESULT_BASES = ['packages', 'examples', 'tests'];

function resultFiles(names) {
  const files = [];
  for (const base of RESULT_BASES) {
    const dir = join(root, base);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      for (const report of names) {
        const file = join(dir, name, 'test-results', report);
        if (existsSync(file)) files.push(file);
      }
    }
  }
  return files;
}

// Every failure, printed again after the summary: CI shows the end of the output.
const failures = [];

function countJest(files, line) {
  const counts = { suites: 0, passed: 0, failed: 0, skipped: 0 };
  for (const file of files) {
    const results = JSON.parse(readFileSync(file, 'utf8'));
    for (const suite of results.testResults ?? []) {
      const where = `${line}: ${relative(root, suite.name)}`;
      const failed = (suite.assertionResults ?? []).filter((test) => test.status === 'failed');
      for (const test of failed) failures.push(`${where} › ${test.fullName}\n${firstLines(test.failureMessages?.join('\n'))}`);
      if (failed.length === 0 && suite.status === 'failed') failures.push(`${where}\n${firstLines(suite.message)}`);
    }
    counts.passed += results.numPassedTests;
    counts.failed += results.numFailedTests + (results.numRuntimeErrorTestSuites ?? 0);
    counts.skipped += results.numPendingTests + (results.numTodoTests ?? 0);
    counts.suites += results.numTotalTestSuites;
  }
  return counts;
}

const firstLines = (text = '', max = 12) => text.replace(/\x1b\[[0-9;]*m/g, '').split('\n').slice(0, max).map((l) => `    ${l}`).join('\n');

/** The demo's HTML check opens the waterfall in a real headless browser: Debian's chromium. */
function ensureChromium() {
  if (spawnSync('chromium', ['--version'], { env }).status === 0) return;
  const isRoot = process.getuid?.() === 0;
  if (spawnSync('apt-get', ['--version'], { env }).status !== 0 || !isRoot) {
    process.stdout.write('chromium is missing and cannot be installed here (needs root and apt-get): the HTML waterfall check will fail; install it with `apt-get install -y chromium`\n');
    return;
  }
  step('installing chromium (apt-get) for the HTML waterfall check');
  must('apt-get', ['update', '-q'], 'apt-get update');
  must('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'chromium'], 'apt-get install chromium');
}

step(`pnpm ${pinnedPnpmVersion()} (package.json "packageManager") in .cache/pnpm`);
const pnpm = guarded('installing pnpm', () => ensurePnpm(env));
step('installing dependencies');
must(pnpm, ['install', ...(process.env.CI ? ['--frozen-lockfile'] : [])], 'pnpm install');
step('building');
must(pnpm, ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], 'build');

if (task === 'setup') process.exit(0);

if (task === 'demo') {
  step('starting the brokers (tools/brokers)');
  must(process.execPath, ['tools/brokers/cli.mjs', 'up'], 'brokers up');
  step('running examples/order-pipeline');
  process.exit(run(pnpm, ['--filter', './examples/order-pipeline', 'run', 'demo', ...extraArgs]));
}

// task === 'test'
const currentMajor = Number(process.versions.node.split('.')[0]);
const otherLines = Object.keys(extraNodeLines()).map(Number).filter((major) => major !== currentMajor);
ensureChromium();
for (const major of otherLines) {
  step(`Node ${extraNodeLines()[major]} (package.json "threadline.nodeLines") from the npm registry into .cache/node/${major}`);
  guarded(`installing Node ${major}`, () => ensureNode(major, env));
}
step('@confluentinc/kafka-javascript: librdkafka and the native addon for each Node line, from source (tools/confluent-kafka.mjs; cached in .cache)');
guarded('building @confluentinc/kafka-javascript', () => ensureConfluentKafka([process.execPath, ...otherLines.map((major) => ensureNode(major, env))]));
step('starting the brokers (tools/brokers)');
must(process.execPath, ['tools/brokers/cli.mjs', 'up'], 'brokers up');

const statuses = [];
// A step that failed outside Jest (a lint or type error, a crashed bench) is named again at the end.
const failedSteps = [];
function checked(what, status, tasks = []) {
  if (status !== 0) failedSteps.push(`${what} (exit ${status})${tasks.length > 0 ? `: ${tasks.join(', ')}` : ''}`);
  return status;
}
// A turbo run given --summarize: the failed tasks in its summary (.turbo/runs/*.json) are named at the end.
function turbo(what, command, args, options) {
  const runs = join(root, '.turbo', 'runs');
  const before = new Set(existsSync(runs) ? readdirSync(runs) : []);
  const status = run(command, args, options);
  const written = existsSync(runs) ? readdirSync(runs).filter((name) => name.endsWith('.json') && !before.has(name)) : [];
  const failedTasks = written.flatMap((name) => {
    try {
      return JSON.parse(readFileSync(join(runs, name), 'utf8')).tasks.filter((each) => each.execution?.exitCode).map((each) => each.taskId);
    } catch {
      return [];
    }
  });
  return checked(what, status, failedTasks);
}
const perLine = [];
function clearJestResults() {
  for (const file of resultFiles(['jest.json'])) rmSync(file, { force: true });
}

step(`Node ${process.versions.node}: lint, typecheck and tests`);
clearJestResults();
statuses.push(turbo(`Node ${process.versions.node}: lint, typecheck and tests`, pnpm, ['exec', 'turbo', 'run', 'lint', 'typecheck', 'test', '--continue', '--concurrency=2', '--output-logs=new-only', '--summarize', ...extraArgs]));
perLine.push({ node: process.versions.node, ...countJest(resultFiles(['jest.json']), process.versions.node) });

for (const major of otherLines) {
  const nodeBin = ensureNode(major, env);
  step(`Node ${extraNodeLines()[major]}: tests (lint and typecheck do not depend on the Node line)`);
  clearJestResults();
  // THREADLINE_NODE_LINE is part of turbo's task hash (turbo.json), so each line runs, not a cache hit.
  const lineEnv = { ...baseEnv, PATH: toolPath(process.env.PATH, dirname(nodeBin)), THREADLINE_NODE_LINE: String(major) };
  statuses.push(turbo(`Node ${extraNodeLines()[major]}: tests`, nodeBin, [pnpm, 'exec', 'turbo', 'run', 'test', '--continue', '--concurrency=2', '--output-logs=new-only', '--summarize', ...extraArgs], { env: lineEnv }));
  perLine.push({ node: extraNodeLines()[major], ...countJest(resultFiles(['jest.json']), extraNodeLines()[major]) });
}

step('the bootstrap on a fresh machine: a throw-away copy, only node and npm on PATH');
for (const file of resultFiles(['fresh.json'])) rmSync(file, { force: true });
statuses.push(checked('the fresh-machine test', run(pnpm, ['--filter', '@threadline/bootstrap-tests', 'run', 'test:fresh'])));
perLine.push({ node: `${process.versions.node} (fresh machine)`, ...countJest(resultFiles(['fresh.json']), 'fresh machine') });

step('benchmark smoke test (pnpm bench --quick: small N, no timing is judged)');
statuses.push(checked('pnpm bench --quick', run(pnpm, ['bench', '--quick'])));
// Last, and alone: these tests kill and restart the brokers.
step('broker fault tests (kill -9 each broker mid-stream)');
for (const file of resultFiles(['faults.json'])) rmSync(file, { force: true });
statuses.push(checked('the broker fault tests', run(pnpm, ['--filter', '@threadline/robustness-tests', 'run', 'test:faults'])));
perLine.push({ node: `${process.versions.node} (fault suite)`, ...countJest(resultFiles(['faults.json']), 'fault suite') });

const total = { suites: 0, passed: 0, failed: 0, skipped: 0 };
process.stdout.write('\nNode line                     suites  passed  failed  skipped\n');
for (const line of perLine) {
  process.stdout.write(`${line.node.padEnd(28)} ${String(line.suites).padStart(6)} ${String(line.passed).padStart(7)} ${String(line.failed).padStart(7)} ${String(line.skipped).padStart(8)}\n`);
  for (const key of Object.keys(total)) total[key] += line[key];
}
if (failures.length > 0) process.stdout.write(`\nFailed tests:\n${failures.join('\n')}\n`);
if (failedSteps.length > 0) process.stdout.write(`\nFailed steps (turbo prints which task above):\n${failedSteps.map((each) => `  ${each}`).join('\n')}\n`);
process.stdout.write(`\n${total.suites} test suites\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`);
process.exit(statuses.find((status) => status !== 0) ?? (total.failed > 0 ? 1 : 0));
