/**
 * Options read from `THREADLINE_*` environment variables, declared once per package as a table.
 * One precedence everywhere: explicit config > environment > default. Resolve in `setConfig`
 * (which the instrumentation's constructor calls too), so `setConfig()` keeps env-derived values.
 */

/** Reads one variable's text; undefined for a value that cannot be used (left to the default). */
export type EnvParser<T> = (raw: string) => T | undefined;

export interface EnvOption<T> {
  /** The variable, e.g. `THREADLINE_KAFKAJS_BATCH_PARENT`. */
  env: string;
  parse: EnvParser<T>;
}

/** Config key → the variable that may set it. */
export type EnvOptionTable<Config> = { readonly [K in keyof Config]?: EnvOption<NonNullable<Config[K]>> };

export const envBoolean: EnvParser<boolean> = (raw) => (raw === 'true' ? true : raw === 'false' ? false : undefined);

/** A finite number above zero. */
export const envPositiveNumber: EnvParser<number> = (raw) => {
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  return Number.isFinite(value) && value > 0 ? value : undefined;
};

/** A safe integer above zero; a fraction is rounded down. */
export const envPositiveInteger: EnvParser<number> = (raw) => {
  const value = envPositiveNumber(raw);
  return value !== undefined && Number.isSafeInteger(Math.floor(value)) && Math.floor(value) > 0 ? Math.floor(value) : undefined;
};

/** One of the listed words. */
export function envOneOf<const T extends string>(...values: readonly T[]): EnvParser<T> {
  return (raw) => ((values as readonly string[]).includes(raw) ? (raw as T) : undefined);
}

/** `a, b,,c` → `['a', 'b', 'c']`. */
export const envList: EnvParser<string[]> = (raw) =>
  raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);

/** The options the environment sets (only usable values). */
export function readEnvOptions<Config>(table: EnvOptionTable<Config>, env: NodeJS.ProcessEnv = process.env): Partial<Config> {
  const options: Partial<Config> = {};
  for (const key of Object.keys(table) as (keyof Config)[]) {
    const option = table[key];
    const raw = option === undefined ? undefined : env[option.env];
    if (option === undefined || raw === undefined) continue;
    const value = option.parse(raw);
    if (value !== undefined) options[key] = value as Config[keyof Config];
  }
  return options;
}

/** `config` with every option it leaves undefined taken from the environment. Never changes `config`. */
export function resolveEnvOptions<Config extends object>(table: EnvOptionTable<Config>, config: Config, env: NodeJS.ProcessEnv = process.env): Config {
  const resolved = { ...config };
  const fromEnv = readEnvOptions(table, env);
  for (const key of Object.keys(fromEnv) as (keyof Config)[]) {
    if (resolved[key] === undefined) resolved[key] = fromEnv[key] as Config[keyof Config];
  }
  return resolved;
}

/**
 * The variables every transport reads for the shared options; spread into each package's table.
 * Typed loosely so that a package's own config type accepts it.
 */
export const MESSAGING_ENV_OPTIONS = {
  pipelineLatency: { env: 'THREADLINE_PIPELINE_LATENCY', parse: envBoolean },
} as const satisfies EnvOptionTable<{ pipelineLatency?: boolean }>;
