/**
 * Unit level, no server: configuration, opt-in matching, hooks, withDocumentContext and the
 * patching itself. The wrappers run around a stand-in Collection class whose methods record what
 * the driver would have received.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { isWrapped } from '@opentelemetry/instrumentation';
import { COLLECTIONS_ENV, MongoQueueInstrumentation, withDocumentContext, type MongoQueueInstrumentationConfig } from '../src';
import { isValidContextField } from '../src/document-context';
import { CONTEXT_SIZE_LIMIT } from '../src/insert';
import { parseCollectionsEnv } from '../src/instrumentation';
import { nextTurn, parentId, setupOtel, spanId, traceparentOf } from './otel';
import { StandInCollection } from './stand-in';

const { exporter, tracer, logs } = setupOtel();

type Doc = Record<string, any>;

function instrumented(config: MongoQueueInstrumentationConfig): MongoQueueInstrumentation {
  const instrumentation = new MongoQueueInstrumentation({ followPulls: false, ...config });
  instrumentation.getModuleDefinitions()[0].patch!({ Collection: StandInCollection }, '6.22.0');
  return instrumentation;
}

let current: MongoQueueInstrumentation | undefined;
function use(config: MongoQueueInstrumentationConfig): MongoQueueInstrumentation {
  current = instrumented(config);
  return current;
}

beforeEach(() => {
  exporter.reset();
  StandInCollection.received = [];
  StandInCollection.next = null;
});

afterEach(() => {
  current?.getModuleDefinitions()[0].unpatch!({ Collection: StandInCollection }, '6.22.0');
  current?.disable();
  current = undefined;
  delete process.env[COLLECTIONS_ENV];
});

const sends = () => exporter.getFinishedSpans().filter((span) => span.kind === SpanKind.PRODUCER);

describe('configuration', () => {
  it('parses the environment list', () => {
    expect(parseCollectionsEnv(' shop.jobs, shop.outbox ,,  ')).toEqual(['shop.jobs', 'shop.outbox']);
    expect(parseCollectionsEnv('')).toEqual([]);
    expect(parseCollectionsEnv(undefined)).toEqual([]);
  });

  it('accepts only top-level field names that cannot hit _id, operators or prototypes', () => {
    for (const good of ['_otel', 'trace', 'ctx_1', 'constructor']) expect([good, isValidContextField(good)]).toEqual([good, true]);
    for (const bad of ['', '_id', '__proto__', '$otel', 'a.b', 'a\0b', 'x'.repeat(129), 42, null, undefined]) {
      expect([bad, isValidContextField(bad)]).toEqual([bad, false]);
    }
  });

  it('reads THREADLINE_MONGODB_QUEUE_COLLECTIONS in the constructor and merges it with config', async () => {
    process.env[COLLECTIONS_ENV] = 'shop.jobs, billing.*';
    use({ collections: ['cfg.only'] });
    for (const [db, name] of [
      ['shop', 'jobs'],
      ['billing', 'anything'],
      ['cfg', 'only'],
      ['shop', 'other'],
      ['billingx', 'anything'],
    ]) {
      await new StandInCollection(db, name).insertOne({ db, name });
    }
    expect(sends().map((span) => span.name)).toEqual(['send shop.jobs', 'send billing.anything', 'send cfg.only']);
  });

  it('matches RegExps (also /g ones, every time), functions, and survives a throwing matcher', async () => {
    use({
      collections: [
        /^q\.jobs$/g,
        (ns) => ns === 'q.fn',
        () => {
          throw new Error('matcher bug');
        },
        42 as never,
      ],
    });
    for (let i = 0; i < 3; i++) await new StandInCollection('q', 'jobs').insertOne({ i });
    await new StandInCollection('q', 'fn').insertOne({});
    await new StandInCollection('q', 'nope').insertOne({});
    expect(sends().map((span) => span.name)).toEqual(['send q.jobs', 'send q.jobs', 'send q.jobs', 'send q.fn']);
    expect(StandInCollection.received).toHaveLength(5);
  });

  it('setConfig changes the opt-in for collections already seen', async () => {
    const instrumentation = use({ collections: [] });
    const collection = new StandInCollection('q', 'late');
    await collection.insertOne({});
    instrumentation.setConfig({ collections: ['q.late'] });
    await collection.insertOne({});
    expect(sends()).toHaveLength(1);
  });

  it('records server.address/port from the parsed hosts, never the connection string', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { MongoClient } = require('mongodb-v6') as typeof import('mongodb');
    use({ collections: ['q.jobs'] });
    const plain = new StandInCollection('q', 'jobs');
    (plain as any).client = new MongoClient('mongodb://svc-user:hunter2@mongo-1.internal:27019,mongo-2.internal/?replicaSet=rs0');
    const srv = new StandInCollection('q', 'jobs');
    (srv as any).client = new MongoClient('mongodb+srv://svc-user:hunter2@cluster0.example.net/');
    await plain.insertOne({});
    await srv.insertOne({});
    const [first, second] = sends();
    expect([first.attributes['server.address'], first.attributes['server.port']]).toEqual(['mongo-1.internal', 27019]);
    expect(second.attributes['server.address']).toBe('cluster0.example.net');
    expect(JSON.stringify(sends().map((span) => span.attributes))).not.toMatch(/hunter2|svc-user/);
  });
});

describe('produce wrappers', () => {
  it('hands the driver a copy with the context; the caller object gets only _id', async () => {
    use({ collections: ['q.jobs'] });
    const document: Doc = { a: 1 };
    const result = await tracer.startActiveSpan('A', async (span) => {
      try {
        return await new StandInCollection('q', 'jobs').insertOne(document);
      } finally {
        span.end();
      }
    });
    const [received] = StandInCollection.received as Doc[];
    expect(received).not.toBe(document);
    expect(received._otel).toEqual({ traceparent: traceparentOf(sends()[0]) });
    expect(document).toEqual({ a: 1, _id: 'id-0' });
    expect(result.insertedId).toBe('id-0');
    expect(Object.keys(received)).toEqual(['a', '_id', '_otel']);
  });

  it('passes frozen documents, Maps, BSON values and toBSON objects through untouched', async () => {
    use({ collections: ['q.jobs'] });
    const frozen = Object.freeze({ _id: 'f', a: 1 });
    const map = new Map([['a', 1]]);
    const withToBSON = { _id: 't', toBSON: () => ({ x: 1 }) };
    const bsonValue = { _id: 'b', _bsontype: 'Code', code: 'x' };
    const collection = new StandInCollection('q', 'jobs');
    const outcomes: string[] = [];
    await tracer.startActiveSpan('A', async (span) => {
      for (const document of [frozen, map, withToBSON, bsonValue]) {
        outcomes.push(await collection.insertOne(document as never).then(() => 'inserted', (error: Error) => `rejected: ${error.message}`));
      }
      span.end();
    });
    expect(outcomes).toEqual(['inserted', 'inserted', 'inserted', 'inserted']);
    expect(StandInCollection.received).toHaveLength(4);
    expect(StandInCollection.received[0]).toBe(frozen);
    expect(StandInCollection.received[1]).toBe(map);
    expect(StandInCollection.received[2]).toBe(withToBSON);
    expect(StandInCollection.received[3]).toBe(bsonValue);
  });

  it('writes baggage cut to the W3C limits (180 entries, 8,192 bytes)', async () => {
    use({ collections: ['q.jobs'] });
    const entries = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, { value: 'v'.repeat(100) }]));
    const withBaggage = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage(entries));
    await context.with(withBaggage, () => new StandInCollection('q', 'jobs').insertOne({ a: 1 }));
    const baggage = (StandInCollection.received[0] as Doc)._otel.baggage as string;
    expect(baggage.length).toBeLessThanOrEqual(8192);
    expect(baggage.split(',').length).toBeLessThanOrEqual(180);
    expect(baggage.startsWith('k0=')).toBe(true);
  });

  it('writes nothing when there is no context to carry', async () => {
    use({ collections: ['q.jobs'], mode: 'propagation-only' });
    const document = { a: 1 };
    await context.with(ROOT_CONTEXT, () => new StandInCollection('q', 'jobs').insertOne(document));
    expect(StandInCollection.received[0]).toBe(document);
    expect(document).not.toHaveProperty('_otel');
  });

  it('passes arguments the driver rejects straight to the driver', async () => {
    use({ collections: ['q.jobs'] });
    const collection = new StandInCollection('q', 'jobs');
    await expect(collection.insertMany('nope' as never)).rejects.toThrow('docs must be an array');
    await collection.bulkWrite('nope');
    expect(StandInCollection.received).toEqual(['nope']);
    expect(sends()).toHaveLength(0);
  });

  it('a throwing publishHook changes nothing', async () => {
    use({
      collections: ['q.jobs'],
      publishHook: () => {
        throw new Error('hook bug');
      },
    });
    await expect(new StandInCollection('q', 'jobs').insertOne({ a: 1 })).resolves.toEqual({ acknowledged: true, insertedId: 'id-0' });
    expect(sends()).toHaveLength(1);
  });

  it('ends the send span with the error when the driver fails', async () => {
    use({ collections: ['q.jobs'] });
    // The stand-in fails on the null document, as a driver error would.
    await expect(new StandInCollection('q', 'jobs').insertMany([{ a: 1 }, null as never])).rejects.toBeInstanceOf(TypeError);
    expect(sends()[0].status.code).toBe(2);
    expect(sends()[0].attributes['error.type']).toBe('TypeError');
  });
});

describe('documents near the 16 MiB limit', () => {
  // Real drivers' BSON sizers, reached through both hooks; the stand-in shows what the driver gets.
  it.each([
    { hook: 'main module (mongodb 7.9.0)', module: 'mongodb-v7-latest', via: 'main' },
    { hook: 'lib/bson.js + lib/collection.js files (mongodb 6.17.0)', module: 'mongodb-v6-oldest', via: 'files' },
  ])('through the $hook: the context is added only while the copy stays under the limit', async ({ module, via }) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const driver = require(module) as typeof import('mongodb');
    const instrumentation = new MongoQueueInstrumentation({ collections: ['q.big'] });
    const [definition] = instrumentation.getModuleDefinitions();
    // The stand-in plays the driver's Collection; the driver module only lends its BSON sizer.
    if (via === 'main') {
      definition.patch!({ Collection: StandInCollection, BSON: driver.BSON }, '7.9.0');
    } else {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      definition.files.find((file) => file.name === 'mongodb/lib/bson.js')!.patch(require(`${module}/lib/bson.js`), '6.17.0');
      definition.files.find((file) => file.name === 'mongodb/lib/collection.js')!.patch({ Collection: StandInCollection }, '6.17.0');
    }
    current = instrumentation;
    const { BSON } = driver;
    const collection = new StandInCollection('q', 'big');
    const sized = (bytes: number): Doc => {
      const document: Doc = { _id: 'fixed', payload: '' };
      document.payload = 'x'.repeat(bytes - BSON.calculateObjectSize(document));
      return document;
    };
    const contextBytes = BSON.calculateObjectSize({ _otel: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } }) - 5;
    const fits = sized(CONTEXT_SIZE_LIMIT - contextBytes);
    const tooBig = sized(CONTEXT_SIZE_LIMIT - contextBytes + 1);
    logs.length = 0;
    await tracer.startActiveSpan('A', async (span) => {
      await collection.insertOne(fits);
      await collection.insertOne(tooBig);
      span.end();
    });
    const [first, second] = StandInCollection.received as Doc[];
    expect(first).not.toBe(fits);
    expect(BSON.calculateObjectSize(first)).toBe(CONTEXT_SIZE_LIMIT);
    expect(second).toBe(tooBig); // sent as it is, without context
    expect(tooBig).not.toHaveProperty('_otel');
    expect(sends()).toHaveLength(2); // the send span is still there
    expect(logs.filter((log) => log.level === 'warn' && log.message.includes('16 MiB limit'))).toHaveLength(1);
    expect(CONTEXT_SIZE_LIMIT).toBe(16 * 1024 * 1024 - 16 * 1024);
  });
});

describe('consume wrappers and withDocumentContext', () => {
  const valid = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

  it('incomingContext decides per document; a throwing consumeHook changes nothing', async () => {
    use({
      collections: ['q.jobs'],
      incomingContext: (document) => ((document as Doc).trusted ? 'parent' : 'ignore'),
      consumeHook: () => {
        throw new Error('hook bug');
      },
    });
    const collection = new StandInCollection('q', 'jobs');
    StandInCollection.next = { trusted: true, _otel: { traceparent: valid } };
    const trusted = await collection.findOneAndUpdate({}, {});
    StandInCollection.next = { trusted: false, _otel: { traceparent: valid } };
    const untrusted = await collection.findOneAndUpdate({}, {});
    expect(trusted).toEqual({ trusted: true, _otel: { traceparent: valid } });
    await nextTurn();
    const [first, second] = exporter.getFinishedSpans();
    expect(first.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(second.parentSpanContext).toBeUndefined();
    expect(second.links).toEqual([]);
    expect(untrusted).toEqual({ trusted: false, _otel: { traceparent: valid } });
  });

  it('withDocumentContext returns fn\'s value, rethrows its error and ends the span with it', async () => {
    use({ collections: ['q.jobs'] });
    StandInCollection.next = { _otel: { traceparent: valid } };
    const collection = new StandInCollection('q', 'jobs');
    const first = await collection.findOne();
    expect(withDocumentContext(first, () => 42)).toBe(42);
    const second = await collection.findOne();
    const failure = new Error('handler failed');
    await expect(
      withDocumentContext(second, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    const [ok, failed] = exporter.getFinishedSpans();
    expect(ok.status.code).toBe(0);
    expect(failed.status).toEqual({ code: 2, message: 'handler failed' });
  });

  it('for documents it did not deliver: extracts the field (or fullDocument\'s), ignores unusable values', () => {
    const parentOf = (document: unknown, options?: { contextField?: string }) =>
      withDocumentContext(document, () => trace.getSpanContext(context.active())?.spanId, options);
    expect(parentOf({ _otel: { traceparent: valid } })).toBe('b7ad6b7169203331');
    expect(parentOf({ operationType: 'insert', fullDocument: { _otel: { traceparent: valid } } })).toBe('b7ad6b7169203331');
    expect(parentOf({ ctx: { traceparent: valid } }, { contextField: 'ctx' })).toBe('b7ad6b7169203331');
    for (const bad of [null, undefined, 'str', 7, [], { _otel: 'x' }, { _otel: [valid] }, { _otel: null }, { _otel: { traceparent: 'junk' } }]) {
      expect(parentOf(bad)).toBeUndefined();
    }
    tracer.startActiveSpan('outer', (outer) => {
      expect(parentOf({ _otel: 5 })).toBe(spanId(outer as never));
      outer.end();
    });
    expect(parentId(exporter.getFinishedSpans()[0])).toBeUndefined();
  });
});

describe('patching', () => {
  it('wraps each Collection method once across the main-module and the file hooks, and unwraps', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const collectionFile = require('mongodb-v6/lib/collection.js') as { Collection: { prototype: Doc } };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const main = require('mongodb-v6') as { Collection: { prototype: Doc } };
    expect(main.Collection).toBe(collectionFile.Collection);
    const instrumentation = new MongoQueueInstrumentation({ collections: ['q.jobs'] });
    const [definition] = instrumentation.getModuleDefinitions();
    const fileHook = definition.files.find((file) => file.name === 'mongodb/lib/collection.js')!;
    const original = collectionFile.Collection.prototype.insertOne;
    fileHook.patch(collectionFile, '6.22.0');
    const wrapped = collectionFile.Collection.prototype.insertOne;
    definition.patch!(main, '6.22.0');
    expect(isWrapped(wrapped)).toBe(true);
    expect(collectionFile.Collection.prototype.insertOne).toBe(wrapped);
    expect((wrapped as { __original?: unknown }).__original).toBe(original);
    for (const name of ['insertOne', 'insertMany', 'bulkWrite', 'findOneAndUpdate', 'findOneAndDelete', 'findOne', 'find', 'watch']) {
      expect([name, isWrapped(collectionFile.Collection.prototype[name])]).toEqual([name, true]);
    }
    definition.unpatch!(main, '6.22.0');
    expect(collectionFile.Collection.prototype.insertOne).toBe(original);
    instrumentation.disable();
  });

  it('does nothing once disabled', async () => {
    const instrumentation = use({ collections: ['q.jobs'] });
    instrumentation.disable();
    const document = { a: 1 };
    await new StandInCollection('q', 'jobs').insertOne(document);
    expect(StandInCollection.received[0]).toBe(document);
    expect(sends()).toHaveLength(0);
  });
});
