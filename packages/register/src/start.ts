import { diag, DiagConsoleLogger, DiagLogLevel } from '@opentelemetry/api';
import { configFromEnv, INSTRUMENTATIONS, loadInstrumentations, selectInstrumentations, type InstrumentationEntry } from './instrumentations';
import { installLazyInstrumentations } from './lazy';
import { installLifecycle, joinTraceFromEnv } from './lifecycle';
import { registerEsmLoader, type EsmHooks } from './loader';
import { startSdk, type Sdk } from './sdk';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { version } = require('../package.json') as { version: string };

const LOG_LEVELS: Record<string, DiagLogLevel> = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};

/** What the hook set up; undefined when set-up failed and the app runs uninstrumented. */
export interface Threadline {
  sdk: Sdk;
  /**
   * The short names of the instrumentations that are on. ES module apps: those loaded at start.
   * CommonJS apps: those whose package is installed (looked up when this is read, without loading
   * it) and has not failed to load; each loads when the app first loads a library it patches.
   */
  instrumentations: string[];
  /**
   * How ES module imports are hooked: `sync` in the app's thread through `module.registerHooks`
   * (Node 22/24), `async` on Node's loader thread (`module.register`), `none` for a CommonJS app.
   */
  esmHooks: EsmHooks;
}

/** Starts everything; called once, on the main thread, by index.ts. */
export function start(env: NodeJS.ProcessEnv): Threadline | undefined {
  const level = LOG_LEVELS[(env.OTEL_LOG_LEVEL ?? '').toLowerCase()];
  if (level !== undefined) diag.setLogger(new DiagConsoleLogger(), level);
  try {
    // Visible without OTEL_LOG_LEVEL: a misspelt name silently turning a transport off is worse
    // than one line on stderr. An explicit OTEL_LOG_LEVEL (even `none`) decides through diag.
    const unknown = (name: string) => {
      const line = `@threadline/register: unknown instrumentation name "${name}" in OTEL_NODE_ENABLED_INSTRUMENTATIONS/OTEL_NODE_DISABLED_INSTRUMENTATIONS (known: ${INSTRUMENTATIONS.map((entry) => entry.short).join(', ')}, and aws-sdk, mongodb)`;
      if (level !== undefined) diag.warn(line);
      else process.stderr.write(`${line}\n`);
    };
    const entries = selectInstrumentations(env, unknown);
    const esmHooks = registerEsmLoader(entries.flatMap((entry) => entry.modules), env, process.argv[1], (message) => diag.warn(`@threadline/register: ${message}`));
    const sdk = startSdk(env);
    joinTraceFromEnv(sdk, env, version);
    installLifecycle(sdk);
    const config = configFromEnv(env);
    const onError = (entry: InstrumentationEntry, error: unknown) =>
      diag.warn(`@threadline/register: ${entry.short} not enabled: ${(error as Error)?.message ?? error}`);
    if (esmHooks === 'none') {
      // CommonJS: each transport loads at the first require of a library it patches (see lazy.ts).
      const listed = installLazyInstrumentations(entries, { config, provider: sdk.provider, onError });
      return {
        sdk,
        get instrumentations() {
          return listed();
        },
        esmHooks,
      };
    }
    // The ESM loader hooks imports by name as they happen, so every transport is constructed now.
    const loaded = loadInstrumentations(entries, config, onError);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { registerInstrumentations } = require('@opentelemetry/instrumentation') as typeof import('@opentelemetry/instrumentation');
    registerInstrumentations({ instrumentations: loaded.map((item) => item.instrumentation), tracerProvider: sdk.provider, meterProvider: sdk.metrics?.provider });
    return { sdk, instrumentations: loaded.map((item) => item.entry.short), esmHooks };
  } catch (error) {
    // The one line a user sees when set-up fails; the app itself goes on.
    process.stderr.write(`[threadline] set-up failed, the app runs without tracing: ${(error as Error)?.message ?? error}\n`);
    return undefined;
  }
}

