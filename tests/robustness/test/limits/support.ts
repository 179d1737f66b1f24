// Shared by the limit tests: unique names, fixture runs, reading RESULT lines.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { runFixture, type FixtureOptions, type FixtureResult } from '@threadline/testing';

export const FIXTURES = resolve(__dirname, '../fixtures');
export const RUN_ID = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
let counter = 0;

/** A queue/topic/collection name no other run uses (letters, digits, dashes and underscores only). */
export function unique(label: string): string {
  counter += 1;
  return `tl_limits_${RUN_ID}_${counter}_${label}`;
}

export async function run(file: string, options: FixtureOptions): Promise<{ result: any; output: FixtureResult }> {
  const output = await runFixture(resolve(FIXTURES, file), { timeoutMs: 90_000, loader: 'require', ...options });
  const line = output.stdout.split('\n').find((candidate) => candidate.startsWith('RESULT '));
  if (output.code !== 0 || line === undefined || /\[threadline\]/.test(output.stderr)) {
    throw new Error(`${file} exited ${output.code ?? output.signal}\nstdout:\n${output.stdout.slice(-4000)}\nstderr:\n${output.stderr.slice(-4000)}`);
  }
  return { result: JSON.parse(line.slice('RESULT '.length)), output };
}
