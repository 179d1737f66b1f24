#!/usr/bin/env node
// Starts, stops and reports the real servers the tests and the demo use, all on 127.0.0.1.
//   node tools/brokers/cli.mjs up [kafka rabbitmq elasticmq mongodb etcd kube-apiserver k8s-runner jaeger]   (no names: all)
//   node tools/brokers/cli.mjs down [names...]
//   node tools/brokers/cli.mjs status
// See tools/brokers/README.md. Plain Node ESM on purpose: no build step and no npm dependency.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureDir, logFile, logsDir, repoRoot, runDir } from './lib/paths.mjs';
import { portOpen } from './lib/probes.mjs';
import { clearRun, isAlive, isOurs, readMeta, readPid, sleep, stopProcess, tail, writeRun } from './lib/proc.mjs';
import { NAMES, SERVERS } from './lib/servers.mjs';
import { localPnpm, toolPath } from '../toolchain.mjs';

const log = (msg) => process.stdout.write(`${msg}\n`);
const testingDir = join(repoRoot, 'packages', 'testing');

// ---------------------------------------------------------------- addresses (the one source is packages/testing/src/addresses.ts)

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds @threadline/testing when dist/ is missing or older than src/, since we run its compiled files. */
function ensureTestingBuilt() {
  const needed = ['addresses.js', join('k8s-api', 'main.js')].map((f) => join(testingDir, 'dist', f));
  const fresh = () => {
    const srcTime = newestMtime(join(testingDir, 'src'));
    return needed.every((f) => existsSync(f) && statSync(f).mtimeMs >= srcTime);
  };
  if (fresh()) return;
  log('[brokers] building @threadline/testing (its dist/ is missing or stale): pnpm --filter @threadline/testing build');
  const pnpm = localPnpm();
  if (!pnpm || !existsSync(join(repoRoot, 'node_modules'))) {
    throw new Error('the workspace is not installed: run `npm run bootstrap` at the repo root first (it installs the pinned pnpm into .cache/pnpm, the dependencies and the build)');
  }
  const result = spawnSync(pnpm, ['--filter', '@threadline/testing', 'build'], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, PATH: toolPath(process.env.PATH) } });
  if (result.status !== 0) {
    const output = `${result.stdout}${result.stderr}`.split('\n').slice(-30).join('\n');
    // tsc still emits on type errors elsewhere in the package; our files may be fine.
    if (!fresh()) throw new Error(`building @threadline/testing failed:\n${output}`);
    log(`[brokers] warning: the build reported errors, but the files needed here were emitted:\n${output}`);
  }
}

async function addresses() {
  ensureTestingBuilt();
  const mod = await import(pathToFileURL(join(testingDir, 'dist', 'addresses.js')).href);
  return (mod.brokerAddresses ?? mod.default.brokerAddresses)();
}

// ---------------------------------------------------------------- one `up`/`down` at a time

