// Bundles the start-up path into one file: loading one file instead of some 270 small modules
// is most of the register hook's start-up cost (see docs/BENCHMARKS.md).
import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';

const EXTERNAL = [
  // Shared with the app and the transports: one copy each, loaded once.
  '@opentelemetry/api',
  '@opentelemetry/instrumentation',
  '@threadline/carrier',
  // The loader hook is registered by file and runs in its own thread.
  'import-in-the-middle',
  // Loaded lazily, only when configured or on first export.
  '@opentelemetry/exporter-trace-otlp-http',
  '@opentelemetry/exporter-trace-otlp-proto',
  '@opentelemetry/exporter-trace-otlp-grpc',
  '@opentelemetry/exporter-metrics-otlp-http',
  '@opentelemetry/exporter-metrics-otlp-proto',
  '@opentelemetry/exporter-metrics-otlp-grpc',
  '@opentelemetry/otlp-transformer',
  '@opentelemetry/propagator-b3',
  '@opentelemetry/propagator-jaeger',
];

/** The folder of `name` as `fromDir` resolves it (through its package.json, which need not be exported). */
function packageDir(name, fromDir) {
  for (const dir of createRequire(join(fromDir, 'noop.js')).resolve.paths(name) ?? []) {
    try {
      return realpathSync(join(dir, name));
    } catch {
      // not in this node_modules folder
    }
  }
  throw new Error(`${name} is not resolvable from ${fromDir}`);
}

/**
 * One copy of each bundled @opentelemetry package. sdk-trace-node pins its SDK packages to exact
 * versions, which may be a patch behind the ones this package names itself, and the bundle would
 * then hold two SDKs. Every bundled import of such a package resolves to the copy sdk-trace-node's
 * own dependency tree holds: the set a deduplicating package manager would install.
 */
function pinnedSdkDirs() {
  const pinned = new Map();
  const visit = (name, fromDir) => {
    if (pinned.has(name) || EXTERNAL.includes(name)) return;
    const dir = packageDir(name, fromDir);
    pinned.set(name, dir);
    const { dependencies = {} } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    for (const dependency of Object.keys(dependencies)) if (dependency.startsWith('@opentelemetry/')) visit(dependency, dir);
  };
  visit('@opentelemetry/sdk-trace-node', process.cwd());
  return pinned;
}

const onePerPackage = {
  name: 'one-copy-per-otel-package',
  setup(bundle) {
    const pinned = pinnedSdkDirs();
    bundle.onResolve({ filter: /^@opentelemetry\/[^/]+$/ }, async (args) => {
      const dir = pinned.get(args.path);
      if (dir === undefined || args.pluginData === 'pinned') return undefined;
      // Resolved from the pinned copy's own folder (which finds itself), with the build's main fields.
      return bundle.resolve(args.path, { kind: args.kind, resolveDir: dir, pluginData: 'pinned' });
    });
  },
};

/**
 * Every bundled module that imports the API shares one `require('@opentelemetry/api')`: the
 * package stays external (one copy for the app, the transports and the SDK), but Node resolves a
 * bare name again at each call, and the bundle has some thirty call sites.
 */
const oneApiRequire = {
  name: 'one-api-require',
  setup(bundle) {
    bundle.onResolve({ filter: /^@opentelemetry\/api$/ }, (args) =>
      args.namespace === 'shared-api' ? { path: args.path, external: true } : { path: 'api', namespace: 'shared-api' },
    );
    bundle.onLoad({ filter: /.*/, namespace: 'shared-api' }, () => ({ contents: "module.exports = require('@opentelemetry/api');", loader: 'js' }));
  },
};

const { metafile } = await build({
  entryPoints: ['src/start.ts'],
  outfile: 'dist/start.bundle.js',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  // The packages' ES module builds: esbuild drops what is not used (most of semantic-conventions).
  mainFields: ['module', 'main'],
  // Less to parse at every start; names kept for stack traces and diag messages.
  minify: true,
  keepNames: true,
  external: EXTERNAL,
  plugins: [onePerPackage, oneApiRequire],
  metafile: true,
});

// Guard: a package bundled from two folders is two copies loaded at every start.
const folders = new Map();
for (const input of Object.keys(metafile.inputs)) {
  const match = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input);
  if (match) folders.set(match[2], new Set([...(folders.get(match[2]) ?? []), match[1]]));
}
const twice = [...folders].filter(([, dirs]) => dirs.size > 1);
if (twice.length > 0) throw new Error(`bundled twice: ${twice.map(([name, dirs]) => `${name} (${[...dirs].join(', ')})`).join('; ')}`);
