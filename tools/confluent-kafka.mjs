#!/usr/bin/env node
// @confluentinc/kafka-javascript is a native addon. Its install script downloads a prebuilt
// binary from GitHub (unreachable here) and otherwise builds a static librdkafka whose configure
// step downloads more sources, so pnpm is told not to run it (package.json
// "pnpm.ignoredBuiltDependencies") and this builds it instead, from registry files only:
//   1. librdkafka from the C sources the newest installed package bundles (deps/librdkafka),
//      configured against Debian's libraries, into .cache/librdkafka/<version>;
//   2. the addon of each installed package version for each Node line (the ABI differs), linked
//      to that librdkafka (the package's BUILD_LIBRDKAFKA=0 mode), cached in .cache/confluent-kafka;
//   3. each addon copied to <package>/compiled/<node version>/linux/x64/, the folder `bindings`
//      looks in for that Node version, so one installed package serves every Node line.
// Idempotent: a cached step is skipped. Usage: node tools/confluent-kafka.mjs [node binaries...]
// (default: the current node and the Node lines of package.json "threadline.nodeLines").
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE = '@confluentinc/kafka-javascript';
const ADDON = 'confluent-kafka-javascript.node';

function log(message) {
  process.stdout.write(`[confluent-kafka] ${message}\n`);
}

function sh(command, args, options) {
  const started = Date.now();
  const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...options });
  if (result.error) throw new Error(`${command} could not start: ${result.error.message}`);
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n').slice(-40).join('\n');
    throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status}) in ${options?.cwd ?? root}:\n${output}`);
  }
  return { stdout: result.stdout, seconds: Math.round((Date.now() - started) / 1000) };
}

/** Every installed version of the package (pnpm keeps one folder per version under .pnpm). */
export function installedPackages() {
  const store = join(root, 'node_modules', '.pnpm');
  if (!existsSync(store)) return [];
  return readdirSync(store)
    .filter((name) => name.startsWith('@confluentinc+kafka-javascript@'))
    .map((name) => join(store, name, 'node_modules', PACKAGE))
    .filter((dir) => existsSync(join(dir, 'package.json')))
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }));
}

function compareVersions(a, b) {
  const [x, y] = [a, b].map((v) => v.split(/[.-]/).map((part) => Number(part) || 0));
  for (let i = 0; i < Math.max(x.length, y.length); i += 1) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** Builds librdkafka once from the newest package's bundled sources. Returns its prefix. */
function ensureLibrdkafka(newest) {
  const version = newest.manifest.librdkafka;
  const prefix = join(root, '.cache', 'librdkafka', version);
  const done = join(prefix, '.complete');
  if (existsSync(done)) return prefix;
  const source = join(root, '.cache', 'librdkafka', `build-${version}`);
  rmSync(source, { recursive: true, force: true });
  rmSync(prefix, { recursive: true, force: true });
  cpSync(join(newest.dir, 'deps', 'librdkafka'), source, { recursive: true, dereference: true });
  log(`building librdkafka ${version} from ${PACKAGE}@${newest.manifest.version}'s deps/librdkafka (a few minutes, once)`);
  // No --install-deps: that downloads sources; Debian's libssl, zlib etc. are found by configure.
  const configured = sh('./configure', [`--prefix=${prefix}`, `--libdir=${join(prefix, 'lib')}`], { cwd: source });
  const made = sh('make', ['-j2', 'libs'], { cwd: source });
  sh('make', ['install-subdirs'], { cwd: source });
  rmSync(source, { recursive: true, force: true });
  writeFileSync(done, `${version}\n`);
  log(`librdkafka ${version} built in ${configured.seconds + made.seconds}s`);
  return prefix;
}

function nodeFacts(nodeBin) {
  const { stdout } = sh(nodeBin, ['-p', 'JSON.stringify([process.versions.node, process.versions.modules, process.platform, process.arch])']);
  const [version, abi, platform, arch] = JSON.parse(stdout);
  return { version, abi, platform, arch };
}

