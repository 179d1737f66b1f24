/**
 * Metrics against the real wire server (tools/brokers), in process: the oldest and the newest
 * supported driver, patched as the require hook patches them, with an in-memory MeterProvider.
 * Times the test records itself bound every value: ObjectId times have whole seconds, Date fields
 * and `threadline-sent-at` milliseconds.
 */
import { createNoopMeter } from '@opentelemetry/api';
import type * as Mongo from 'mongodb';
import { brokerAddresses, setupInMemoryMetrics, type MetricPoint } from '@threadline/testing';
import { MongoQueueInstrumentation, withDocumentContext, type MongoQueueInstrumentationConfig } from '../src';
import { DRIVERS, loadPatchedDriver, uniqueDbName, unreachableMessage } from './drivers';
import { nextTurn, setupOtel } from './otel';

jest.setTimeout(30000);

const { tracer, logs } = setupOtel();
const { meterProvider, collect } = setupInMemoryMetrics();
const QUEUES = /^tlq_[a-z0-9]+_m\d\.(jobs|timed|custom|bad|events|off)$/;
const BASE_CONFIG: MongoQueueInstrumentationConfig = { collections: [QUEUES] };
const instrumentation = new MongoQueueInstrumentation(BASE_CONFIG);
const MS = 0.001;

type Doc = Record<string, any>;

