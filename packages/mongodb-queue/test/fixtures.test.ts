/**
 * Whole processes under the register hook (`node --import|--require @threadline/register`),
 * talking to the real wire server: the producer and the consumer are separate processes and the
 * trace is read from their real OTLP exports. Opt-in comes from THREADLINE_MONGODB_QUEUE_COLLECTIONS.
 */
import { join } from 'node:path';
import {
  assertNoOrphans,
  assertParentChild,
  assertSingleTrace,
  brokerAddresses,
  findSpan,
  findSpans,
  formatSpans,
  runFixture,
  startCollector,
  startFixture,
  type CollectedSpan,
  type FixtureOptions,
  type SpanCollector,
} from '@threadline/testing';
import { DRIVERS, uniqueDbName, unreachableMessage, type Driver } from './drivers';

jest.setTimeout(60000);

const FIXTURES = join(__dirname, 'fixtures');
const SCOPE = '@threadline/mongodb-queue';
const driver = (version: string): Driver => DRIVERS.find((candidate) => candidate.version === version)!;

let collector: SpanCollector;
/** Databases the fixtures wrote, dropped at the end: the wire server is shared and in memory. */
const databases: string[] = [];
const newDbName = (tag: string): string => {
  const name = uniqueDbName(tag);
  databases.push(name);
  return name;
};

beforeAll(async () => {
  const { mongodb } = brokerAddresses();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { MongoClient } = require('mongodb-v6') as typeof import('mongodb');
  const probe = new MongoClient(mongodb.url, { serverSelectionTimeoutMS: 5000 });
  try {
    await probe.connect();
  } catch (error) {
    throw new Error(unreachableMessage(mongodb.url, error));
  } finally {
    await probe.close();
  }
  collector = await startCollector();
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { MongoClient } = require('mongodb-v6') as typeof import('mongodb');
  const client = new MongoClient(brokerAddresses().mongodb.url, { serverSelectionTimeoutMS: 5000 });
  for (const name of databases) await client.db(name).dropDatabase().catch(() => undefined);
  await client.close();
  await collector?.close();
});

beforeEach(() => collector.reset());

function envFor(target: Driver, dbName: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MONGODB_URL: brokerAddresses().mongodb.url,
    MONGODB_MODULE: target.module,
    QUEUE_DB: dbName,
    QUEUE_COLLECTION: 'jobs',
    THREADLINE_MONGODB_QUEUE_COLLECTIONS: `${dbName}.jobs`,
    ...extra,
  };
}

