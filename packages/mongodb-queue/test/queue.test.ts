/**
 * The instrumentation against the real wire server (tools/brokers), in process: each supported
 * driver version is loaded and patched exactly as the require hook patches it, and every span is
 * read from an in-memory exporter. Cross-process traces, ESM and the register hook are covered by
 * fixtures.test.ts.
 */
import { propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type * as Mongo from 'mongodb';
import { MongoQueueInstrumentation, withDocumentContext, type MongoQueueInstrumentationConfig } from '../src';
import { brokerAddresses } from '@threadline/testing';
import { DRIVERS, loadPatchedDriver, uniqueDbName, unreachableMessage } from './drivers';
import { nextTurn, parentId, setupOtel, spanId, toMs, traceId, traceparentOf } from './otel';

jest.setTimeout(30000);

const { exporter, tracer, logs } = setupOtel();
const SCOPE = '@threadline/mongodb-queue';
const QUEUES = /^tlq_[a-z0-9]+_d\d\.(jobs|outbox|batch|events|strip)$/;
const BASE_CONFIG: MongoQueueInstrumentationConfig = { collections: [QUEUES, (ns) => ns.endsWith('.fn_opted')] };
const instrumentation = new MongoQueueInstrumentation(BASE_CONFIG);

type Doc = Record<string, any>;

const ours = (): ReadableSpan[] => exporter.getFinishedSpans().filter((span) => span.instrumentationScope.name === SCOPE);
const named = (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((span) => span.name === name);
const one = (name: string): ReadableSpan => {
  const found = named(name);
  if (found.length !== 1) throw new Error(`expected one span ${name}, got ${found.length}: ${exporter.getFinishedSpans().map((s) => s.name).join(', ')}`);
  return found[0];
};

/** Runs `fn` in a new root span and returns that span once ended. */
async function inRootSpan<T>(name: string, fn: () => Promise<T>): Promise<{ span: ReadableSpan; result: T }> {
  const result = await tracer.startActiveSpan(name, { root: true }, async (span) => {
    try {
      return await fn();
    } finally {
      span.end();
    }
  });
  return { span: one(name), result };
}

describe.each(DRIVERS.map((driver, index) => ({ ...driver, index })))('$label', (driver) => {
  let mongo: typeof Mongo;
  const url = brokerAddresses().mongodb.url;
  let client: Mongo.MongoClient;
  let db: Mongo.Db;
  let dbName: string;
  const coll = (name: string): Mongo.Collection<Doc> => db.collection<Doc>(name);
  const ns = (name: string): string => `${dbName}.${name}`;
  /** The documents as stored, read with a raw command that no patched method touches. */
  const raw = async (name: string, filter: Doc = {}): Promise<Doc[]> => {
    const reply = await db.command({ find: name, filter, sort: { _id: 1 } });
    return reply.cursor.firstBatch as Doc[];
  };
  /** Inserts bypassing the patched methods: a producer without instrumentation. */
  const rawInsert = (name: string, documents: Doc[]) => db.command({ insert: name, documents });

  beforeAll(async () => {
    mongo = loadPatchedDriver<typeof Mongo>(instrumentation, driver);
    client = new mongo.MongoClient(url, { serverSelectionTimeoutMS: 5000 });
    try {
      await client.connect();
    } catch (error) {
      throw new Error(unreachableMessage(url, error));
    }
    dbName = uniqueDbName(`d${driver.index}`);
    db = client.db(dbName);
  });

  afterAll(async () => {
    await db?.dropDatabase().catch(() => undefined);
    await client?.close();
  });

  beforeEach(() => {
    instrumentation.setConfig(BASE_CONFIG);
    exporter.reset();
  });

  describe('produce', () => {
    it('insertOne: one PRODUCER span; the stored document carries it; the caller sees only _id added', async () => {
      const document: Doc = { task: 'resize', n: 1 };
      let idRightAfterCall: unknown;
      const { span: parent, result } = await inRootSpan('A', async () => {
        const pending = coll('jobs').insertOne(document);
        idRightAfterCall = document._id;
        return pending;
      });
      const send = one(`send ${ns('jobs')}`);
      expect(send.kind).toBe(SpanKind.PRODUCER);
      expect(parentId(send)).toBe(spanId(parent));
      expect(send.attributes).toEqual({
        'messaging.system': 'mongodb',
        'messaging.destination.name': ns('jobs'),
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'send',
        'db.operation.name': 'insertOne',
        'db.namespace': dbName,
        'db.collection.name': 'jobs',
        'server.address': '127.0.0.1',
        'server.port': Number(new URL(url).port),
        'messaging.message.id': document._id.toHexString(),
      });
      // The caller's object: exactly what the driver alone leaves, _id assigned during the call.
      expect(Object.keys(document)).toEqual(['task', 'n', '_id']);
      expect(document._id).toBeInstanceOf(mongo.ObjectId);
      expect(idRightAfterCall).toBe(document._id);
      expect(result.insertedId).toBe(document._id);
      const [stored] = await raw('jobs', { _id: document._id });
      expect(stored).toEqual({ _id: document._id, task: 'resize', n: 1, _otel: { traceparent: traceparentOf(send) } });
    });

    it('insertMany: one span for the call, every document carries it, insertedIds are the callers\' _ids', async () => {
      const documents: Doc[] = [{ n: 1 }, { n: 2, _id: 'fixed-id' }, { n: 3 }];
      const { result } = await inRootSpan('A', () => coll('jobs').insertMany(documents));
      const send = one(`send ${ns('jobs')}`);
      expect(send.attributes['messaging.batch.message_count']).toBe(3);
      expect(send.attributes['messaging.operation.name']).toBe('send');
      expect(send.attributes['db.operation.name']).toBe('insertMany');
      expect(ours()).toHaveLength(1); // insertMany's own bulkWrite adds no second span
      expect(result.insertedIds).toEqual({ 0: documents[0]._id, 1: 'fixed-id', 2: documents[2]._id });
      expect(result.insertedIds[0]).toBe(documents[0]._id);
      for (const document of documents) expect(Object.keys(document)).not.toContain('_otel');
      const stored = await raw('jobs', { _id: { $in: documents.map((d) => d._id) } });
      expect(stored).toHaveLength(3);
      for (const document of stored) expect(document._otel).toEqual({ traceparent: traceparentOf(send) });
    });

    it('bulkWrite: inserts (both operation forms) carry context; updates and deletes alone make no span', async () => {
      const modern: Doc = { n: 'modern' };
      const legacy: Doc = { n: 'legacy' };
      const { result } = await inRootSpan('A', () =>
        coll('jobs').bulkWrite([
          { insertOne: { document: modern } },
          { insertOne: legacy as any },
          { updateOne: { filter: { n: 'none' }, update: { $set: { x: 1 } } } },
        ]),
      );
      const send = one(`send ${ns('jobs')}`);
      expect(send.attributes['messaging.batch.message_count']).toBe(2);
      expect(result.insertedCount).toBe(2);
      expect(result.insertedIds).toEqual({ 0: modern._id, 1: legacy._id });
      expect(Object.keys(modern)).toEqual(['n', '_id']);
      expect(Object.keys(legacy)).toEqual(['n', '_id']);
      const stored = await raw('jobs', { _id: { $in: [modern._id, legacy._id] } });
      expect(stored.map((d) => d._otel)).toEqual([{ traceparent: traceparentOf(send) }, { traceparent: traceparentOf(send) }]);

      exporter.reset();
      await coll('jobs').bulkWrite([{ deleteMany: { filter: { n: 'nothing' } } }]);
      expect(ours()).toHaveLength(0);
    });

    it('keeps a context field the document already has, whatever its type (field name clash)', async () => {
      const values: unknown[] = ['mine', 42, [1, 2], null, { custom: true }, { traceparent: 'garbage' }];
      const documents = values.map((value, i) => ({ i, _otel: value }));
      await inRootSpan('A', () => coll('jobs').insertMany(documents.map((d) => ({ ...d }))));
      const stored = await raw('jobs', { i: { $exists: true } });
      expect(stored.map(({ _id: _ignored, ...rest }) => rest)).toEqual(documents);
    });

    it('behaves exactly as an uninstrumented collection for the caller (results, _id, errors)', async () => {
      // The same script on an opted-in and a plain collection; everything the caller can see is compared.
      const script = async (collection: Mongo.Collection<any>) => {
        const seen: unknown[] = [];
        const shape = (value: unknown): unknown => {
          if (value instanceof mongo.ObjectId) return 'ObjectId';
          if (Array.isArray(value)) return value.map(shape);
          if (typeof value === 'object' && value !== null && !(value instanceof Error)) {
            return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, shape(item)]));
          }
          return value;
        };
        const single: Doc = { a: 1 };
        const singleResult = await collection.insertOne(single);
        seen.push(Object.keys(single), shape(single._id), singleResult.insertedId === single._id, singleResult.acknowledged);
        const given = { _id: 'given', a: 2 };
        seen.push((await collection.insertOne(given)).insertedId);
        const many: Doc[] = [{ b: 1 }, { b: 2, _id: 'many' }, { b: 3, _id: null }];
        const manyResult = await collection.insertMany(many);
        seen.push(manyResult.insertedCount, many.map((d) => shape(d._id)), Object.values(manyResult.insertedIds).map(shape));
        seen.push(Object.values(manyResult.insertedIds).every((id, i) => id === many[i]._id));
        const duplicate = { _id: given._id, a: 3 };
        const duplicateError = await collection.insertOne(duplicate).catch((error: any) => error);
        seen.push(duplicateError.constructor.name, duplicateError.code, Object.keys(duplicate));
        const batch: Doc[] = [{ c: 1 }, { _id: given._id }, { c: 3 }];
        const batchError = await collection.insertMany(batch).catch((error: any) => error);
        seen.push(batchError.constructor.name, batchError.code, batch.map((d) => shape(d._id)));
        seen.push(Object.values(batchError.insertedIds ?? {}).every((id, i) => id === batch[i]._id));
        const frozen = Object.freeze({ d: 1 });
        const frozenError = await collection.insertOne(frozen as Doc).catch((error: Error) => error);
        seen.push(frozenError?.constructor?.name);
        const serverId = { e: 1 };
        const serverIdResult = await collection.insertOne(serverId, { forceServerObjectId: true });
        seen.push(Object.keys(serverId), shape(serverIdResult.insertedId));
        const notADocument = await collection.insertOne('text' as any).catch((error: Error) => error.constructor.name);
        seen.push(notADocument);
        const nulls = await collection.insertMany([null as any]).catch((error: Error) => error.constructor.name);
        seen.push(shape(nulls));
        return seen;
      };
      const instrumented = await script(coll('jobs'));
      const plain = await script(coll('plain'));
      expect(instrumented).toEqual(plain);
      expect(ours().length).toBeGreaterThan(0);
    });
  });

  describe('consume', () => {
    it('poll and claim: each claim is a child of its own producer span, never of the loop', async () => {
      const producers: ReadableSpan[] = [];
      for (let n = 0; n < 3; n++) {
        const { span } = await inRootSpan(`A${n}`, () => coll('outbox').insertOne({ n, state: 'ready' }));
        producers.push(named(`send ${ns('outbox')}`).find((s) => parentId(s) === spanId(span))!);
      }
      exporter.reset();
      const claimed: Doc[] = [];
      await inRootSpan('poller', async () => {
        for (;;) {
          const document = await coll('outbox').findOneAndUpdate({ state: 'ready' }, { $set: { state: 'taken' } }, { sort: { n: 1 } });
          if (document === null) break;
          claimed.push(document);
          await withDocumentContext(document, async () => {
            await new Promise((resolve) => setTimeout(resolve, 5));
            tracer.startSpan(`work ${document.n}`).end();
          });
        }
      });
      await nextTurn();
      expect(claimed.map((d) => d.n)).toEqual([0, 1, 2]);
      const processSpans = named(`process ${ns('outbox')}`);
      expect(processSpans).toHaveLength(3); // the empty poll makes none
      const poller = one('poller');
      processSpans.forEach((span, n) => {
        expect(span.kind).toBe(SpanKind.CONSUMER);
        expect(traceId(span)).toBe(traceId(producers[n]));
        expect(parentId(span)).toBe(spanId(producers[n]));
        expect(parentId(span)).not.toBe(spanId(poller));
        expect(span.attributes['messaging.operation.name']).toBe('process');
        expect(span.attributes['db.operation.name']).toBe('findOneAndUpdate');
        expect(span.attributes['messaging.message.id']).toBe(claimed[n]._id.toHexString());
        const work = one(`work ${n}`);
        expect(parentId(work)).toBe(spanId(span));
        // withDocumentContext took the span over: it ends after the work (the exporter sees spans as they end).
        const finished = exporter.getFinishedSpans();
        expect(finished.indexOf(span)).toBeGreaterThan(finished.indexOf(work));
      });
    });

    it('#17: work that throws undefined ends the claim span as failed', async () => {
      await inRootSpan('A', () => coll('outbox').insertOne({ kind: 'throws-undefined', state: 'ready' }));
      exporter.reset();
      const document = await coll('outbox').findOneAndDelete({ kind: 'throws-undefined' });
      expect(() =>
        withDocumentContext(document, () => {
          throw undefined;
        }),
      ).toThrow();
      const span = one(`process ${ns('outbox')}`);
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
    });

    it('#17: withDocumentContext and insertOne hand back the very promise the work or the driver returned', async () => {
      await inRootSpan('A', () => coll('outbox').insertOne({ kind: 'same-promise', state: 'ready' }));
      const document = await coll('outbox').findOneAndDelete({ kind: 'same-promise' });
      const work = Promise.resolve('done');
      expect(withDocumentContext(document, () => work)).toBe(work);
      await work;
      // insertOne: the driver's own method, spied on, patched through the module definition.
      const driverInsertOne = (coll('outbox').insertOne as unknown as { __original: (...args: unknown[]) => unknown }).__original;
      let fromDriver: unknown;
      const Spied = function () {} as unknown as { prototype: Record<string, unknown> };
      Spied.prototype.insertOne = function (this: unknown, ...args: unknown[]) {
        fromDriver = driverInsertOne.apply(this, args);
        return fromDriver;
      };
      const definition = instrumentation.getModuleDefinitions()[0];
      definition.patch?.({ Collection: Spied }, driver.version);
      const wrapped = Spied.prototype.insertOne as (this: unknown, ...args: unknown[]) => unknown;
      exporter.reset();
      const returned = wrapped.call(coll('outbox'), { kind: 'same-promise-insert' });
      expect(returned).toBe(fromDriver);
      await returned;
      await nextTurn();
      expect(one(`send ${ns('outbox')}`).status.code).toBe(SpanStatusCode.UNSET);
    });

    it('a claim nobody wraps ends its span at the end of the event-loop turn', async () => {
      await inRootSpan('A', () => coll('outbox').insertOne({ kind: 'unwrapped', state: 'ready' }));
      const sentAt = Date.now();
      const document = await coll('outbox').findOneAndDelete({ kind: 'unwrapped' });
      const arrivedAt = Date.now();
      expect(document?.kind).toBe('unwrapped');
      expect(named(`process ${ns('outbox')}`)).toHaveLength(0);
      await nextTurn();
      const span = one(`process ${ns('outbox')}`);
      // Created when the document arrived, but starting when the claim was sent.
      expect(toMs(span.startTime)).toBeGreaterThanOrEqual(sentAt);
      expect(toMs(span.startTime)).toBeLessThanOrEqual(arrivedAt);
      expect(parentId(span)).toBe(spanId(one(`send ${ns('outbox')}`)));
      // A later withDocumentContext still runs in the (ended) span's context.
      withDocumentContext(document, () => tracer.startSpan('late').end());
      expect(parentId(one('late'))).toBe(spanId(span));
    });

    it('findOneAndDelete with includeResultMetadata and findOne keep their result shapes', async () => {
      await inRootSpan('A', () => coll('outbox').insertMany([{ kind: 'meta' }, { kind: 'peek' }]));
      const send = one(`send ${ns('outbox')}`);
      const modify = await coll('outbox').findOneAndDelete({ kind: 'meta' }, { includeResultMetadata: true });
      expect(modify.ok).toBe(1);
      expect(modify.value?.kind).toBe('meta');
      const peeked = await coll('outbox').findOne({ kind: 'peek' });
      expect(peeked?.kind).toBe('peek');
      expect(await coll('outbox').findOne({ kind: 'absent' })).toBeNull();
      await nextTurn();
      const spans = named(`process ${ns('outbox')}`);
      expect(spans.map((s) => s.attributes['messaging.operation.name'])).toEqual(['process', 'process']);
      expect(spans.map((s) => s.attributes['db.operation.name']).sort()).toEqual(['findOne', 'findOneAndDelete']);
      for (const span of spans) expect(parentId(span)).toBe(spanId(send));
      expect(named(`receive ${ns('outbox')}`)).toHaveLength(0); // findOne's own cursor is not a cursor read
      await coll('outbox').deleteMany({});
    });

    it('useLinks: the consumer span starts a new trace with a link to the producer', async () => {
      instrumentation.setConfig({ ...BASE_CONFIG, useLinks: true });
      await inRootSpan('A', () => coll('outbox').insertOne({ kind: 'linked' }));
      const send = one(`send ${ns('outbox')}`);
      const document = await coll('outbox').findOneAndDelete({ kind: 'linked' });
      await withDocumentContext(document, async () => undefined);
      const span = one(`process ${ns('outbox')}`);
      expect(parentId(span)).toBeUndefined();
      expect(traceId(span)).not.toBe(traceId(send));
      expect(span.links.map((link) => link.context.spanId)).toEqual([spanId(send)]);
    });

    it('find cursors: one receive span per server batch, a link per document, on every read path', async () => {
      const sends: string[] = [];
      for (let n = 0; n < 5; n++) {
        await inRootSpan(`A${n}`, () => coll('batch').insertOne({ n }));
        sends.push(spanId(named(`send ${ns('batch')}`)[n]));
      }
      const receive = `receive ${ns('batch')}`;
      const linksOf = () => named(receive).map((span) => span.links.map((link) => link.context.spanId));
      const read = async (how: string): Promise<Doc[]> => {
        exporter.reset();
        const cursor = coll('batch').find({}, { sort: { n: 1 }, batchSize: 2 });
        const documents: Doc[] = [];
        if (how === 'for await') for await (const d of cursor) documents.push(d);
        if (how === 'next') for (let d = await cursor.next(); d !== null; d = await cursor.next()) documents.push(d);
        if (how === 'hasNext/next') while (await cursor.hasNext()) documents.push((await cursor.next())!);
        if (how === 'tryNext') for (let d = await cursor.tryNext(); d !== null; d = await cursor.tryNext()) documents.push(d);
        if (how === 'forEach') await cursor.forEach((d) => void documents.push(d));
        if (how === 'toArray') documents.push(...(await cursor.toArray()));
        if (how === 'stream') for await (const d of cursor.stream()) documents.push(d as Doc);
        await cursor.close();
        return documents;
      };
      for (const how of ['for await', 'next', 'hasNext/next', 'forEach', 'stream']) {
        const documents = await read(how);
        expect([how, documents.map((d) => d.n)]).toEqual([how, [0, 1, 2, 3, 4]]);
        expect([how, linksOf()]).toEqual([how, [sends.slice(0, 2), sends.slice(2, 4), sends.slice(4)]]);
      }
      const calledAt = Date.now();
      const all = await read('toArray');
      expect(all).toHaveLength(5);
      expect(linksOf()).toEqual([sends]);
      const span = one(receive);
      expect(toMs(span.startTime)).toBeGreaterThanOrEqual(calledAt); // starts at the toArray call
      expect(span.kind).toBe(SpanKind.CLIENT);
      expect(parentId(span)).toBeUndefined();
      expect(span.attributes['messaging.batch.message_count']).toBe(5);
      expect(span.attributes['messaging.operation.type']).toBe('receive');

      // Breaking out early still records the documents handed out.
      exporter.reset();
      for await (const d of coll('batch').find({}, { sort: { n: 1 }, batchSize: 3 })) if (d.n === 1) break;
      expect(linksOf()).toEqual([sends.slice(0, 2)]);

      // A cursor document joins its own producer's trace through withDocumentContext.
      exporter.reset();
      await withDocumentContext(all[3], async () => tracer.startSpan('work').end());
      const processSpan = one(`process ${ns('batch')}`);
      expect(parentId(processSpan)).toBe(sends[3]);
      expect(parentId(one('work'))).toBe(spanId(processSpan));
    });

    it('change streams: listeners and iteration run in the trace of the fullDocument', async () => {
      const stream = coll('events').watch();
      const seen: { change: Doc; active: string | undefined }[] = [];
      stream.on('change', (change) => {
        seen.push({ change, active: trace.getActiveSpan()?.spanContext().spanId });
        tracer.startSpan('listener work').end();
      });
      // The emitter opens its cursor asynchronously; insert once the server has opened it.
      await new Promise((resolve) => (stream as unknown as { cursor: NodeJS.EventEmitter }).cursor.once('init', resolve));
      await inRootSpan('A', () => coll('events').insertOne({ kind: 'emitted' }));
      const send = one(`send ${ns('events')}`);
      for (let waited = 0; seen.length === 0 && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      await stream.close();
      expect(seen).toHaveLength(1);
      expect(seen[0].change.operationType).toBe('insert');
      const processSpan = one(`process ${ns('events')}`);
      expect(processSpan.attributes['messaging.operation.name']).toBe('process');
      expect(processSpan.attributes['db.operation.name']).toBe('watch');
      expect(parentId(processSpan)).toBe(spanId(send));
      expect(seen[0].active).toBe(spanId(processSpan));
      expect(parentId(one('listener work'))).toBe(spanId(processSpan));

      exporter.reset();
      const iterated = coll('events').watch();
      expect(await iterated.tryNext()).toBeNull(); // opens the cursor before the insert
      await inRootSpan('B', () => coll('events').insertOne({ kind: 'iterated' }));
      const sendB = one(`send ${ns('events')}`);
      for await (const change of iterated) {
        expect((change as Doc).fullDocument.kind).toBe('iterated');
        await withDocumentContext(change, async () => tracer.startSpan('handle').end());
        break;
      }
      const iteratedSpan = one(`process ${ns('events')}`);
      expect(parentId(iteratedSpan)).toBe(spanId(sendB));
      expect(parentId(one('handle'))).toBe(spanId(iteratedSpan));
    });

    it('stripContextField hands out copies without the field; the stored document keeps it', async () => {
      instrumentation.setConfig({ ...BASE_CONFIG, stripContextField: true });
      await inRootSpan('A', () => coll('strip').insertMany([{ n: 1 }, { n: 2 }, { n: 3 }]));
      const send = one(`send ${ns('strip')}`);
      const claimed = await coll('strip').findOneAndUpdate({ n: 1 }, { $set: { taken: true } }, { returnDocument: 'after' });
      expect(claimed).toEqual({ _id: expect.any(mongo.ObjectId), n: 1, taken: true });
      await withDocumentContext(claimed, async () => tracer.startSpan('work').end());
      expect(parentId(one(`process ${ns('strip')}`))).toBe(spanId(send));
      const listed = await coll('strip').find({}).toArray();
      for (const document of listed) expect(document).not.toHaveProperty('_otel');
      const streamed: Doc[] = [];
      for await (const document of coll('strip').find({})) streamed.push(document);
      for (const document of streamed) expect(document).not.toHaveProperty('_otel');
      for (const document of await raw('strip')) expect(document._otel).toEqual({ traceparent: traceparentOf(send) });
    });

    it('propagation-only: no spans from this package, context still carried and activated', async () => {
      instrumentation.setConfig({ ...BASE_CONFIG, mode: 'propagation-only' });
      const { span: user } = await inRootSpan('user', () => coll('outbox').insertOne({ kind: 'quiet' }));
      const [stored] = await raw('outbox', { kind: 'quiet' });
      expect(stored._otel).toEqual({ traceparent: traceparentOf(user) });
      const document = await coll('outbox').findOneAndDelete({ kind: 'quiet' });
      await withDocumentContext(document, async () => tracer.startSpan('work').end());
      await nextTurn();
      expect(ours()).toHaveLength(0);
      expect(parentId(one('work'))).toBe(spanId(user));
    });
  });

  describe('bad input and limits', () => {
    it('claims documents with unusable context (wrong types, garbage, huge tracestate, none) without throwing', async () => {
      const valid = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const cases: Doc[] = [
        { case: 'string', _otel: 'not an object' },
        { case: 'number', _otel: 7 },
        { case: 'array', _otel: ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'] },
        { case: 'null', _otel: null },
        { case: 'garbage', _otel: { traceparent: 'garbage', tracestate: 42 } },
        { case: 'uninstrumented producer' },
        { case: 'huge tracestate', _otel: { traceparent: valid, tracestate: `k=${'v'.repeat(10000)}` } },
        { case: 'huge baggage', _otel: { traceparent: valid, baggage: Array.from({ length: 300 }, (_, i) => `k${i}=${'v'.repeat(100)}`).join(',') } },
      ];
      await rawInsert('jobs', cases.map((c) => ({ ...c, state: 'bad' })));
      const claimed: Doc[] = [];
      const baggageSeen: { entries: number; bytes: number }[] = [];
      for (;;) {
        const document = await coll('jobs').findOneAndUpdate({ state: 'bad' }, { $set: { state: 'done' } });
        if (document === null) break;
        claimed.push(document);
        await withDocumentContext(document, async () => {
          const baggage = propagation.getActiveBaggage();
          if (baggage === undefined) return;
          const entries = baggage.getAllEntries();
          baggageSeen.push({ entries: entries.length, bytes: entries.map(([k, v]) => `${k}=${v.value}`).join(',').length });
        });
      }
      // The 300-entry, 30 KB baggage arrives cut to the W3C limits.
      expect(baggageSeen).toHaveLength(1);
      expect(baggageSeen[0].entries).toBeGreaterThan(0);
      expect(baggageSeen[0].entries).toBeLessThanOrEqual(180);
      expect(baggageSeen[0].bytes).toBeLessThanOrEqual(8192);
      expect(claimed.map(({ _id: _ignored, state: _state, ...rest }) => rest)).toEqual(cases);
      const spans = named(`process ${ns('jobs')}`);
      expect(spans).toHaveLength(cases.length);
      for (const span of spans) {
        // Either a child of the one valid traceparent, or a new root: never a garbage parent.
        expect([undefined, 'b7ad6b7169203331']).toContain(parentId(span));
        expect((span.spanContext().traceState?.serialize() ?? '').length).toBeLessThanOrEqual(512);
      }
      // Exactly the two documents with a valid traceparent join that trace.
      expect(spans.filter((span) => traceId(span) === '0af7651916cd43dd8448eb211c80319c')).toHaveLength(2);
    });

    it('a document from a producer without instrumentation: root consumer span, receive span without links', async () => {
      await rawInsert('batch', [{ n: 'raw-1' }, { n: 'raw-2' }]);
      const documents = await coll('batch').find({ n: /^raw-/ }).toArray();
      expect(documents).toHaveLength(2);
      const span = one(`receive ${ns('batch')}`);
      expect(span.links).toEqual([]);
      await coll('batch').deleteMany({ n: /^raw-/ });
    });

    it('non-opted collections are never touched: no field written, no span', async () => {
      const plain = coll('plain_untouched');
      const stream = plain.watch();
      await plain.findOne({}); // warms nothing but must not make spans
      await inRootSpan('A', async () => {
        await plain.insertOne({ n: 1, state: 'ready' });
        await plain.insertMany([{ n: 2 }, { n: 3 }]);
        await plain.bulkWrite([{ insertOne: { document: { n: 4 } } }]);
      });
      const claimed = await plain.findOneAndUpdate({ state: 'ready' }, { $set: { state: 'taken' } });
      await plain.find({}).toArray();
      await stream.close();
      await nextTurn();
      expect(ours()).toHaveLength(0);
      for (const document of await raw('plain_untouched')) expect(document).not.toHaveProperty('_otel');
      // Nothing links the returned document to a consumer span: the active context stays.
      const active = await inRootSpan('outer', async () => withDocumentContext(claimed, () => trace.getActiveSpan()?.spanContext().spanId));
      expect(active.result).toBe(spanId(active.span));
    });

    it('credentials in the connection string never reach a span', async () => {
      const withAuth = new URL(url);
      withAuth.username = 'queueuser';
      withAuth.password = 's3cr3t-pa55';
      withAuth.search = '?authSource=admin&serverSelectionTimeoutMS=3000';
      const withCredentials = new mongo.MongoClient(withAuth.toString());
      try {
        const error = await withCredentials.db(dbName).collection('jobs').insertOne({ n: 1 }).catch((e: Error) => e);
        expect(error).toBeInstanceOf(Error); // the wire server has no SCRAM: authentication fails
      } finally {
        await withCredentials.close();
      }
      const send = one(`send ${ns('jobs')}`);
      expect(send.status.code).toBe(SpanStatusCode.ERROR);
      expect(send.attributes['server.address']).toBe('127.0.0.1');
      const everything = JSON.stringify(exporter.getFinishedSpans().map((s) => [s.attributes, s.events, s.status, s.links]));
      expect(everything).not.toContain('s3cr3t');
      expect(everything).not.toContain('queueuser');
    });

    it('a custom contextField is used on both sides; an unusable one falls back to _otel', async () => {
      instrumentation.setConfig({ ...BASE_CONFIG, contextField: 'trace_ctx' });
      await inRootSpan('A', () => coll('jobs').insertOne({ kind: 'custom-field' }));
      const send = one(`send ${ns('jobs')}`);
      const [stored] = await raw('jobs', { kind: 'custom-field' });
      expect(stored).toMatchObject({ trace_ctx: { traceparent: traceparentOf(send) } });
      expect(stored).not.toHaveProperty('_otel');
      const document = await coll('jobs').findOneAndDelete({ kind: 'custom-field' });
      await withDocumentContext(document, async () => undefined);
      expect(parentId(one(`process ${ns('jobs')}`))).toBe(spanId(send));

      instrumentation.setConfig({ ...BASE_CONFIG, contextField: '_id' });
      exporter.reset();
      logs.length = 0;
      await inRootSpan('B', () => coll('jobs').insertOne({ kind: 'bad-field' }));
      const [fallback] = await raw('jobs', { kind: 'bad-field' });
      expect(fallback._id).toBeInstanceOf(mongo.ObjectId);
      expect(fallback._otel).toEqual({ traceparent: traceparentOf(one(`send ${ns('jobs')}`)) });
      expect(logs.filter((log) => log.level === 'warn').map((log) => log.message).join('\n')).toMatch(/contextField "_id" is not a usable/);
    });
  });
});
