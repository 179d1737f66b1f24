// Process helpers: detached spawn with pid files, identity checks, stop, tails.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ensureDir, logFile, logsDir, metaFile, pidFile, runDir } from './paths.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The command as a log line, with a classpath shortened: the full one is in .cache/brokers/<name>/classpath.txt. */
function describe(command, args) {
  const shown = args.map((a, i) => (args[i - 1] === '-cp' ? `<${a.split(':').length} jars>` : a));
  return `${command} ${shown.join(' ')}`;
}

/** Full path of an executable on PATH, or undefined. */
export function which(cmd) {
  if (cmd.includes('/')) return existsSync(cmd) ? cmd : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, cmd);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function procStat(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie (kill(pid, 0) alone is true for zombies). */
export function isAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (err.code === 'EPERM') return true;
    return false;
  }
  const stat = procStat(pid);
  if (stat !== undefined) return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  const ps = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  return ps.status === 0 && !ps.stdout.trim().startsWith('Z');
}

export function commandLine(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    const ps = spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' });
    return ps.status === 0 ? ps.stdout : '';
  }
}

/** A pid from a pid file is ours only if it is alive and its command line carries our marker (pids get reused). */
export function isOurs(pid, marker) {
  return isAlive(pid) && commandLine(pid).includes(marker);
}

export function readPid(name) {
  try {
    const pid = Number(readFileSync(pidFile(name), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function readMeta(name) {
  try {
    return JSON.parse(readFileSync(metaFile(name), 'utf8'));
  } catch {
    return undefined;
  }
}

export function writeRun(name, pid, meta) {
  ensureDir(runDir);
  writeFileSync(pidFile(name), `${pid}\n`);
  writeFileSync(metaFile(name), `${JSON.stringify({ pid, ...meta, startedAt: new Date().toISOString() }, null, 2)}\n`);
}

export function clearRun(name) {
  rmSync(pidFile(name), { force: true });
  rmSync(metaFile(name), { force: true });
}

/**
 * Starts a server in its own process group with stdout/stderr appended to its log, and lets it outlive this CLI.
 * Returns the child so the caller can notice an early exit while waiting for readiness.
 */
export function spawnDetached(name, command, args, { env, cwd }) {
  ensureDir(logsDir);
  const fd = openSync(logFile(name), 'a');
  writeSync(fd, `\n=== ${new Date().toISOString()} starting ${name}: ${describe(command, args)}\n`);
  const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env, cwd });
  closeSync(fd);
  child.exitInfo = undefined;
  child.on('exit', (code, signal) => {
    child.exitInfo = { code, signal };
  });
  child.on('error', (err) => {
    child.exitInfo = { error: err };
  });
  child.unref();
  return child;
}

/** SIGTERM to the process group (falls back to the pid), wait, then SIGKILL. Resolves true once gone. */
export async function stopProcess(pid, { graceMs = 15000 } = {}) {
  const signal = (sig) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  if (!isAlive(pid)) return true;
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) break;
    await sleep(100);
  }
  // The group may hold children (the k8s stand-in's jobs) even after the leader exited.
  signal('SIGKILL');
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  return !isAlive(pid);
}

/** Runs a command to completion, collecting output (async so several can run at once). */
export function run(command, args, { env = process.env, cwd, timeoutMs = 0, logTo } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    let timer;
    if (timeoutMs > 0) timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const done = (code, error) => {
      clearTimeout(timer);
      if (logTo) {
        ensureDir(logsDir);
        writeFileSync(logTo, `\n=== ${new Date().toISOString()} ${describe(command, args)} -> ${code}\n${out}`, { flag: 'a' });
      }
      resolve({ code, output: out, error });
    };
    child.on('error', (err) => done(-1, err));
    child.on('close', (code) => done(code ?? -1));
  });
}

export function tail(file, lines = 40) {
  try {
    const text = readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}