async function run(file: string, options: FixtureOptions): Promise<string> {
  const result = await runFixture(join(FIXTURES, file), { collector, timeoutMs: 30000, ...options });
  if (result.code !== 0) throw new Error(`${file} exited with ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result.stdout;
}

async function finish(fixture: ReturnType<typeof startFixture>, name: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void fixture.stop('SIGKILL');
      reject(new Error(`${name} did not finish\n${fixture.stdout()}\n${fixture.stderr()}`));
    }, 30000);
  });
  const result = await Promise.race([fixture.exited, timeout]).finally(() => clearTimeout(timer));
  if (result.code !== 0) throw new Error(`${name} exited with ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result.stdout;
}

const jsonLines = (stdout: string): Record<string, unknown>[] =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const waitForSpans = (predicate: (spans: CollectedSpan[]) => boolean): Promise<CollectedSpan[]> =>
  collector.waitFor(predicate, { timeoutMs: 15000 }).catch((error: Error) => {
    throw new Error(`${error.message}\nspans so far:\n${formatSpans(collector.spans())}`);
  });

const CLAIM_CASES = [
  { version: '6.17.0', producer: 'producer.cjs', producerLoader: 'require', poller: 'poller.cjs', pollerLoader: 'require' },
  { version: '6.22.0', producer: 'producer.cjs', producerLoader: 'import', poller: 'poller.mjs', pollerLoader: 'import' },
  // producer.mjs imports 'mongodb' statically (7.5.0): the ESM loader must patch it.
  { version: '7.5.0', producer: 'producer.mjs', producerLoader: 'import', poller: 'poller.cjs', pollerLoader: 'require' },
  { version: '7.9.0', producer: 'producer.cjs', producerLoader: 'import', poller: 'poller.mjs', pollerLoader: 'import' },
] as const;

describe.each(CLAIM_CASES)('mongodb $version: $producer → $poller', (testCase) => {
  it('poll and claim across two processes: one trace, each claim a child of its own send', async () => {
    const target = driver(testCase.version);
    const dbName = newDbName('fx');
    const env = envFor(target, dbName, { COUNT: '2' });
    // The poller starts first and polls an empty queue: empty polls make no spans.
    const poller = startFixture(join(FIXTURES, testCase.poller), { collector, serviceName: 'worker', env, loader: testCase.pollerLoader });
    const produced = jsonLines(await run(testCase.producer, { serviceName: 'api', env, loader: testCase.producerLoader }));
    expect(produced).toEqual([
      { inserted: expect.any(String), sameId: true, keys: ['n', 'state', '_id'] },
      { inserted: expect.any(String), sameId: true, keys: ['n', 'state', '_id'] },
    ]);
    const claimed = jsonLines(await finish(poller, testCase.poller));
    expect(claimed.map((line) => line.claimed)).toEqual(produced.map((line) => line.inserted));
    expect(claimed.every((line) => line.hasContext === true)).toBe(true);

    const count = (all: CollectedSpan[], prefix: string) => all.filter((span) => span.name.startsWith(prefix)).length;
    const spans = await waitForSpans(
      (all) => count(all, 'work ') === 2 && count(all, 'process ') === 2 && count(all, 'send ') === 2 && count(all, 'poll-loop') === 1 && count(all, 'enqueue') === 1,
    );
    const sends = findSpans(spans, { name: `send ${dbName}.jobs`, service: 'api', kind: 'PRODUCER' });
    const processes = findSpans(spans, { name: `process ${dbName}.jobs`, service: 'worker', kind: 'CONSUMER' });
    expect([sends.length, processes.length]).toEqual([2, 2]);
    const enqueue = findSpan(spans, 'enqueue');
    for (const send of sends) expect(send.parentSpanId).toBe(enqueue.spanId);
    for (let n = 0; n < 2; n++) {
      const processSpan = processes.find((span) => span.attributes['messaging.message.id'] === produced[n].inserted)!;
      const send = sends.find((span) => span.attributes['messaging.message.id'] === produced[n].inserted)!;
      expect(processSpan.parentSpanId).toBe(send.spanId);
      assertParentChild(spans, (span) => span === processSpan, `work ${n}`);
    }
    const loop = findSpan(spans, 'poll-loop');
    expect(processes.map((span) => span.parentSpanId)).not.toContain(loop.spanId);
    const queueTrace = spans.filter((span) => span !== loop);
    assertSingleTrace(queueTrace);
    assertNoOrphans(queueTrace);
  });
});

describe('change streams across processes', () => {
  it.each([
    { version: '6.22.0', watcher: 'watcher.mjs', loader: 'import' as const, how: 'async iteration + withDocumentContext' },
    { version: '7.5.0', watcher: 'watcher.cjs', loader: 'require' as const, how: "on('change') listener" },
  ])('mongodb $version, $how: each event is handled in the trace of its fullDocument', async ({ version, watcher, loader }) => {
    const dbName = newDbName('cs');
    const env = envFor(driver(version), dbName, { COUNT: '2' });
    const watching = startFixture(join(FIXTURES, watcher), { collector, serviceName: 'watcher', env, loader });
    await watching.waitForLine(/^ready$/, 20000);
    await run('producer.cjs', { serviceName: 'api', env, loader: 'require' });
    const lines = jsonLines(await finish(watching, watcher));
    expect(lines.map((line) => line.change)).toEqual(['insert', 'insert']);
    const spans = await waitForSpans((all) => all.filter((span) => span.name.startsWith('handle ')).length === 2);
    const processes = findSpans(spans, { name: `process ${dbName}.jobs`, service: 'watcher', kind: 'CONSUMER' });
    expect(processes).toHaveLength(2);
    for (let n = 0; n < 2; n++) {
      const handle = findSpan(spans, `handle ${n}`);
      const processSpan = processes.find((span) => span.spanId === handle.parentSpanId);
      expect(processSpan).toBeDefined();
      const send = findSpan(spans, (span) => span.spanId === processSpan!.parentSpanId);
      expect(send.name).toBe(`send ${dbName}.jobs`);
    }
    assertSingleTrace(spans);
    assertNoOrphans(spans);
  });
});

describe('cursor reads, untouched collections, propagation-only', () => {
  it('find cursors across processes: receive spans link to every producer span', async () => {
    const dbName = newDbName('cur');
    const env = envFor(driver('7.5.0'), dbName, { COUNT: '3' });
    await run('producer.cjs', { serviceName: 'api', env, loader: 'require' });
    const read = jsonLines(await run('reader.cjs', { serviceName: 'reader', env, loader: 'import' }));
    expect(read).toEqual([{ listed: 3, iterated: 3 }]);
    const spans = await waitForSpans((all) => all.filter((span) => span.name === `receive ${dbName}.jobs`).length === 3);
    const sends = findSpans(spans, { name: `send ${dbName}.jobs` }).map((span) => span.spanId);
    const receives = findSpans(spans, { name: `receive ${dbName}.jobs`, service: 'reader', kind: 'CLIENT' });
    const linkSets = receives.map((span) => span.links.map((link) => link.spanId).sort());
    // toArray: one span, three links; for await with batchSize 2: two spans of 2 and 1 links.
    expect(linkSets.map((links) => links.length).sort()).toEqual([1, 2, 3]);
    expect(linkSets.find((links) => links.length === 3)).toEqual([...sends].sort());
    expect(linkSets.filter((links) => links.length < 3).flat().sort()).toEqual([...sends].sort());
  });

  it('a non-opted collection is never touched: raw documents (read uninstrumented) have no field, no spans', async () => {
    const dbName = newDbName('raw');
    const opted = envFor(driver('6.22.0'), dbName, { COUNT: '2' });
    const plain = { ...opted, QUEUE_COLLECTION: 'plain' };
    await run('producer.cjs', { serviceName: 'api', env: plain, loader: 'require' });
    await run('producer.cjs', { serviceName: 'api', env: opted, loader: 'require' });
    const rawOf = async (env: Record<string, string>) =>
      (JSON.parse((await run('reader.cjs', { env: { ...env, RAW: '1' }, loader: 'none' })).trim()) as { documents: Record<string, any>[] })
        .documents;
    const plainDocuments = await rawOf(plain);
    const optedDocuments = await rawOf(opted);
    expect(plainDocuments.map((d) => Object.keys(d).sort())).toEqual([
      ['_id', 'n', 'state'],
      ['_id', 'n', 'state'],
    ]);
    const spans = await waitForSpans((all) => all.filter((span) => span.name === `send ${dbName}.jobs`).length === 2);
    expect(spans.filter((span) => span.scope === SCOPE && span.name.includes(`${dbName}.plain`))).toEqual([]);
    // The control: the opted-in collection's documents carry their send span's context.
    const sends = findSpans(spans, { name: `send ${dbName}.jobs` });
    expect(optedDocuments.map((d) => d._otel.traceparent).sort()).toEqual(sends.map((s) => `00-${s.traceId}-${s.spanId}-01`).sort());
  });

  it('propagation-only: no spans from this package; the worker span joins the producer span', async () => {
    const dbName = newDbName('po');
    const env = envFor(driver('7.5.0'), dbName, { COUNT: '1', THREADLINE_MODE: 'propagation-only' });
    const poller = startFixture(join(FIXTURES, 'poller.cjs'), { collector, serviceName: 'worker', env, loader: 'require' });
    await run('producer.mjs', { serviceName: 'api', env, loader: 'import' });
    await finish(poller, 'poller.cjs');
    const spans = await waitForSpans((all) => all.some((span) => span.name === 'work 0') && all.some((span) => span.name === 'enqueue'));
    expect(spans.filter((span) => span.scope === SCOPE)).toEqual([]);
    assertParentChild(spans, 'enqueue', 'work 0');
  });
});
