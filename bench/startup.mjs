// Time from spawn to the first line a trivial app prints, per start-up variant; medians of N runs.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const app = fileURLToPath(new URL('./apps/hello.cjs', import.meta.url));
const register = require.resolve('@threadline/register');
const upstream = require.resolve('@opentelemetry/auto-instrumentations-node/register');

// A process started by an instrumented parent (a Kubernetes Job, a child process) has TRACEPARENT
// set: the hook then also joins that trace and opens the run span.
const CHILD_OF_A_TRACE = { TRACEPARENT: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };

/** [name, node arguments, extra environment] */
export const STARTUP_VARIANTS = [
  ['plain node', []],
  ['--import @threadline/register', ['--import', pathToFileURL(register).href]],
  ['--require @threadline/register', ['--require', register]],
  ['--require @threadline/register, started with TRACEPARENT', ['--require', register], CHILD_OF_A_TRACE],
  ['--require @opentelemetry/auto-instrumentations-node/register', ['--require', upstream]],
];

function timeToFirstLine(args, extraEnv = {}) {
  // No cloud resource detectors: they would probe metadata addresses off this machine.
  const env = { ...process.env, OTEL_NODE_RESOURCE_DETECTORS: 'env', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none', NODE_OPTIONS: '' };
  delete env.TRACEPARENT;
  Object.assign(env, extraEnv);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [...args, app], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env,
    });
    child.stdout.once('data', () => {
      resolve(Number(process.hrtime.bigint() - started) / 1e6);
      child.kill();
    });
    child.on('error', reject);
  });
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

export async function benchStartup({ quick }) {
  const runs = quick ? 3 : 21;
  const times = new Map(STARTUP_VARIANTS.map(([name]) => [name, []]));
  // Interleaved, so that machine noise hits every variant alike.
  for (let run = 0; run < runs + 1; run++) {
    for (const [name, args, extraEnv] of STARTUP_VARIANTS) {
      const ms = await timeToFirstLine(args, extraEnv);
      if (run > 0) times.get(name).push(ms);
    }
  }
  const plain = median(times.get('plain node'));
  return STARTUP_VARIANTS.map(([name]) => {
    const ms = median(times.get(name));
    return { name, medianMs: Number(ms.toFixed(1)), addedMs: Number((ms - plain).toFixed(1)), runs };
  });
}
