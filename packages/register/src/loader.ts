import * as nodeModule from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * Registers import-in-the-middle's ESM loader, limited to the modules threadline patches so that
 * every other import keeps its native speed. Works from --import and from --require.
 */
export function registerEsmLoader(moduleNames: readonly string[]): boolean {
  const register = (nodeModule as { register?: typeof nodeModule.register }).register;
  if (typeof register !== 'function' || moduleNames.length === 0) return false;
  register('import-in-the-middle/hook.mjs', pathToFileURL(__filename), { data: { include: [...moduleNames] } });
  return true;
}