/** The folder holding include/node for a node binary (node-gyp's --nodedir), so nothing is downloaded. */
function nodeDir(nodeBin) {
  const dir = dirname(dirname(realpathSync(nodeBin)));
  if (!existsSync(join(dir, 'include', 'node', 'node.h'))) throw new Error(`no Node headers in ${dir}/include/node for ${nodeBin}`);
  return dir;
}

const require = createRequire(join(root, 'package.json'));

function buildAddon(pkg, nodeBin, facts, librdkafka, cached) {
  const scratch = join(root, '.cache', 'confluent-kafka', `build-${pkg.manifest.version}-node-v${facts.abi}`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(join(scratch, 'node_modules'), { recursive: true });
  // Only what binding.gyp reads; the bundled librdkafka sources are not used in this mode.
  for (const entry of ['binding.gyp', 'src', 'util', 'deps/librdkafka.gyp']) {
    if (existsSync(join(pkg.dir, entry))) cpSync(join(pkg.dir, entry), join(scratch, entry), { recursive: true, dereference: true });
  }
  // binding.gyp finds nan with `node -e "require('nan')"` from its own folder.
  const nan = dirname(createRequire(join(pkg.dir, 'package.json')).resolve('nan/package.json'));
  symlinkSync(nan, join(scratch, 'node_modules', 'nan'), 'dir');
  const gyp = require.resolve('node-gyp/bin/node-gyp.js');
  const env = {
    ...process.env,
    BUILD_LIBRDKAFKA: '0',
    CPATH: join(librdkafka, 'include', 'librdkafka'),
    LIBRARY_PATH: join(librdkafka, 'lib'),
    LDFLAGS: `-Wl,-rpath,${join(librdkafka, 'lib')}`,
  };
  const built = sh(nodeBin, [gyp, 'rebuild', `--nodedir=${nodeDir(nodeBin)}`, '-j', '2'], { cwd: scratch, env });
  mkdirSync(dirname(cached), { recursive: true });
  copyFileSync(join(scratch, 'build', 'Release', ADDON), `${cached}.tmp`);
  renameSync(`${cached}.tmp`, cached);
  rmSync(scratch, { recursive: true, force: true });
  log(`${PACKAGE}@${pkg.manifest.version} for Node ${facts.version} (ABI ${facts.abi}) built in ${built.seconds}s`);
}

/** Makes every installed version of the package loadable on each of the given node binaries. */
export function ensureConfluentKafka(nodeBins) {
  const packages = installedPackages();
  if (packages.length === 0) return;
  const newest = [...packages].sort((a, b) => compareVersions(a.manifest.version, b.manifest.version)).at(-1);
  const librdkafka = ensureLibrdkafka(newest);
  for (const nodeBin of nodeBins) {
    const facts = nodeFacts(nodeBin);
    for (const pkg of packages) {
      const cached = join(root, '.cache', 'confluent-kafka', `${pkg.manifest.version}-librdkafka-${newest.manifest.librdkafka}-node-v${facts.abi}`, ADDON);
      if (!existsSync(cached)) buildAddon(pkg, nodeBin, facts, librdkafka, cached);
      const target = join(pkg.dir, 'compiled', facts.version, facts.platform, facts.arch, ADDON);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(cached, target);
      // Proves the addon loads on this line (and finds librdkafka) before a test depends on it.
      const loaded = sh(nodeBin, ['-p', `require(${JSON.stringify(pkg.dir)}).librdkafkaVersion`]);
      log(`${PACKAGE}@${pkg.manifest.version} loads on Node ${facts.version} with librdkafka ${loaded.stdout.trim()}`);
    }
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { ensureNode, extraNodeLines } = await import('./toolchain.mjs');
  const given = process.argv.slice(2);
  const current = Number(process.versions.node.split('.')[0]);
  const nodeBins = given.length > 0 ? given : [process.execPath, ...Object.keys(extraNodeLines()).map(Number).filter((major) => major !== current).map((major) => ensureNode(major, process.env))];
  try {
    ensureConfluentKafka(nodeBins);
  } catch (error) {
    process.stderr.write(`[confluent-kafka] ${error.message}\n`);
    process.exit(1);
  }
}
