// Starts the pipeline's services the way a user would (`node --import @threadline/register
// services/x.mjs`), keeps their output in out/logs/, and stops them again.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * @param {{ name: string, script: string, cwd: string, env: NodeJS.ProcessEnv, logDir: string, onExit?: (service, code, signal) => void }} options
 */
export function startService({ name, script, cwd, env, logDir, onExit }) {
  mkdirSync(logDir, { recursive: true });
  const logPath = join(logDir, `${name}.log`);
  const logFile = createWriteStream(logPath);
  const child = spawn(process.execPath, ['--import', '@threadline/register', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exit;
  const watchers = new Set();
  const record = (chunk) => {
    output += chunk.toString('utf8');
    logFile.write(chunk);
    for (const watch of watchers) watch();
  };
  child.stdout.on('data', record);
  child.stderr.on('data', record);
  const exited = new Promise((resolve) => {
    child.on('error', (error) => record(Buffer.from(`could not start: ${error.message}\n`)));
    child.on('close', (code, signal) => {
      exit = { code, signal };
      logFile.end();
      for (const watch of watchers) watch();
      resolve(exit);
    });
  });

  const service = {
    name,
    logPath,
    pid: child.pid,
    exited,
    get running() {
      return exit === undefined;
    },
    output: () => output,
    tail: (lines = 15) => output.trimEnd().split('\n').slice(-lines).join('\n'),
    /** Resolves with the first output line matching `pattern`; rejects when the process exits first or on timeout. */
    waitForLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = output.split('\n').find((candidate) => pattern.test(candidate));
          if (line !== undefined) finish(() => resolve(line));
          else if (exit !== undefined) finish(() => reject(new Error(`${name} exited (${exit.signal ?? `code ${exit.code}`}) before it was ready`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`${name} was not ready within ${timeoutMs / 1000} s`))), timeoutMs);
        const finish = (settle) => {
          clearTimeout(timer);
          watchers.delete(check);
          settle();
        };
        watchers.add(check);
        check();
      });
    },
    /** SIGTERM (the services shut down cleanly and flush their spans), SIGKILL after `graceMs`. */
    async stop(graceMs = 4000) {
      if (exit !== undefined) return exit;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
  void exited.then(() => onExit?.(service, exit.code, exit.signal));
  return service;
}
