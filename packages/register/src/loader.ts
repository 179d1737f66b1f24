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

/**
 * Registers import-in-the-middle's ESM loader, limited to the modules threadline patches so that
 * every other import keeps its native speed. Node's loader thread costs tens of milliseconds at
 * start-up, so a CommonJS app (patched through require-in-the-middle) goes without it unless
 * THREADLINE_ESM_LOADER=true asks for it, for example for an app that import()s ESM-only packages.
 */
export function registerEsmLoader(moduleNames: readonly string[], env: NodeJS.ProcessEnv, mainScript: string | undefined): boolean {
  const register = (nodeModule as { register?: typeof nodeModule.register }).register;
  if (typeof register !== 'function' || moduleNames.length === 0) return false;
  const wanted = env.THREADLINE_ESM_LOADER === 'true' || (env.THREADLINE_ESM_LOADER !== 'false' && mainIsEsm(mainScript));
  if (!wanted) return false;
  register('import-in-the-middle/hook.mjs', pathToFileURL(__filename), { data: { include: [...moduleNames] } });
  return true;
}
