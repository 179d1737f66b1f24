import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Fixtures load this package the way an app does, from dist/ (through the register hook), so
 * a missing or stale build would test old code. Fail with the fix instead.
 */
export function assertBuilt(): void {
  const root = join(__dirname, '..');
  const newestSource = Math.max(...readdirSync(join(root, 'src')).map((file) => statSync(join(root, 'src', file)).mtimeMs));
  const built = join(root, 'dist', 'index.js');
  const builtAt = existsSync(built) ? Math.min(...readdirSync(join(root, 'dist')).filter((file) => file.endsWith('.js')).map((file) => statSync(join(root, 'dist', file)).mtimeMs)) : 0;
  if (builtAt < newestSource) {
    throw new Error('packages/k8s-job/dist is missing or older than src: run `pnpm --filter @threadline/k8s-job build` (turbo does it before `test`)');
  }
}
