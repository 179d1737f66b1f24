// Go servers (kube-apiserver, etcd, Jaeger) built from the Go module proxy at pinned versions into
// .cache/brokers/go/<name>-<version>/, once; later `up`s reuse the binary.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, ensureDir, logsDir, repoRoot } from './paths.mjs';
import { run, which } from './proc.mjs';

const modules = join(repoRoot, 'tools', 'brokers', 'go');

// Each entry: the wrapper module under tools/brokers/go/<dir> (go.mod + go.sum pin every dependency)
// and the main package built from it.
export const GO_SERVERS = {
  'kube-apiserver': {
    version: 'v1.37.2',
    dir: 'kube-apiserver',
    pkg: 'k8s.io/kubernetes/cmd/kube-apiserver',
    // A module build has no git tree: without these `--version` says v0.0.0-master.
    ldflags: (v) => {
      const [major, minor] = v.slice(1).split('.');
      return [
        `-X k8s.io/component-base/version.gitVersion=${v}`,
        `-X k8s.io/component-base/version.gitMajor=${major}`,
        `-X k8s.io/component-base/version.gitMinor=${minor}`,
        '-X k8s.io/component-base/version.gitTreeState=clean',
      ];
    },
  },
  etcd: { version: 'v3.7.3', dir: 'etcd', pkg: 'go.etcd.io/etcd/server/v3', ldflags: () => [] },
  jaeger: {
    version: 'v1.75.0',
    dir: 'jaeger',
    pkg: 'github.com/jaegertracing/jaeger/cmd/jaeger',
    ldflags: (v) => [`-X github.com/jaegertracing/jaeger/internal/version.latestVersion=${v}`],
  },
};

export const goBinaryPath = (name) => join(cacheDir, 'go', `${name}-${GO_SERVERS[name].version}`, name);

/** What the binary was built from: a changed go.mod/go.sum (same version tag) also means a rebuild. */
function sourceKey(name) {
  const s = GO_SERVERS[name];
  const h = createHash('sha256');
  for (const f of ['go.mod', 'go.sum']) h.update(readFileSync(join(modules, s.dir, f)));
  h.update(s.ldflags(s.version).join(' '));
  return h.digest('hex');
}

// Builds run one at a time: each takes both cores and up to 2.4 GB.
let queue = Promise.resolve();

/** Path of the binary, building it first when missing or built from other sources. */
export function goBinary(name, log) {
  const result = queue.then(() => build(name, log));
  queue = result.catch(() => undefined);
  return result;
}

async function build(name, log) {
  const s = GO_SERVERS[name];
  const bin = goBinaryPath(name);
  const keyFile = `${bin}.built-from`;
  const key = sourceKey(name);
  if (existsSync(bin) && existsSync(keyFile) && readFileSync(keyFile, 'utf8') === key) return bin;
  const go = which('go');
  if (!go) {
    throw new Error(`${name} is built from Go sources and \`go\` (1.26+) is not on PATH: install it from https://go.dev/dl/`);
  }
  ensureDir(join(bin, '..'));
  const tmp = `${bin}.tmp-${process.pid}`;
  const logTo = join(ensureDir(logsDir), 'go-build.log');
  log(`[${name}] building ${s.pkg}@${s.version} with go (first time only; several minutes; see ${logTo})`);
  const began = Date.now();
  const args = ['build', '-p', '2', '-trimpath', `-ldflags=-s -w ${s.ldflags(s.version).join(' ')}`, '-o', tmp, s.pkg];
  // nice: the build must not starve servers and tests running beside it. -mod=readonly: go.sum is the pin.
  const nice = which('nice');
  const env = { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=readonly -buildvcs=false`.trim() };
  const res = await run(nice ?? go, nice ? ['-n', '10', go, ...args] : args, { cwd: join(modules, s.dir), env, logTo });
  if (res.code !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`go build of ${s.pkg}@${s.version} failed (exit ${res.code}):\n${res.output.slice(-3000)}`);
  }
  renameSync(tmp, bin);
  writeFileSync(keyFile, key);
  log(`[${name}] built in ${((Date.now() - began) / 1000).toFixed(0)}s: ${bin}`);
  return bin;
}