async function withLock(fn) {
  ensureDir(runDir);
  const lock = join(runDir, 'cli.lock');
  const deadline = Date.now() + 15 * 60 * 1000;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(lock, 'utf8').trim() || 0);
      if (!isAlive(holder)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another tools/brokers run (pid ${holder}) holds ${lock}`);
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

// ---------------------------------------------------------------- up

function logTails(server) {
  const files = server.logs ? server.logs() : [logFile(server.name)];
  return files.map((f) => `--- last lines of ${f}\n${tail(f, 40)}`).join('\n');
}

async function waitReady(server, a, isRunning) {
  const deadline = Date.now() + server.timeoutMs();
  let lastError;
  while (Date.now() < deadline) {
    try {
      return await server.probe(a, 3000);
    } catch (err) {
      lastError = err;
    }
    const running = isRunning();
    if (running !== true) throw new Error(`${server.name} exited before it was ready (${running})`);
    await sleep(500);
  }
  throw new Error(
    `${server.name} was not ready on 127.0.0.1:${server.port(a)} after ${server.timeoutMs() / 1000}s (last probe: ${lastError?.message}); raise THREADLINE_BROKERS_TIMEOUT_S if the machine is slow`,
  );
}

async function upOne(server, a) {
  const started = Date.now();
  const name = server.name;
  const port = server.port(a);
  const pid = readPid(name);
  if (pid && isOurs(pid, server.marker) && server.isStale?.(readMeta(name))) {
    log(`[${name}] restarting pid ${pid}: its code changed since it started`);
    if (!(await stopProcess(pid))) throw new Error(`${name}: pid ${pid} did not stop`);
    clearRun(name);
  } else if (pid && isOurs(pid, server.marker)) {
    try {
      const info = await server.probe(a, 2000);
      await server.afterReady?.(a);
      return { name, state: 'up', pid, port, note: `already running (${info})` };
    } catch {
      // Ours but not answering yet: another `up` may still be starting it.
      const info = await waitReady(server, a, () => isAlive(pid) || 'process gone');
      await server.afterReady?.(a);
      return { name, state: 'up', pid, port, note: `was starting; ready (${info})` };
    }
  }
  if (pid) clearRun(name);
  try {
    const info = await server.probe(a, 2000);
    return { name, state: 'up', pid: undefined, port, note: `port already served by a process not started here; reusing it (${info})` };
  } catch {
    // nothing usable there: start ours
  }
  for (const p of [port, ...(server.extraPorts ? server.extraPorts(a) : [])]) {
    if (await portOpen(p, 500)) {
      throw new Error(`port ${p} is taken by another program that does not answer as ${name}; stop it or set the port's env override`);
    }
  }
  // start() returns the spawned ChildProcess, or { pid, meta } when the server daemonizes itself (RabbitMQ).
  const result = await server.start(a, log);
  const isChild = 'stdio' in result;
  const childPid = result.pid;
  const extraMeta = isChild ? {} : (result.meta ?? {});
  const isRunning = isChild
    ? () => (result.exitInfo ? `exit ${JSON.stringify(result.exitInfo)}` : true)
    : () => isAlive(childPid) || 'process gone';
  if (!childPid) {
    await sleep(100);
    throw new Error(`${name} did not start: ${result.exitInfo?.error?.message ?? JSON.stringify(result.exitInfo)}`);
  }
  writeRun(name, childPid, { port, marker: server.marker, ...extraMeta });
  try {
    const info = await waitReady(server, a, isRunning);
    await server.afterReady?.(a);
    return { name, state: 'up', pid: childPid, port, note: `started in ${((Date.now() - started) / 1000).toFixed(1)}s (${info})` };
  } catch (err) {
    const still = isAlive(childPid) ? ` (pid ${childPid} is left running: \`pnpm brokers down ${name}\` stops it)` : '';
    err.message += `${still}\n${logTails(server)}`;
    throw err;
  }
}

/** `names` plus what they need (kube-apiserver needs etcd, ...), needs first. */
function withNeeds(names) {
  const out = [];
  const add = (n) => {
    for (const need of SERVERS[n].needs ?? []) add(need);
    if (!out.includes(n)) out.push(n);
  };
  names.forEach(add);
  return out;
}

/** `names` plus the servers that need them, transitively (stopping kube-apiserver stops the runner too). */
function withDependents(names) {
  const out = [...names];
  for (let grew = true; grew; ) {
    grew = false;
    for (const n of NAMES) {
      if (!out.includes(n) && (SERVERS[n].needs ?? []).some((need) => out.includes(need))) {
        out.push(n);
        grew = true;
      }
    }
  }
  return out;
}

async function up(requested) {
  const began = Date.now();
  const names = withNeeds(requested);
  const a = await addresses();
  ensureDir(logsDir);
  // Servers start in parallel, each one after what it needs is up.
  const started = {};
  for (const n of names) {
    const needs = SERVERS[n].needs ?? [];
    started[n] = Promise.all(needs.map((need) => started[need]))
      .catch(() => {
        throw new Error(`not started: it needs ${needs.join(', ')}, which failed`);
      })
      .then(() => upOne(SERVERS[n], a))
      .then((r) => {
        log(`[${n}] up on 127.0.0.1:${r.port}${r.pid ? ` pid ${r.pid}` : ''}: ${r.note}`);
        return r;
      });
  }
  const results = await withLock(() => Promise.allSettled(names.map((n) => started[n])));
  let failed = 0;
  results.forEach((r, i) => {
    if (r.status === 'rejected') {
      failed++;
      log(`\n[${names[i]}] FAILED: ${r.reason?.message ?? r.reason}`);
    }
  });
  const secs = ((Date.now() - began) / 1000).toFixed(1);
  log(failed ? `\n${failed} of ${names.length} server(s) failed to start (${secs}s); logs: ${logsDir}` : `all ${names.length} up in ${secs}s; logs: ${logsDir}`);
  return failed ? 1 : 0;
}

// ---------------------------------------------------------------- down

