import { existsSync, readFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Whether the main script is an ES module: `.mjs`, or `.js` in a package with "type": "module". */
function mainIsEsm(mainScript: string | undefined): boolean {
  if (mainScript === undefined) return false;
  const file = resolve(mainScript);
  const extension = extname(file);
  if (extension === '.mjs' || extension === '.mts') return true;
  if (extension === '.cjs' || extension === '.cts') return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        return (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: string }).type === 'module';
      } catch {
        return false;
      }
    }
    if (dirname(dir) === dir) return false;
  }
}

/** How ES module imports are hooked: in-thread (`module.registerHooks`), on Node's loader thread (`module.register`), or not at all. */
export type EsmHooks = 'sync' | 'async' | 'none';

interface SyncHooksEntry {
  register(options: { include: string[] }): void;
  supportsSyncHooks(): boolean;
}

/**
 * import-in-the-middle's in-thread loader, where this Node can run it: `module.registerHooks`
 * exists from 22.15, but import-in-the-middle's synchronous load hook needs 22.22.3 / 24.11.1
 * (nodejs/node#59929), which its `supportsSyncHooks()` knows. undefined elsewhere (Node 20 has
 * neither `registerHooks` nor a `require()` of ES modules before 20.19).
 */
function syncHooksEntry(): SyncHooksEntry | undefined {
  if (typeof (nodeModule as { registerHooks?: unknown }).registerHooks !== 'function') return undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const entry = require('import-in-the-middle/register-hooks.mjs') as SyncHooksEntry;
    return entry.supportsSyncHooks() ? entry : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Registers import-in-the-middle's ESM loader, limited to the modules threadline patches so that
 * every other import keeps its native speed. Where Node offers `module.registerHooks` (22 and 24)
 * the hooks run in the app's own thread; elsewhere, or with THREADLINE_ESM_HOOKS=async, on Node's
 * loader thread (`module.register`), which costs tens of milliseconds at start-up. So a CommonJS
 * app (patched through require-in-the-middle) goes without either unless THREADLINE_ESM_LOADER=true
 * asks for it, for example for an app that import()s ESM-only packages.
 */
export function registerEsmLoader(moduleNames: readonly string[], env: NodeJS.ProcessEnv, mainScript: string | undefined, warn: (message: string) => void): EsmHooks {
  const register = (nodeModule as { register?: typeof nodeModule.register }).register;
  if (typeof register !== 'function' || moduleNames.length === 0) return 'none';
  const wanted = env.THREADLINE_ESM_LOADER === 'true' || (env.THREADLINE_ESM_LOADER !== 'false' && mainIsEsm(mainScript));
  if (!wanted) return 'none';
  const choice = (env.THREADLINE_ESM_HOOKS ?? 'auto').toLowerCase();
  if (choice !== 'auto' && choice !== 'sync' && choice !== 'async') warn(`THREADLINE_ESM_HOOKS must be auto, sync or async, not "${env.THREADLINE_ESM_HOOKS}"; using auto`);
  if (choice !== 'async') {
    const sync = syncHooksEntry();
    if (sync !== undefined) {
      sync.register({ include: [...moduleNames] });
      return 'sync';
    }
    if (choice === 'sync') warn(`THREADLINE_ESM_HOOKS=sync needs module.registerHooks (Node >= 22.22.3 or >= 24.11.1); Node ${process.versions.node} uses the loader thread`);
  }
  register('import-in-the-middle/hook.mjs', pathToFileURL(__filename), { data: { include: [...moduleNames] } });
  return 'async';
}
