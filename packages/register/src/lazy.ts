import nodeModule from 'node:module';
import { sep } from 'node:path';
import { diag, type TracerProvider } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { constructEntry, resolveEntry, type InstrumentationEntry } from './instrumentations';

/** The parts of Node's CommonJS loader the trigger wraps (not in @types/node). */
interface LoadingModule {
  exports: unknown;
  loaded: boolean;
  require(id: string): unknown;
}
interface ModuleInternals {
  _load(request: string, parent: LoadingModule | null | undefined, isMain: boolean): unknown;
  prototype: { load(this: LoadingModule, filename: string): void };
}

interface Watched {
  entry: InstrumentationEntry;
  /** waiting: its library not loaded yet; absent: its package is not installed. */
  state: 'waiting' | 'on' | 'failed' | 'absent';
}

export interface LazyOptions {
  config: Record<string, unknown>;
  provider: TracerProvider;
  onError: (entry: InstrumentationEntry, error: unknown) => void;
}

const NODE_MODULES = `${sep}node_modules${sep}`;

/** The package a file belongs to (`kafkajs`, `@aws-sdk/client-sqs`), from its last node_modules folder. */
function packageOf(filename: string): string | undefined {
  const at = filename.lastIndexOf(NODE_MODULES);
  if (at === -1) return undefined;
  const start = at + NODE_MODULES.length;
  let end = filename.indexOf(sep, start);
  if (filename[start] === '@' && end !== -1) end = filename.indexOf(sep, end + 1);
  return end === -1 ? undefined : filename.slice(start, end).split(sep).join('/');
}