/** The points of one metric whose attributes include `where`. */
async function points(name: string, where: Record<string, unknown>): Promise<MetricPoint[]> {
  return (await collect()).filter((point) => point.name === name && Object.entries(where).every(([key, value]) => point.attributes[key] === value));
}
const total = (list: MetricPoint[], field: 'value' | 'count') => list.reduce((sum, point) => sum + (point[field] ?? 0), 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The oldest supported driver and the newest.
describe.each([DRIVERS[0], DRIVERS[DRIVERS.length - 1]].map((driver, index) => ({ ...driver, index })))('$label', (driver) => {
  let mongo: typeof Mongo;
  let client: Mongo.MongoClient;
  let db: Mongo.Db;
  let dbName: string;
  const url = brokerAddresses().mongodb.url;
  const coll = (name: string): Mongo.Collection<Doc> => db.collection<Doc>(name);
  const ns = (name: string) => `${dbName}.${name}`;
  const raw = async (name: string, filter: Doc = {}): Promise<Doc[]> => (await db.command({ find: name, filter, sort: { _id: 1 } })).cursor.firstBatch as Doc[];
  const claim = (name: string) => coll(name).findOneAndUpdate({ state: 'ready' }, { $set: { state: 'taken' } }, { sort: { _id: 1 }, returnDocument: 'after' });

  beforeAll(async () => {
    mongo = loadPatchedDriver<typeof Mongo>(instrumentation, driver);
    client = new mongo.MongoClient(url, { serverSelectionTimeoutMS: 5000, directConnection: true });
    try {
      await client.connect();
    } catch (error) {
      throw new Error(unreachableMessage(url, error));
    }
    dbName = uniqueDbName(`m${driver.index}`);
    db = client.db(dbName);
  });

  afterAll(async () => {
    await db?.dropDatabase().catch(() => undefined);
    await client?.close();
  });

  beforeEach(() => {
    instrumentation.setConfig(BASE_CONFIG);
    instrumentation.setMeterProvider(meterProvider);
  });

  it('counts every inserted and claimed document; queue time from the ObjectId (whole seconds), pipeline from the first send', async () => {
    const inserted: Array<{ before: number; after: number }> = [];
    await tracer.startActiveSpan('order', async (span) => {
      const track = async (insert: () => Promise<unknown>, count: number) => {
        const before = Date.now();
        await insert();
        const after = Date.now();
        for (let index = 0; index < count; index++) inserted.push({ before, after });
      };
      await track(() => coll('jobs').insertOne({ n: 1, state: 'ready' }), 1);
      await track(() => coll('jobs').insertMany([{ n: 2, state: 'ready' }, { n: 3, state: 'ready' }]), 2);
      await track(() => coll('jobs').bulkWrite([{ insertOne: { document: { n: 4, state: 'ready' } } }]), 1);
      span.end();
    });
    // ObjectId _ids: no threadline-sent-at; the tracestate carries the pipeline origin.
    for (const stored of await raw('jobs')) {
      expect(Object.keys(stored._otel).sort()).toEqual(['traceparent', 'tracestate']);
      expect(stored._otel.tracestate).toMatch(/^threadline=o:[0-9a-z]+$/);
    }
    const claims: Array<{ before: number; after: number; document: Doc | null }> = [];
    const processing: number[] = [];
    for (let index = 0; index < 4; index++) {
      const before = Date.now();
      const document = await claim('jobs');
      claims.push({ before, after: Date.now(), document });
      // Two of them processed inside withDocumentContext: that is their process duration.
      if (index % 2 === 0) {
        await withDocumentContext(document, async () => {
          const start = performance.now();
          await sleep(30);
          processing.push(performance.now() - start);
        });
      }
    }
    expect(claims.map((each) => each.document?.n)).toEqual([1, 2, 3, 4]);
    expect(await claim('jobs')).toBeNull();
    await nextTurn();

    const base = { 'messaging.system': 'mongodb', 'messaging.destination.name': ns('jobs') };
    expect(total(await points('messaging.client.sent.messages', { ...base, 'messaging.operation.name': 'send' }), 'value')).toBe(4);
    expect(total(await points('messaging.client.operation.duration', { ...base, 'messaging.operation.name': 'send' }), 'count')).toBe(3);
    expect(total(await points('messaging.client.consumed.messages', base), 'value')).toBe(4);
    // Five claims, the empty one included.
    expect(total(await points('messaging.client.operation.duration', { ...base, 'messaging.operation.name': 'receive' }), 'count')).toBe(5);
    const [processed] = await points('messaging.process.duration', base);
    expect(processed.count).toBe(2);
    expect(processed.min!).toBeGreaterThanOrEqual(Math.min(...processing) / 1000);
    expect(processed.max!).toBeLessThan(Math.max(...processing) / 1000 + 0.05);

    // The ObjectId holds the insert's second: the value is at most 1 s above the true wait.
    const [queueTime] = await points('threadline.messaging.queue.time', { ...base, 'threadline.time.source': 'broker' });
    expect(queueTime.count).toBe(4);
    const lowest = Math.min(...claims.map((each, index) => each.before - inserted[index].after));
    const highest = Math.max(...claims.map((each, index) => each.after - Math.floor(inserted[index].before / 1000) * 1000));
    expect(queueTime.min!).toBeGreaterThanOrEqual(lowest / 1000 - MS);
    expect(queueTime.max!).toBeLessThanOrEqual(highest / 1000 + MS);
    const [pipeline] = await points('threadline.pipeline.duration', base);
    expect(pipeline.count).toBe(4);
    expect(pipeline.min!).toBeGreaterThanOrEqual(lowest / 1000);
    expect(pipeline.max!).toBeLessThanOrEqual(Math.max(...claims.map((each, index) => each.after - inserted[index].before)) / 1000);
  });

  it('insertTimeField: the queue time has milliseconds; a cursor batch is counted and timed as one receive', async () => {
    instrumentation.setConfig({ ...BASE_CONFIG, insertTimeField: 'createdAt' });
    const createdAt = new Date();
    await coll('timed').insertMany([{ n: 1, createdAt }, { n: 2, createdAt }, { n: 3, createdAt }]);
    await sleep(20);
    const before = Date.now();
    const documents = await coll('timed').find({}).toArray();
    const after = Date.now();
    expect(documents.map((document) => document.n)).toEqual([1, 2, 3]);
    const base = { 'messaging.destination.name': ns('timed') };
    expect(total(await points('messaging.client.consumed.messages', { ...base, 'messaging.operation.name': 'receive' }), 'value')).toBe(3);
    expect(total(await points('messaging.client.operation.duration', { ...base, 'messaging.operation.name': 'receive' }), 'count')).toBe(1);
    const [queueTime] = await points('threadline.messaging.queue.time', base);
    expect(queueTime.count).toBe(3);
    expect(queueTime.min!).toBeGreaterThanOrEqual((before - createdAt.getTime()) / 1000 - MS);
    expect(queueTime.max!).toBeLessThanOrEqual((after - createdAt.getTime()) / 1000 + MS);
    // A cursor document's work inside withDocumentContext is its processing.
    await withDocumentContext(documents[0], () => sleep(10));
    expect((await points('messaging.process.duration', base))[0]?.count).toBe(1);
  });

  it('a document with its own _id carries threadline-sent-at (milliseconds, source carried)', async () => {
    const before = Date.now();
    await coll('custom').insertOne({ _id: `job-${driver.index}` as never, state: 'ready' });
    const after = Date.now();
    const [stored] = await raw('custom');
    expect(Object.keys(stored._otel).sort()).toEqual(['threadline-sent-at', 'traceparent', 'tracestate']);
    const sentAt = Number(stored._otel['threadline-sent-at']);
    expect(sentAt).toBeGreaterThanOrEqual(before);
    expect(sentAt).toBeLessThanOrEqual(after);
    const claimedBefore = Date.now();
    expect((await claim('custom'))?._id).toBe(`job-${driver.index}`);
    const claimedAfter = Date.now();
    const [queueTime] = await points('threadline.messaging.queue.time', { 'messaging.destination.name': ns('custom'), 'threadline.time.source': 'carried' });
    expect(queueTime.count).toBe(1);
    expect(queueTime.min!).toBeGreaterThanOrEqual((claimedBefore - sentAt) / 1000);
    expect(queueTime.max!).toBeLessThanOrEqual((claimedAfter - sentAt) / 1000);
  });

  it('garbage, future and missing times are dropped with a diag message; the documents reach the consumer unaltered', async () => {
    instrumentation.setConfig({ ...BASE_CONFIG, insertTimeField: 'createdAt' });
    // Written by producers threadline does not see (a raw insert command), as they stored them.
    const written: Doc[] = [
      { _id: 'garbage', state: 'ready', _otel: { 'threadline-sent-at': '12ab' } },
      { _id: 'future', state: 'ready', createdAt: new Date(Date.now() + 60_000) },
      { _id: 'missing', state: 'ready' },
      { _id: 'negative', state: 'ready', createdAt: -5 },
    ];
    await db.command({ insert: 'bad', documents: written });
    logs.length = 0;
    const claimed: Array<Doc | null> = [];
    for (let index = 0; index < written.length; index++) claimed.push(await coll('bad').findOneAndUpdate({ state: 'ready' }, { $set: { state: 'taken' } }, { sort: { _id: 1 } }));
    // Before the update (returnDocument defaults to 'before'): exactly what was stored.
    expect(claimed.map((document) => document?._id).sort()).toEqual(['future', 'garbage', 'missing', 'negative']);
    for (const document of claimed) expect(document).toEqual(written.find((each) => each._id === document?._id));
    const base = { 'messaging.destination.name': ns('bad') };
    expect(total(await points('messaging.client.consumed.messages', base), 'value')).toBe(4);
    expect(await points('threadline.messaging.queue.time', base)).toEqual([]);
    const dropped = logs.filter((log) => log.message.includes('threadline.messaging.queue.time'));
    for (const problem of ['garbage', 'future', 'missing', 'negative']) expect(dropped.some((log) => log.message.includes(`${problem} timestamp`))).toBe(true);
  });

  it("a change listener's run is the process duration of its event", async () => {
    const stream = coll('events').watch([], { fullDocument: 'updateLookup' });
    const runs: number[] = [];
    const seen = new Promise<void>((resolve) => {
      stream.on('change', () => {
        const start = performance.now();
        while (performance.now() - start < 15) {
          // A listener's synchronous work.
        }
        runs.push(performance.now() - start);
        resolve();
      });
    });
    // Let the stream's aggregate reach the server before the insert.
    await sleep(300);
    await coll('events').insertOne({ kind: 'created' });
    await seen;
    await stream.close();
    const base = { 'messaging.destination.name': ns('events') };
    expect(total(await points('messaging.client.consumed.messages', base), 'value')).toBe(1);
    const [processed] = await points('messaging.process.duration', base);
    expect(processed.count).toBe(1);
    expect(processed.min!).toBeGreaterThanOrEqual(runs[0] / 1000);
    expect(processed.max!).toBeLessThan(runs[0] / 1000 + 0.02);
  });

  it('metrics off (no MeterProvider): the stored document is what it was without metrics, and nothing is recorded', async () => {
    instrumentation.setMeterProvider({ getMeter: () => createNoopMeter() });
    const before = (await collect()).length;
    await tracer.startActiveSpan('order', async (span) => {
      await coll('off').insertOne({ _id: 'own-id' as never, state: 'ready' });
      await coll('off').insertOne({ state: 'ready' });
      span.end();
    });
    for (const stored of await raw('off')) expect(Object.keys(stored._otel)).toEqual(['traceparent']);
    expect(await claim('off')).not.toBeNull();
    expect((await collect()).length).toBe(before);
  });
});