async function downOne(server, a) {
  const name = server.name;
  const pid = readPid(name);
  if (!pid) return `${name}: not started by tools/brokers`;
  if (!isOurs(pid, server.marker)) {
    clearRun(name);
    return `${name}: pid ${pid} is gone (stale pid file removed)`;
  }
  const stopped = server.stop ? await server.stop(a, pid) : await stopProcess(pid);
  if (!stopped) throw new Error(`${name}: pid ${pid} is still alive after SIGKILL`);
  clearRun(name);
  return `${name}: stopped pid ${pid}`;
}

async function down(requested) {
  // What needs a stopped server goes too, and etcd goes with kube-apiserver (nothing else uses it).
  const names = withDependents(requested.includes('kube-apiserver') && !requested.includes('etcd') ? [...requested, 'etcd'] : requested);
  // Ports recorded at start win over the current env, so `down` stops what `up` started.
  const a = await addresses().catch(() => undefined);
  const stopped = {};
  const stopOne = (n) => {
    // A server stops after everything that needs it (the runner before kube-apiserver before etcd).
    const dependents = names.filter((d) => (SERVERS[d].needs ?? []).includes(n));
    stopped[n] ??= Promise.allSettled(dependents.map(stopOne)).then(() => {
      const meta = readMeta(n);
      const addr = a ?? fallbackAddresses();
      if (n === 'rabbitmq' && meta?.port) addr.rabbitmq = { ...addr.rabbitmq, port: meta.port };
      return downOne(SERVERS[n], addr).then((msg) => (log(msg), msg));
    });
    return stopped[n];
  };
  const results = await withLock(() => Promise.allSettled(names.map(stopOne)));
  let failed = 0;
  for (const r of results) {
    if (r.status === 'rejected') {
      failed++;
      log(`FAILED: ${r.reason?.message ?? r.reason}`);
    }
  }
  return failed ? 1 : 0;
}

/** The batch/v1 stand-in the old `k8s` entry started on 8001 (replaced by kube-apiserver + k8s-runner): bare `down` stops one left running. */
async function downRetiredK8s() {
  const pid = readPid('k8s');
  if (!pid) return;
  if (isOurs(pid, join(logsDir, 'k8s-jobs')) && !(await stopProcess(pid))) throw new Error(`k8s (retired stand-in): pid ${pid} is still alive after SIGKILL`);
  clearRun('k8s');
  log(`k8s (retired stand-in): stopped pid ${pid}`);
}

/** Used only when @threadline/testing cannot be built: `down` must still work. Mirrors addresses.ts defaults. */
function fallbackAddresses() {
  const env = (n, d) => Number(process.env[n]) || d;
  return { host: '127.0.0.1', rabbitmq: { port: env('RABBITMQ_PORT', 5672) } };
}

// ---------------------------------------------------------------- status

async function status() {
  const a = await addresses();
  const rows = await Promise.all(
    NAMES.map(async (n) => {
      const server = SERVERS[n];
      const pid = readPid(n);
      const ours = pid !== undefined && isOurs(pid, server.marker);
      const probe = await server.probe(a, 2000).catch(() => undefined);
      const state = probe ? (ours ? 'up' : 'up (not started here)') : ours ? 'starting/unhealthy' : 'down';
      const version = server.describeVersion ? server.describeVersion() : server.version;
      return [n, state, ours ? String(pid) : '-', `127.0.0.1:${server.port(a)}`, version];
    }),
  );
  const head = ['server', 'state', 'pid', 'address', 'version'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [head, ...rows]) log(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
  log(`logs: ${logsDir}`);
  return rows.every((r) => r[1].startsWith('up')) ? 0 : 3;
}

// ---------------------------------------------------------------- main

function usage() {
  log(`usage: node tools/brokers/cli.mjs up [names...] | down [names...] | status
names: ${NAMES.join(' ')} (default: all)`);
}

async function main(argv) {
  const [command, ...rest] = argv;
  const unknown = rest.filter((n) => !NAMES.includes(n));
  if (unknown.length) {
    log(`unknown server name(s): ${unknown.join(', ')}`);
    usage();
    return 2;
  }
  const names = rest.length ? [...new Set(rest)] : NAMES;
  switch (command) {
    case 'up':
      return up(names);
    case 'down':
      if (rest.length === 0) await downRetiredK8s();
      return down(names);
    case 'status':
      return status();
    default:
      usage();
      return command ? 2 : 0;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`tools/brokers: ${err?.message ?? err}\n`);
    process.exit(1);
  },
);
