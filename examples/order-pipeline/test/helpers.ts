import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const EXAMPLE_DIR = resolve(__dirname, '..');

export interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The demo's environment: no colour, and no outside OTLP backend or test-runner flags leaking in. */
export function demoEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS' || key.startsWith('OTEL_') || key.startsWith('JEST_') || key === 'FORCE_COLOR') continue;
    env[key] = value;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

/**
 * Runs `node demo.mjs args`. `onOutput` sees the stdout so far after each chunk (to signal it
 * mid-run); a demo still running after `timeoutMs` is killed and the run rejected.
 */
export function runDemo(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number; onOutput?: (stdout: string, child: ReturnType<typeof spawn>) => void } = {},
): Promise<DemoRun> {
  const started = Date.now();
  const child = spawn(process.execPath, ['demo.mjs', ...args], { cwd: EXAMPLE_DIR, env: demoEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    options.onOutput?.(stdout, child);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolveRun, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo did not finish within ${options.timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, options.timeoutMs ?? 90000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Process ids the demo printed for its services ("ready (…, pid 123)"). */
export function servicePids(stdout: string): number[] {
  return [...stdout.matchAll(/ready \([^)]*pid (\d+)\)/g)].map((match) => Number(match[1]));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** Debian's chromium; fails with the command that installs it when it is not there. */
export function chromiumPath(): string {
  const found = CHROMIUM_CANDIDATES.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new Error(`chromium is not installed (looked for ${CHROMIUM_CANDIDATES.join(', ')}); install it with: apt-get install -y chromium`);
  }
  return found;
}

/** The DOM of `file` after its scripts ran, from headless chromium. */
export function dumpDom(file: string): string {
  const chromium = chromiumPath();
  const profile = mkdtempSync(join(tmpdir(), 'order-pipeline-chromium-'));
  try {
    const result = spawnSync(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        `--user-data-dir=${profile}`,
        '--dump-dom',
        pathToFileURL(file).href,
      ],
      { encoding: 'utf8', timeout: 60000, maxBuffer: 64 * 1024 * 1024 },
    );
    if (result.error) throw new Error(`chromium could not run: ${result.error.message}`);
    if (result.status !== 0 || !result.stdout.includes('</html>')) {
      throw new Error(`chromium exited ${result.status} without a DOM:\n${result.stderr.slice(-2000)}`);
    }
    return result.stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Bar elements (one per span) in a dumped DOM, by span id. */
export function renderedBars(dom: string): string[] {
  return [...dom.matchAll(/<div class="bar[^"]*" data-span-id="([0-9a-f]+)"/g)].map((match) => match[1]);
}
