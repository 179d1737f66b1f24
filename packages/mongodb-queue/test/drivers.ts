import type { InstrumentationBase } from '@opentelemetry/instrumentation';

export interface Driver {
  /** What the test names show. */
  label: string;
  /** The devDependency alias that holds this version. */
  module: string;
  version: string;
  /**
   * `files`: patch through the lib/bson.js and lib/collection.js file hooks only, as happens when
   * the app reaches the driver under another name (an ESM import of an alias).
   */
  patchVia: 'main' | 'files';
}

/** Oldest supported, newest 6.x, a 7.x from before the driver required wire version 9, newest 7.x. */
export const DRIVERS: Driver[] = [
  { label: 'mongodb 6.17.0', module: 'mongodb-v6-oldest', version: '6.17.0', patchVia: 'main' },
  { label: 'mongodb 6.22.0 (file hooks)', module: 'mongodb-v6', version: '6.22.0', patchVia: 'files' },
  { label: 'mongodb 7.5.0', module: 'mongodb-v7', version: '7.5.0', patchVia: 'main' },
  { label: 'mongodb 7.9.0', module: 'mongodb-v7-latest', version: '7.9.0', patchVia: 'main' },
];

/** Loads a driver version and applies the instrumentation's patch to it, as the require hook would. */
export function loadPatchedDriver<T>(instrumentation: InstrumentationBase, driver: Driver): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const moduleExports = require(driver.module) as T;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { version } = require(`${driver.module}/package.json`) as { version: string };
  if (version !== driver.version) throw new Error(`${driver.module} is ${version}, expected ${driver.version}`);
  for (const definition of instrumentation.getModuleDefinitions()) {
    if (driver.patchVia === 'main') {
      definition.patch?.(moduleExports, version);
      continue;
    }
    // In the order the driver itself loads them: lib/bson.js before lib/collection.js.
    for (const name of ['mongodb/lib/bson.js', 'mongodb/lib/collection.js']) {
      const file = definition.files.find((candidate) => candidate.name === name);
      if (file === undefined) throw new Error(`no file hook for ${name}`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      file.patch(require(name.replace(/^mongodb/, driver.module)), version);
    }
  }
  return moduleExports;
}

export function unreachableMessage(url: string, error: unknown): string {
  return (
    `MongoDB wire server unreachable at ${url} (${(error as Error)?.message ?? error}). ` +
    'Start it with `node tools/brokers/cli.mjs up mongodb` from the repository root.'
  );
}

/** A database name no earlier run used. */
export function uniqueDbName(tag: string): string {
  return `tlq_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}_${tag}`;
}

/** A patched driver connected to the wire server, with a database of its own (dropped by `close`). */
export async function connectDriver<M extends { MongoClient: new (url: string, options?: object) => any }>(
  instrumentation: InstrumentationBase,
  driver: Driver,
  url: string,
  tag: string,
): Promise<{ mongo: M; client: any; db: any; dbName: string; close: () => Promise<void> }> {
  const mongo = loadPatchedDriver<M>(instrumentation, driver);
  const client = new mongo.MongoClient(url, { serverSelectionTimeoutMS: 5000, directConnection: true });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(unreachableMessage(url, error));
  }
  const dbName = uniqueDbName(tag);
  const db = client.db(dbName);
  const close = async () => {
    await db.dropDatabase().catch(() => undefined);
    await client.close();
  };
  return { mongo, client, db, dbName, close };
}
