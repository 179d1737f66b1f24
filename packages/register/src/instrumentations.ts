import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Instrumentation } from '@opentelemetry/instrumentation';

/** One threadline instrumentation the hook can turn on, if its package is installed. */
export interface InstrumentationEntry {
  /** The name used in OTEL_NODE_ENABLED_INSTRUMENTATIONS / OTEL_NODE_DISABLED_INSTRUMENTATIONS. */
  short: string;
  /** The npm package that holds it. */
  package: string;
  /** The exported class. */
  export: string;
  /** Module names the ESM loader must intercept for it. */
  modules: string[];
}

export const INSTRUMENTATIONS: readonly InstrumentationEntry[] = [
  { short: 'kafkajs', package: '@threadline/kafkajs', export: 'KafkaJsInstrumentation', modules: ['kafkajs'] },
  { short: 'amqplib', package: '@threadline/amqplib', export: 'AmqplibInstrumentation', modules: ['amqplib'] },
  { short: 'sqs', package: '@threadline/sqs', export: 'SqsInstrumentation', modules: ['@aws-sdk/client-sqs', 'sqs-consumer'] },
  { short: 'mongodb-queue', package: '@threadline/mongodb-queue', export: 'MongoQueueInstrumentation', modules: ['mongodb'] },
  { short: 'k8s-job', package: '@threadline/k8s-job', export: 'KubernetesJobInstrumentation', modules: ['@kubernetes/client-node'] },
  {
    short: 'child-process',
    package: '@threadline/k8s-job',
    export: 'ChildProcessInstrumentation',
    modules: ['child_process', 'node:child_process'],
  },
];

/**
 * The names `@opentelemetry/auto-instrumentations-node` uses for the same libraries, so one
 * OTEL_NODE_ENABLED_INSTRUMENTATIONS/OTEL_NODE_DISABLED_INSTRUMENTATIONS value serves both.
 */
export const CONTRIB_NAMES: Readonly<Record<string, string>> = { 'aws-sdk': 'sqs', mongodb: 'mongodb-queue' };

function parseList(raw: string | undefined): Set<string> | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  return new Set(
    raw
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean)
      .map((name) => (Object.prototype.hasOwnProperty.call(CONTRIB_NAMES, name) ? CONTRIB_NAMES[name] : name)),
  );
}

/** The entries left after OTEL_NODE_ENABLED_INSTRUMENTATIONS and OTEL_NODE_DISABLED_INSTRUMENTATIONS. */
export function selectInstrumentations(
  env: NodeJS.ProcessEnv,
  onUnknown: (name: string) => void = () => {},
): InstrumentationEntry[] {
  const enabled = parseList(env.OTEL_NODE_ENABLED_INSTRUMENTATIONS);
  const disabled = parseList(env.OTEL_NODE_DISABLED_INSTRUMENTATIONS) ?? new Set<string>();
  const known = new Set(INSTRUMENTATIONS.map((entry) => entry.short));
  for (const name of [...(enabled ?? []), ...disabled]) if (!known.has(name)) onUnknown(name);
  return INSTRUMENTATIONS.filter((entry) => (enabled === undefined || enabled.has(entry.short)) && !disabled.has(entry.short));
}

/** Shared options every transport takes from the environment. */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  if (env.THREADLINE_MODE === 'propagation-only' || env.THREADLINE_MODE === 'spans') config.mode = env.THREADLINE_MODE;
  if (env.THREADLINE_USE_LINKS === 'true') config.useLinks = true;
  if (env.THREADLINE_FOLLOW_PULLS === 'false') config.followPulls = false;
  if (env.THREADLINE_PIPELINE_LATENCY === 'false') config.pipelineLatency = false;
  return config;
}

export interface LoadedInstrumentation {
  entry: InstrumentationEntry;
  instrumentation: Instrumentation;
}

/**
 * Where an entry's package is installed, or undefined when it is not: looked up from this package
 * and then from the application's folder, so an app that installs only some transports gets only
 * those. Resolving reads a few package.json files and loads nothing.
 */
export function resolveEntry(entry: InstrumentationEntry): string | undefined {
  for (const from of [__filename, join(process.cwd(), 'noop.js')]) {
    try {
      return createRequire(from).resolve(entry.package);
    } catch (error) {
      if ((error as { code?: string }).code !== 'MODULE_NOT_FOUND') throw error;
    }
  }
  return undefined;
}

/** Loads an entry's package from `resolved` and constructs its instrumentation (enabled). Throws on failure. */
export function constructEntry(entry: InstrumentationEntry, resolved: string, config: Record<string, unknown>): Instrumentation {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exports = require(resolved) as Record<string, unknown>;
  const Instrumentation = exports[entry.export] as (new (config: Record<string, unknown>) => Instrumentation) | undefined;
  if (typeof Instrumentation !== 'function') throw new Error(`${entry.package} does not export ${entry.export}`);
  return new Instrumentation({ ...config });
}

/** Loads every installed instrumentation now (the ES module path); a failing one is reported and skipped. */
export function loadInstrumentations(
  entries: readonly InstrumentationEntry[],
  config: Record<string, unknown>,
  onError: (entry: InstrumentationEntry, error: unknown) => void,
): LoadedInstrumentation[] {
  const loaded: LoadedInstrumentation[] = [];
  for (const entry of entries) {
    try {
      const resolved = resolveEntry(entry);
      if (resolved !== undefined) loaded.push({ entry, instrumentation: constructEntry(entry, resolved, config) });
    } catch (error) {
      onError(entry, error);
    }
  }
  return loaded;
}
