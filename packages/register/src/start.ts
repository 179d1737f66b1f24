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

/** Starts everything; called once, on the main thread, by index.ts. */
export function start(env: NodeJS.ProcessEnv): Threadline | undefined {
  const level = LOG_LEVELS[(env.OTEL_LOG_LEVEL ?? '').toLowerCase()];
  if (level !== undefined) diag.setLogger(new DiagConsoleLogger(), level);
  try {
    const entries = selectInstrumentations(env, (name) => diag.warn(`@threadline/register: unknown instrumentation name "${name}"`));
    registerEsmLoader(entries.flatMap((entry) => entry.modules), env, process.argv[1]);
    const sdk = startSdk(env);
    joinTraceFromEnv(sdk, env, version);
    installLifecycle(sdk);
    const loaded = loadInstrumentations(entries, configFromEnv(env), (entry, error) =>
      diag.warn(`@threadline/register: ${entry.short} not enabled: ${(error as Error)?.message ?? error}`),
    );
    registerInstrumentations({ instrumentations: loaded.map((item) => item.instrumentation), tracerProvider: sdk.provider });
    return { sdk, instrumentations: loaded.map((item) => item.entry.short) };
  } catch (error) {
    // The one line a user sees when set-up fails; the app itself goes on.
    process.stderr.write(`[threadline] set-up failed, the app runs without tracing: ${(error as Error)?.message ?? error}\n`);
    return undefined;
  }
}

