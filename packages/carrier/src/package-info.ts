import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The name and version in `packageDir`/package.json, read at run time so they never drift from
 * it. Call with `join(__dirname, '..')` from a package's `dist`. Falls back to `0.0.0`.
 */
export function packageInfo(packageDir: string, fallbackName = 'unknown'): { name: string; version: string } {
  try {
    const parsed = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
    return {
      name: typeof parsed.name === 'string' ? parsed.name : fallbackName,
      version: typeof parsed.version === 'string' ? parsed.version : '0.0.0',
    };
  } catch {
    return { name: fallbackName, version: '0.0.0' };
  }
}
