// Where tools/brokers keeps its state (.brokers/) and its download cache (.cache/brokers/).
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// Overrides let a second, isolated set run beside the usual one (other ports, own state, own cache).
export const stateDir = resolve(process.env.THREADLINE_BROKERS_DIR || join(repoRoot, '.brokers'));
export const logsDir = join(stateDir, 'logs');
export const runDir = join(stateDir, 'run');
export const dataRoot = join(stateDir, 'data');
export const confRoot = join(stateDir, 'conf');
export const cacheDir = resolve(process.env.THREADLINE_BROKERS_CACHE || join(repoRoot, '.cache', 'brokers'));

export const dataDir = (name) => join(dataRoot, name);
export const confDir = (name) => join(confRoot, name);
export const logFile = (name) => join(logsDir, `${name}.log`);
export const pidFile = (name) => join(runDir, `${name}.pid`);
export const metaFile = (name) => join(runDir, `${name}.json`);

export function ensureDir(path) {
  mkdirSync(path, { recursive: true });
  return path;
}