/** `kafkajs/lib/x.js` → `kafkajs`, `@aws-sdk/client-sqs` → itself. */
function packageOfModuleName(name: string): string {
  const parts = name.split('/');
  return name.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * The CommonJS path: each installed transport is loaded when the app first loads a library it
 * patches, not at start-up. One wrapper around `Module._load` watches the core modules by name
 * (`child_process`, `node:child_process`) and one around `Module.prototype.load` watches the files
 * of the patched packages by path, so a library reached under an alias or by file path counts too.
 * When one fires, the transport is constructed (which installs require-in-the-middle) before the
 * library's code runs, and the require in flight is issued again through `Module.prototype.require`
 * so that require-in-the-middle's wrapper sees it and the app receives the patched exports.
 * A library already loaded before start-up gets its transport at once. Once every entry is on (or
 * failed, or found not installed), the wrappers are removed. Returns a function that lists the
 * entries that are on or will be: those whose package is installed and has not failed to load.
 */
export function installLazyInstrumentations(entries: readonly InstrumentationEntry[], options: LazyOptions): () => string[] {
  const watched: Watched[] = [];
  const byCoreName = new Map<string, Watched[]>();
  const byPackage = new Map<string, Watched[]>();
  const add = (map: Map<string, Watched[]>, key: string, item: Watched) => {
    const list = map.get(key) ?? [];
    if (!list.includes(item)) list.push(item);
    map.set(key, list);
  };
  for (const entry of entries) {
    const item: Watched = { entry, state: 'waiting' };
    watched.push(item);
    for (const name of entry.modules) {
      if (nodeModule.isBuiltin(name)) {
        const bare = name.startsWith('node:') ? name.slice(5) : name;
        add(byCoreName, bare, item);
        add(byCoreName, `node:${bare}`, item);
      } else {
        add(byPackage, packageOfModuleName(name), item);
      }
    }
  }
  // Packages are looked up only when needed: resolving costs file-system reads at start-up.
  const resolvedPackages = new Map<string, string | null>();
  const resolve = (item: Watched): string | null => {
    let resolved = resolvedPackages.get(item.entry.package);
    if (resolved === undefined) {
      try {
        resolved = resolveEntry(item.entry) ?? null;
      } catch (error) {
        options.onError(item.entry, error);
        resolved = null;
      }
      resolvedPackages.set(item.entry.package, resolved);
    }
    return resolved;
  };
  /** The entries that are on, or will be when their library loads (their package is installed). */
  const listed = () =>
    watched.filter((item) => item.state === 'on' || (item.state === 'waiting' && resolve(item) !== null)).map((item) => item.entry.short);
  if (watched.length === 0) return listed;

  const Module = nodeModule as unknown as ModuleInternals;
  const originalLoad = Module._load;
  const originalModuleLoad = Module.prototype.load;
  const originalGetBuiltin = process.getBuiltinModule as ((id: string) => unknown) | undefined;
  let remaining = watched.length;
  let off = false;
  /** Above zero while a transport is being loaded: its own requires must not start another. */
  let activating = 0;
  /** Modules whose loading turned an entry on; their require is issued again when it returns. */
  const reissue: LoadingModule[] = [];

  const uninstall = () => {
    off = true;
    // Only what is still ours is put back; a wrapper someone added on top stays and passes through.
    if (Module._load === hookedLoad) Module._load = originalLoad;
    if (Module.prototype.load === hookedModuleLoad) Module.prototype.load = originalModuleLoad;
    if (originalGetBuiltin !== undefined && process.getBuiltinModule === hookedGetBuiltin) process.getBuiltinModule = originalGetBuiltin as typeof process.getBuiltinModule;
  };

  /** Turns `item` on; false when its package is not installed or failed (reported once; the app goes on unpatched). */
  const activate = (item: Watched): boolean => {
    if (item.state !== 'waiting') return item.state === 'on';
    activating++;
    try {
      const resolved = resolve(item);
      if (resolved === null) {
        item.state = 'absent';
      } else {
        enable(constructEntry(item.entry, resolved, options.config), resolved, options.provider);
        item.state = 'on';
      }
    } catch (error) {
      item.state = 'failed';
      options.onError(item.entry, error);
    } finally {
      activating--;
    }
    if (--remaining === 0) uninstall();
    return item.state === 'on';
  };

  /** Turns on every waiting entry in `items`; true when at least one came on. */
  const activateAll = (items: Watched[] | undefined): boolean => {
    let any = false;
    if (items !== undefined) for (const item of items) if (item.state === 'waiting' && activate(item)) any = true;
    return any;
  };

  /**
   * Requires `id` again through Module.prototype.require, where require-in-the-middle now sits,
   * so that it patches the exports; `unpatched` if that fails.
   */
  const requireAgain = (id: string, parent: LoadingModule | null | undefined, unpatched: () => unknown): unknown => {
    let exports: unknown;
    try {
      const from = parent && typeof parent.require === 'function' ? parent : (module as unknown as LoadingModule);
      exports = (nodeModule as unknown as { prototype: LoadingModule }).prototype.require.call(from, id);
    } catch (error) {
      diag.warn(`@threadline/register: ${id} could not be patched, the app gets it unpatched: ${(error as Error)?.message ?? error}`);
      return unpatched();
    }
    return exports;
  };

  function hookedLoad(this: unknown, request: string, parent: LoadingModule | null | undefined, isMain: boolean): unknown {
    if (off || activating > 0) return originalLoad.call(this, request, parent, isMain);
    const core = byCoreName.get(request);
    if (core !== undefined && activateAll(core)) return requireAgain(request, parent, () => originalLoad.call(this, request, parent, isMain));
    const mark = reissue.length;
    let exports: unknown;
    try {
      exports = originalLoad.call(this, request, parent, isMain);
    } catch (error) {
      reissue.length = mark;
      throw error;
    }
    if (reissue.length > mark) {
      // Only the module this very call loaded: its exports are what the call returns.
      const loaded = reissue[mark];
      reissue.length = mark;
      if (loaded.loaded && loaded.exports === exports) {
        const filename = (loaded as unknown as { filename?: string }).filename;
        if (typeof filename === 'string') return requireAgain(filename, parent, () => exports);
      }
    }
    return exports;
  }

  function hookedModuleLoad(this: LoadingModule, filename: string): void {
    if (!off && activating === 0 && typeof filename === 'string') {
      const name = packageOf(filename);
      // Before the library's own code runs, so its internal requires already meet the patcher.
      if (name !== undefined && activateAll(byPackage.get(name))) reissue.push(this);
    }
    return originalModuleLoad.call(this, filename);
  }

  function hookedGetBuiltin(this: unknown, id: string): unknown {
    if (!off && activating === 0 && activateAll(byCoreName.get(id))) return process.getBuiltinModule(id);
    return originalGetBuiltin!.call(this, id);
  }

  Module._load = hookedLoad;
  Module.prototype.load = hookedModuleLoad;
  if (originalGetBuiltin !== undefined) process.getBuiltinModule = hookedGetBuiltin as typeof process.getBuiltinModule;

  // A library loaded before start-up (another --require, say) gets its transport now, as
  // require-in-the-middle patches it at its next require, exactly as on the eager path.
  for (const filename of Object.keys(require.cache)) {
    const name = packageOf(filename);
    if (name !== undefined && byPackage.has(name)) activateAll(byPackage.get(name));
  }
  return listed;
}

/** Registers one instrumentation with the SDK, through the @opentelemetry/instrumentation copy the transport itself uses. */
function enable(instrumentation: Instrumentation, resolved: string, provider: TracerProvider): void {
  type Register = typeof import('@opentelemetry/instrumentation').registerInstrumentations;
  let registerInstrumentations: Register;
  try {
    registerInstrumentations = (nodeModule.createRequire(resolved)('@opentelemetry/instrumentation') as { registerInstrumentations: Register }).registerInstrumentations;
  } catch {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    registerInstrumentations = (require('@opentelemetry/instrumentation') as { registerInstrumentations: Register }).registerInstrumentations;
  }
  registerInstrumentations({ instrumentations: [instrumentation], tracerProvider: provider });
}
