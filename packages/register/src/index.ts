import { isMainThread } from 'node:worker_threads';
import { diag, DiagConsoleLogger, DiagLogLevel } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { configFromEnv, loadInstrumentations, selectInstrumentations } from './instrumentations';
import { installLifecycle, joinTraceFromEnv } from './lifecycle';
import { registerEsmLoader } from './loader';
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
  instrumentations: string[];
}

const STARTED = Symbol.for('threadline.register.started');

function start(env: NodeJS.ProcessEnv): Threadline | undefined {
  const globals = globalThis as { [STARTED]?: Threadline | undefined };
  // --import and --require together, or a second copy of the package, must not start twice.
  if (STARTED in globals) return globals[STARTED];
  // Node also runs --require preloads in its ESM loader thread; only the app's main thread is traced.
  if (!isMainThread) return undefined;
  globals[STARTED] = undefined;
  if (env.OTEL_SDK_DISABLED === 'true') return undefined;
  const level = LOG_LEVELS[(env.OTEL_LOG_LEVEL ?? '').toLowerCase()];
  if (level !== undefined) diag.setLogger(new DiagConsoleLogger(), level);
  try {
    const entries = selectInstrumentations(env, (name) => diag.warn(`@threadline/register: unknown instrumentation name "${name}"`));
    registerEsmLoader(entries.flatMap((entry) => entry.modules));
    const sdk = startSdk(env);
    joinTraceFromEnv(sdk, env, version);
    installLifecycle(sdk);
    const loaded = loadInstrumentations(entries, configFromEnv(env), (entry, error) =>
      diag.warn(`@threadline/register: ${entry.short} not enabled: ${(error as Error)?.message ?? error}`),
    );
    registerInstrumentations({ instrumentations: loaded.map((item) => item.instrumentation), tracerProvider: sdk.provider });
    const threadline = { sdk, instrumentations: loaded.map((item) => item.entry.short) };
    globals[STARTED] = threadline;
    return threadline;
  } catch (error) {
    // The one line a user sees when set-up fails; the app itself goes on.
    process.stderr.write(`[threadline] set-up failed, the app runs without tracing: ${(error as Error)?.message ?? error}\n`);
    return undefined;
  }
}

/** The running set-up (also reachable from app code that imports this package). */
export const threadline: Threadline | undefined = start(process.env);
export { INSTRUMENTATIONS, selectInstrumentations } from './instrumentations';
export type { InstrumentationEntry } from './instrumentations';
