/**
 * Property tests (issue 11) of this package's inject and extract paths: hostile documents —
 * prototype-pollution keys, long values, non-UTF-8 bytes, cycles, context fields of any type —
 * never make a wrapper throw, never change what the caller set, never pollute a prototype.
 */
import { context, trace, type SpanContext } from '@opentelemetry/api';
import fc from 'fast-check';
import { MongoQueueInstrumentation, withDocumentContext } from '../src';
import { setupOtel } from './otel';
import { StandInCollection } from './stand-in';

const { exporter, tracer } = setupOtel();
// 5,000 cases per property in CI; `FUZZ_RUNS=200000` for a long run.
const numRuns = Number(process.env.FUZZ_RUNS ?? 5000);

type Doc = Record<string, any>;

const hostileKey = fc.oneof(
  fc.string(),
  fc.constantFrom('__proto__', 'constructor', 'prototype', '_id', '_otel', 'traceparent', 'toString', 'hasOwnProperty'),
);
const hostileValue = fc.oneof(
  fc.string(),
  fc.string({ minLength: 1000, maxLength: 5000 }),
  fc.uint8Array().map((bytes) => Buffer.from(bytes)),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.oneof(fc.string(), fc.integer())),
  fc.object(),
);
const hexString = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const contextValue = fc.oneof(
  hostileValue,
  fc.dictionary(hostileKey, hostileValue, { maxKeys: 6 }),
  fc.record({
    traceparent: fc.oneof(fc.string(), fc.tuple(hexString(32), hexString(16)).map(([t, s]) => `00-${t}-${s}-01`)),
    tracestate: fc.oneof(fc.string(), fc.string({ minLength: 600, maxLength: 5000 }), hostileValue),
    baggage: fc.oneof(fc.string(), fc.string({ minLength: 9000, maxLength: 12000 }), hostileValue),
  }),
);
/** A document as an app might insert it: own hostile keys, maybe a context field, maybe a cycle. */
const hostileDocument = fc
  .record({
    fields: fc.dictionary(hostileKey, hostileValue, { maxKeys: 12 }),
    context: fc.option(contextValue, { nil: undefined }),
    cyclic: fc.boolean(),
  })
  .map(({ fields, context: value, cyclic }) => {
    const document: Doc = fields;
    if (value !== undefined) Object.defineProperty(document, '_otel', { value, enumerable: true, writable: true, configurable: true });
    if (cyclic) document.self = document;
    return document;
  });

const ownSnapshot = (document: Doc) => Object.keys(document).map((key) => [key, document[key]] as const);
const prototypeIsClean = () => Object.keys(Object.prototype).length === 0 && ({} as Doc).traceparent === undefined && ({} as Doc).polluted === undefined;
const validOrAbsent = (spanContext: SpanContext | undefined) => spanContext === undefined || trace.isSpanContextValid(spanContext);

let instrumentation: MongoQueueInstrumentation;
const patch = (config: ConstructorParameters<typeof MongoQueueInstrumentation>[0]) => {
  instrumentation = new MongoQueueInstrumentation(config);
  instrumentation.getModuleDefinitions()[0].patch!({ Collection: StandInCollection }, '6.22.0');
};

afterEach(() => {
  instrumentation.getModuleDefinitions()[0].unpatch!({ Collection: StandInCollection }, '6.22.0');
  instrumentation.disable();
});

test('insert: never throws, the caller keeps every key and value, the driver gets them all plus at most the field', async () => {
  patch({ collections: ['q.jobs'] });
  const collection = new StandInCollection('q', 'jobs');
  await fc.assert(
    fc.asyncProperty(hostileDocument, async (document) => {
      StandInCollection.received = [];
      const before = ownSnapshot(document);
      const hadId = document._id !== undefined && document._id !== null;
      await tracer.startActiveSpan('producer', async (span) => {
        await collection.insertOne(document);
        span.end();
      });
      const received = StandInCollection.received[0] as Doc;
      // The caller: the same keys and values, plus the _id the (stand-in) driver assigned.
      const after = ownSnapshot(document);
      const expectedKeys = before.map(([key]) => key);
      if (!hadId && !expectedKeys.includes('_id')) expectedKeys.push('_id');
      expect(after.map(([key]) => key)).toEqual(expectedKeys);
      for (const [key, value] of before) if (key !== '_id' || hadId) expect(Object.is(document[key], value)).toBe(true);
      // The driver: the caller's own object, or a copy holding exactly its keys plus the field.
      if (received !== document) {
        expect(Object.keys(received)).toEqual([...Object.keys(document), '_otel']);
        for (const key of Object.keys(document)) expect(Object.is(received[key], document[key])).toBe(true);
        expect(received._otel).toEqual({ traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/) });
      }
      // A context field the caller set, of any type, is theirs: the document goes as it is.
      if (before.some(([key]) => key === '_otel')) expect(received).toBe(document);
      expect(prototypeIsClean()).toBe(true);
    }),
    { numRuns },
  );
});

test('claim: any stored document comes back unchanged; its span has a valid parent or none', async () => {
  patch({ collections: ['q.jobs'] });
  const collection = new StandInCollection('q', 'jobs');
  await fc.assert(
    fc.asyncProperty(hostileDocument, async (document) => {
      exporter.reset();
      const before = ownSnapshot(document);
      StandInCollection.next = document;
      const claimed = await collection.findOneAndUpdate({}, {});
      expect(claimed).toBe(document);
      const inside = withDocumentContext(claimed, () => trace.getSpanContext(context.active()));
      expect(validOrAbsent(inside)).toBe(true);
      const [span] = exporter.getFinishedSpans();
      expect(span.name).toBe('process q.jobs');
      expect(validOrAbsent(span.parentSpanContext)).toBe(true);
      expect(ownSnapshot(document)).toEqual(before);
      expect(prototypeIsClean()).toBe(true);
    }),
    { numRuns },
  );
});

test('stripContextField: the copy has every other own key, same values, a plain prototype (a stored __proto__ stays a key)', async () => {
  patch({ collections: ['q.jobs'], stripContextField: true });
  const collection = new StandInCollection('q', 'jobs');
  await fc.assert(
    fc.asyncProperty(hostileDocument, async (document) => {
      StandInCollection.next = document;
      const claimed = (await collection.findOne()) as Doc;
      const expected = Object.keys(document).filter((key) => key !== '_otel');
      expect(Object.keys(claimed)).toEqual(expected);
      for (const key of expected) expect(Object.is(claimed[key], document[key])).toBe(true);
      if (Object.prototype.hasOwnProperty.call(document, '_otel')) expect(Object.getPrototypeOf(claimed)).toBe(Object.prototype);
      else expect(claimed).toBe(document); // nothing to strip: no copy
      expect(prototypeIsClean()).toBe(true);
      withDocumentContext(claimed, () => undefined); // ends its span now
    }),
    { numRuns },
  );
});

test('withDocumentContext: any input, any option; returns fn\'s value and never activates an invalid context', () => {
  fc.assert(
    fc.property(fc.oneof(fc.anything(), hostileDocument), fc.option(fc.oneof(fc.string(), hostileKey), { nil: undefined }), (input, field) => {
      const marker = {};
      let seen: SpanContext | undefined;
      const result = withDocumentContext(
        input,
        () => {
          seen = trace.getSpanContext(context.active());
          return marker;
        },
        { contextField: field },
      );
      expect(result).toBe(marker);
      expect(validOrAbsent(seen)).toBe(true);
      expect(prototypeIsClean()).toBe(true);
    }),
    { numRuns },
  );
});
