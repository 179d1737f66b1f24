// The README's commands on a machine with only Node and npm: a throw-away copy of the repo (the
// tracked and new files of this checkout, no node_modules, no dist, no .cache), and a PATH with
// node, npm and the system's commands but no pnpm, turbo or jest. A bootstrap that needs a global
// one fails here.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

const repo = join(__dirname, '..', '..', '..');

function findOnPath(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return realpathSync(candidate);
  }
  throw new Error(`${name} is not on PATH`);
}

/** Package-manager and test tools a machine may have globally; a newcomer's may not. */
const HIDDEN = new Set(['pnpm', 'pnpx', 'turbo', 'jest', 'tsc', 'yarn', 'yarnpkg']);

/**
 * The PATH of a newcomer's machine: one folder with this node and npm, and links to everything in
 * the system folders except a global pnpm, turbo or jest (the machine running this may have one).
 */
function newcomerBin(root: string): string {
  const bin = join(root, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(findOnPath('npm'), join(bin, 'npm'));
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (HIDDEN.has(name) || existsSync(join(bin, name))) continue;
      symlinkSync(join(dir, name), join(bin, name));
    }
  }
  return bin;
}

function copyCheckout(target: string): void {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    const from = join(repo, file);
    if (!existsSync(from)) continue; // deleted in the work tree, not yet committed
    mkdirSync(dirname(join(target, file)), { recursive: true });
    copyFileSync(from, join(target, file));
  }
}

describe('the bootstrap on a fresh machine (no global pnpm, no node_modules)', () => {
  let scratch: string;
  let clone: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'threadline-fresh-'));
    clone = join(scratch, 'repo');
    copyCheckout(clone);
    // HOME is kept so the npm cache and pnpm store are reused: this test is about PATH, and CI
    // itself already runs under a new, empty HOME (.ci/run).
    env = { PATH: newcomerBin(scratch), HOME: process.env.HOME, CI: 'true', LANG: 'C.UTF-8' };
    for (const name of ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE']) if (process.env[name]) env[name] = process.env[name];
  });

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('PATH really has no pnpm, turbo or jest', () => {
    for (const tool of ['pnpm', 'turbo', 'jest']) {
      const probe = spawnSync('sh', ['-c', `command -v ${tool}`], { env });
      expect({ tool, found: probe.status === 0 }).toEqual({ tool, found: false });
    }
  });

  test('an unknown task is refused before anything is installed', () => {
    const result = spawnSync(process.execPath, ['tools/bootstrap.mjs', 'tset'], { cwd: clone, env, encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown task "tset"');
    expect(existsSync(join(clone, '.cache'))).toBe(false);
    expect(existsSync(join(clone, 'node_modules'))).toBe(false);
  });

  test('npm run bootstrap installs the pinned pnpm and the dependencies, then builds every package', () => {
    const result = spawnSync('npm', ['run', 'bootstrap'], { cwd: clone, env, encoding: 'utf8' });
    const output = `${result.stdout}\n${result.stderr}`;
    if (result.status !== 0) process.stderr.write(output.split('\n').slice(-40).join('\n'));
    expect(result.status).toBe(0);

    const pinned = JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')).packageManager.replace(/^pnpm@/, '');
    const installed = JSON.parse(readFileSync(join(clone, '.cache', 'pnpm', 'node_modules', 'pnpm', 'package.json'), 'utf8')).version;
    expect(installed).toBe(pinned);
    for (const built of ['carrier/dist/index.js', 'register/dist/index.js', 'kafkajs/dist/index.js', 'testing/dist/addresses.js']) {
      expect({ built, exists: existsSync(join(clone, 'packages', built)) }).toEqual({ built, exists: true });
    }
  });

  test('the brokers CLI finds the pinned pnpm on its own (no pnpm on PATH)', () => {
    // `status` imports @threadline/testing's addresses, building it through pnpm when dist/ is stale.
    rmSync(join(clone, 'packages', 'testing', 'dist'), { recursive: true, force: true });
    const result = spawnSync(process.execPath, ['tools/brokers/cli.mjs', 'status'], { cwd: clone, env, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    // 0 when every broker is up, 3 when some are down: either way it got as far as probing them.
    expect([0, 3]).toContain(result.status);
    expect(result.stdout).toMatch(/^server +state/m);
    expect(existsSync(join(clone, 'packages', 'testing', 'dist', 'addresses.js'))).toBe(true);
  });
});
