import { join } from 'node:path';
import type { Attributes, TimeInput } from '@opentelemetry/api';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
  isWrapped,
  safeExecuteInTheMiddle,
} from '@opentelemetry/instrumentation';
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from '@opentelemetry/semantic-conventions';
import {
  ATTR_MESSAGING_MESSAGE_ID,
  copyForInjection,
  DEFAULT_DOCUMENT_CONTEXT_FIELD,
  documentFieldAdapter,
  envList,
  isThenable,
  MessagingSpanPolicy,
  packageInfo,
  readEnvOptions,
  runAndEnd,
  WarnOnce,
  withExtractedContext,
  type EnvOptionTable,
  type FollowedContext,
  type MessagingScope,
} from '@threadline/carrier';
import type {
  ChangeStreamLike,
  ClientLike,
  CollectionLike,
  CursorLike,
  CursorState,
  DocumentRunner,
  PendingDelivery,
  QueueTarget,
} from './internal-types';
import type { CollectionMatcher, MongoQueueInstrumentationConfig, MongoQueueMessage } from './types';
import { beginClaim, followClaim, followDocuments } from './pull';

/** The driver versions this package patches (the same range in README and tests). */
export const SUPPORTED_VERSIONS: string[] = ['>=6.17.0 <8'];
/** Comma-separated namespaces opted in from the environment (`shop.outbox,shop.jobs`). */
export const COLLECTIONS_ENV = 'THREADLINE_MONGODB_QUEUE_COLLECTIONS';
/** No `messaging.system` value exists for MongoDB in the semantic conventions; the DB one is reused. */
export const MESSAGING_SYSTEM = 'mongodb';

const { name: PACKAGE_NAME, version: PACKAGE_VERSION } = packageInfo(join(__dirname, '..'), '@threadline/mongodb-queue');

/**
 * The option `THREADLINE_MONGODB_QUEUE_COLLECTIONS` sets. Unlike other packages' env options it is
 * merged with (not overridden by) the configured `collections`, as the README states.
 */
export const MONGODB_QUEUE_ENV_OPTIONS: EnvOptionTable<{ collections: string[] }> = {
  collections: { env: COLLECTIONS_ENV, parse: envList },
};

type Doc = Record<string, unknown>;
type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

const hasOwn = (target: object, key: PropertyKey): boolean => Object.prototype.hasOwnProperty.call(target, key);
const isDocument = (value: unknown): value is Doc => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A usable context field: a top-level key that cannot address `_id`, a sub-document or an
 * operator, and cannot reach an object's prototype.
 */
export function isValidContextField(field: unknown): field is string {
  return (
    typeof field === 'string' &&
    field.length > 0 &&
    field.length <= 128 &&
    field !== '_id' &&
    field !== '__proto__' &&
    !field.startsWith('$') &&
    !field.includes('.') &&
    !field.includes('\0')
  );
}

/** `a.b, c.d` → `['a.b', 'c.d']`; blanks dropped. */
export function parseCollectionsEnv(raw: string | undefined): string[] {
  return typeof raw === 'string' ? (envList(raw) ?? []) : [];
}

function isObjectId(value: unknown): value is { toHexString(): string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { _bsontype?: unknown })._bsontype === 'ObjectId' &&
    typeof (value as { toHexString?: unknown }).toHexString === 'function'
  );
}

/**
 * The driver method as `db.operation.name`; `messaging.operation.name` keeps the messaging
 * conventions' names (`send`, `receive`, `process`), so a backend groups MongoDB with the brokers.
 * Built once per collection's attributes and method, not per message.
 */
const withOperation = new WeakMap<Attributes, Map<string, Attributes>>();
function withDriverOperation(attributes: Attributes, driverMethod: string): Attributes {
  let byMethod = withOperation.get(attributes);
  if (byMethod === undefined) withOperation.set(attributes, (byMethod = new Map()));
  let built = byMethod.get(driverMethod);
  if (built === undefined) {
    built = Object.assign({}, attributes);
    built[ATTR_DB_OPERATION_NAME] = driverMethod;
    byMethod.set(driverMethod, built);
  }
  return built;
}

/** Only ObjectIds become `messaging.message.id`: a string `_id` may be an e-mail address or other personal data. */
function withMessageId(attributes: Attributes, id: unknown): Attributes {
  if (!isObjectId(id)) return attributes;
  try {
    return { ...attributes, [ATTR_MESSAGING_MESSAGE_ID]: id.toHexString() };
  } catch {
    return attributes;
  }
}

/** Host and port from the parsed client options: never the connection string, so never credentials. */
function serverAttributes(collection: CollectionLike): Attributes {
  const client: ClientLike | undefined = collection.client ?? collection.s?.db?.client;
  const options = client?.options;
  const attributes: Attributes = {};
  const host = options?.hosts?.[0];
  if (host !== undefined && typeof host.host === 'string') {
    attributes[ATTR_SERVER_ADDRESS] = host.host;
    if (typeof host.port === 'number') attributes[ATTR_SERVER_PORT] = host.port;
  } else if (host !== undefined && typeof host.socketPath === 'string') {
    attributes[ATTR_SERVER_ADDRESS] = host.socketPath;
  } else if (typeof options?.srvHost === 'string') {
    attributes[ATTR_SERVER_ADDRESS] = options.srvHost;
  }
  return attributes;
}

/** MongoDB's document size limit (BSON `maxBsonObjectSize`). */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
/**
 * A document whose copy with the context would be larger than this is inserted without context:
 * the added field must never be what pushes a document over the limit. The headroom covers the
 * command around the document, which some servers count against the same limit.
 */
export const CONTEXT_SIZE_LIMIT = MAX_DOCUMENT_BYTES - 16 * 1024;

/** `BSON.calculateObjectSize` of the patched driver. */
type ObjectSizer = (document: Doc) => number;

/**
 * True when `document` is at most CONTEXT_SIZE_LIMIT bytes of BSON. Without the driver's sizer
 * (never seen in supported versions) the document is assumed to fit.
 */
function fitsWithContext(document: Doc, sizer: ObjectSizer | undefined): boolean {
  if (sizer === undefined) return true;
  try {
    return sizer(document) <= CONTEXT_SIZE_LIMIT;
  } catch {
    // The serializer rejects this document (a cycle, a bad value): the driver will say so itself.
    return false;
  }
}

/**
 * Documents handed out by an instrumented read, mapped to what `withDocumentContext` runs them
 * in. Weak, so a document the app drops is collected with its entry.
 */
const RUNNERS_KEY = Symbol.for('threadline.mongodb-queue.document-runners');
// Shared through globalThis so that two copies of this package (the register hook's and the
// app's) still find each other's documents.
const documentRunners: WeakMap<object, DocumentRunner> = ((globalThis as { [RUNNERS_KEY]?: WeakMap<object, DocumentRunner> })[
  RUNNERS_KEY
] ??= new WeakMap());

/** Stripped copies handed to the app, to the stored documents whose context field they lost. */
const originals = new WeakMap<object, Doc>();

function registerRunner(document: unknown, runner: DocumentRunner): void {
  if (typeof document === 'object' && document !== null) documentRunners.set(document, runner);
}

/**
 * The first `withDocumentContext` call for a delivered document takes over the span: it then ends
 * when that call's function settles. Otherwise the span ends at the end of the event-loop turn.
 */
function runPending<R>(pending: PendingDelivery, fn: () => R): R {
  if (pending.timer !== undefined && !pending.scope.isEnded) {
    clearImmediate(pending.timer);
    pending.timer = undefined;
    return runAndEnd(pending.scope, fn);
  }
  return pending.scope.run(fn);
}

function deferEnd(scope: MessagingScope): PendingDelivery {
  const pending: PendingDelivery = { scope, timer: undefined };
  if (scope.span !== undefined) {
    pending.timer = setImmediate(() => {
      pending.timer = undefined;
      scope.end();
    });
  }
  return pending;
}

export interface WithDocumentContextOptions {
  /**
   * The field to read for a document this package did not deliver (read by another client or
   * library). Documents delivered by an instrumented read already know their field.
   * @default '_otel'
   */
  contextField?: string;
}

/**
 * Runs `fn` inside the trace of a queue document and returns what `fn` returns.
 *
 * - A document (or change event) returned by an instrumented claim (`findOneAndUpdate`,
 *   `findOneAndDelete`, `findOne`) or change-stream `next()`/`tryNext()`/`for await`: `fn` runs in
 *   that read's CONSUMER span, and the span ends when `fn` settles, if this is the first call for the
 *   document and the read's span has not already ended (see README, "Span timing").
 * - A document from an instrumented `find` cursor: a CONSUMER span `process {db}.{collection}` is
 *   started for this document (child of, or linked to, its producer) and ends when `fn` settles.
 * - Any other document: `fn` runs in the context the document's field carries (no span); a
 *   document without a valid context runs `fn` in the active context.
 *
 * Never throws on its own account; errors `fn` throws or rejects with reach the caller unchanged.
 */
export function withDocumentContext<R>(document: unknown, fn: () => R, options?: WithDocumentContextOptions): R {
  let runner: DocumentRunner | undefined;
  if (typeof document === 'object' && document !== null) runner = documentRunners.get(document);
  if (runner !== undefined) return runner(fn);
  const field = isValidContextField(options?.contextField) ? options.contextField : DEFAULT_DOCUMENT_CONTEXT_FIELD;
  let carrier: unknown = document;
  if (isDocument(document) && !hasOwn(document, field) && isDocument(document.fullDocument)) carrier = document.fullDocument;
  return withExtractedContext(carrier as Doc, fn, documentFieldAdapter(field));
}

const INSERT_METHODS = ['insertOne', 'insertMany', 'bulkWrite'] as const;
const READ_METHODS = ['findOneAndUpdate', 'findOneAndDelete', 'findOne', 'find', 'watch'] as const;
const COLLECTION_METHODS = [...INSERT_METHODS, ...READ_METHODS];

/** The driver's own `BSON.calculateObjectSize`, for documents near the size limit. */
function objectSizer(moduleExports: unknown): ObjectSizer | undefined {
  for (const candidate of [moduleExports, (moduleExports as { default?: unknown } | undefined)?.default]) {
    const bson = (candidate as { BSON?: { calculateObjectSize?: unknown } } | undefined)?.BSON;
    const calculate = bson?.calculateObjectSize;
    if (typeof calculate === 'function') return (document) => calculate.call(bson, document) as number;
  }
  return undefined;
}

/** A method wrapper that hands its receiver to `body` (an arrow function keeps the instrumentation's `this`). */
function methodWrapper(body: (receiver: unknown, args: unknown[]) => unknown): AnyFunction {
  return function wrapped(this: unknown, ...args: unknown[]): unknown {
    return body(this, args);
  };
}

/** `Collection.prototype` from the module's CommonJS exports or an ESM namespace of them. */
function collectionPrototype(moduleExports: unknown): Record<string, unknown> | undefined {
  const candidates = [moduleExports, (moduleExports as { default?: unknown } | undefined)?.default];
  for (const candidate of candidates) {
    if (typeof candidate !== 'object' && typeof candidate !== 'function') continue;
    if (candidate === null) continue;
    const collectionClass = (candidate as { Collection?: unknown }).Collection;
    if (typeof collectionClass === 'function' && typeof collectionClass.prototype === 'object') {
      return collectionClass.prototype as Record<string, unknown>;
    }
  }
  return undefined;
}

/**
 * Keeps one trace through MongoDB collections used as queues: documents inserted into an
 * opted-in collection carry the producer's context in `contextField`; claims, cursors and
 * change streams on it extract that context.
 */
export class MongoQueueInstrumentation extends InstrumentationBase<MongoQueueInstrumentationConfig> {
  // `declare`: set by setConfig during the base constructor; a field initializer would reset it.
  declare private envCollections: string[];
  private readonly policy: MessagingSpanPolicy<MongoQueueMessage>;
  /** Per collection object: its queue target, or null when not opted in. Reset by setConfig. */
  private targets = new WeakMap<object, QueueTarget | null>();
  /** > 0 while insertMany runs its own bulkWrite (newer 6.x and 7.x drivers), so one call makes one span. */
  private nestedWriteDepth = 0;
  /** > 0 while findOne creates its own find cursor, so a claim is not also a cursor read. */
  private nestedFindDepth = 0;
  private readonly warnings = new WarnOnce(this._diag);
  /** Per Collection.prototype, the BSON sizer of the same driver copy. */
  private sizers = new WeakMap<object, ObjectSizer>();
  private lastBsonSizer: ObjectSizer | undefined;

  constructor(config: MongoQueueInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
    this.policy = new MessagingSpanPolicy<MongoQueueMessage>({
      system: MESSAGING_SYSTEM,
      getTracer: () => this.tracer,
      getConfig: () => this.getConfig(),
    });
  }

  /** Also called by the constructor. */
  override setConfig(config: MongoQueueInstrumentationConfig = {}): void {
    super.setConfig(config);
    this.envCollections = readEnvOptions(MONGODB_QUEUE_ENV_OPTIONS).collections ?? [];
    // The opt-in may have changed; collections are resolved again on their next call, and a
    // problem in the new config is reported again.
    this.targets = new WeakMap();
    this.warnings?.reset();
  }

  protected init(): InstrumentationNodeModuleDefinition {
    // The package's main module is hooked for `require('mongodb')` and `import 'mongodb'`; its own
    // lib/collection.js too, because the driver always loads that file with require(): this also
    // patches the driver when the app reaches it under another name (an alias, a bundle's path).
    return new InstrumentationNodeModuleDefinition(
      'mongodb',
      SUPPORTED_VERSIONS,
      (moduleExports) => this.patchModule(moduleExports, objectSizer(moduleExports)),
      (moduleExports) => this.unpatch(moduleExports),
      [
        new InstrumentationNodeModuleFile(
          'mongodb/lib/bson.js',
          SUPPORTED_VERSIONS,
          (bsonExports) => {
            // The driver loads lib/bson.js before lib/collection.js (which requires it).
            this.lastBsonSizer = objectSizer({ BSON: bsonExports });
            return bsonExports;
          },
          () => undefined,
        ),
        new InstrumentationNodeModuleFile(
          'mongodb/lib/collection.js',
          SUPPORTED_VERSIONS,
          (collectionExports) => this.patchModule(collectionExports, this.lastBsonSizer),
          (collectionExports) => this.unpatch(collectionExports),
        ),
      ],
    );
  }

  private patchModule<T>(moduleExports: T, sizer: ObjectSizer | undefined): T {
    const prototype = collectionPrototype(moduleExports);
    if (prototype === undefined) {
      this._diag.warn('mongodb was loaded but its Collection class was not found; nothing is instrumented');
      return moduleExports;
    }
    if (sizer !== undefined) this.sizers.set(prototype, sizer);
    const sizerOf = (): ObjectSizer | undefined => this.sizers.get(prototype);
    // The same class arrives through several hooks (CommonJS, ESM, the file): wrap once.
    const wrap = (name: string, wrapper: (original: AnyFunction) => AnyFunction): void => {
      const current = prototype[name];
      if (typeof current !== 'function' || isWrapped(current)) return;
      this._wrap(prototype, name, wrapper as (original: unknown) => unknown);
    };
    wrap('insertOne', (original) => this.wrapInsertOne(original, sizerOf));
    wrap('insertMany', (original) => this.wrapInsertMany(original, sizerOf));
    wrap('bulkWrite', (original) => this.wrapBulkWrite(original, sizerOf));
    wrap('findOneAndUpdate', (original) => this.wrapClaim(original, 'findOneAndUpdate', 2));
    wrap('findOneAndDelete', (original) => this.wrapClaim(original, 'findOneAndDelete', 1));
    wrap('findOne', (original) => this.wrapClaim(original, 'findOne', -1));
    wrap('find', (original) => this.wrapFind(original));
    wrap('watch', (original) => this.wrapWatch(original));
    return moduleExports;
  }

  private unpatch(moduleExports: unknown): void {
    const prototype = collectionPrototype(moduleExports);
    if (prototype === undefined) return;
    for (const name of COLLECTION_METHODS) {
      if (isWrapped(prototype[name])) this._unwrap(prototype, name);
    }
  }

  private contextField(): string {
    const field = this.getConfig().contextField;
    if (field === undefined) return DEFAULT_DOCUMENT_CONTEXT_FIELD;
    if (isValidContextField(field)) return field;
    this.warnings.warn(`contextField ${JSON.stringify(field)} is not a usable top-level field name; using '${DEFAULT_DOCUMENT_CONTEXT_FIELD}'`);
    return DEFAULT_DOCUMENT_CONTEXT_FIELD;
  }

  private matches(matcher: CollectionMatcher, namespace: string, database: string): boolean {
    if (typeof matcher === 'string') {
      return matcher === namespace || (matcher.endsWith('.*') && matcher.slice(0, -2) === database);
    }
    if (matcher instanceof RegExp) {
      matcher.lastIndex = 0; // a /g or /y expression keeps state between calls
      return matcher.test(namespace);
    }
    if (typeof matcher === 'function') {
      let chosen = false;
      safeExecuteInTheMiddle(
        () => matcher(namespace),
        (error, result) => {
          if (error) this._diag.warn(`collections matcher threw for ${namespace}; the collection is not instrumented`, error);
          else chosen = result === true;
        },
        true,
      );
      return chosen;
    }
    this.warnings.warn('an entry of collections is neither a string, a RegExp nor a function; it is ignored');
    return false;
  }

  private isOptedIn(namespace: string, database: string): boolean {
    const configured = this.getConfig().collections ?? [];
    if (!Array.isArray(configured)) this.warnings.warn('collections must be an array; only the environment opt-in is used');
    const matchers: readonly CollectionMatcher[] = Array.isArray(configured) ? configured : [];
    return (
      matchers.some((matcher) => this.matches(matcher, namespace, database)) ||
      this.envCollections.some((matcher) => this.matches(matcher, namespace, database))
    );
  }

  /** The queue target of an opted-in collection; undefined for every other collection. */
  private queueTarget(collection: unknown): QueueTarget | undefined {
    if (!this.isEnabled() || typeof collection !== 'object' || collection === null) return undefined;
    const cached = this.targets.get(collection);
    if (cached !== undefined) return cached ?? undefined;
    let target: QueueTarget | null = null;
    try {
      const { dbName, collectionName } = collection as CollectionLike;
      if (typeof dbName === 'string' && typeof collectionName === 'string') {
        const namespace = `${dbName}.${collectionName}`;
        if (this.isOptedIn(namespace, dbName)) {
          target = {
            namespace,
            attributes: {
              [ATTR_DB_NAMESPACE]: dbName,
              [ATTR_DB_COLLECTION_NAME]: collectionName,
              ...serverAttributes(collection as CollectionLike),
            },
          };
        }
      }
    } catch (error) {
      this._diag.debug('could not read the collection namespace; collection left uninstrumented', error);
    }
    this.targets.set(collection, target);
    return target ?? undefined;
  }

  // ---- produce ----------------------------------------------------------------------------

  /**
   * The document to hand to the driver: a shallow copy with the context field, or the caller's
   * own document when nothing is to be added (it has the field already, the driver serializes it
   * specially, or the propagator wrote nothing). The caller's object is never changed by us; the
   * copy's `_id` writes through to it, so the driver still assigns `_id` to the caller's document
   * at the moment it would without instrumentation.
   */
  private prepareDocument(document: unknown, scope: MessagingScope, sizer: ObjectSizer | undefined): unknown {
    if (!isDocument(document)) return document;
    const field = this.contextField();
    if (hasOwn(document, field)) return document;
    // A Buffer, typed array, Date, RegExp, Map or Set would lose what makes it one in a spread
    // copy (the BSON serializer reads only own enumerable fields of other objects), so it goes
    // to the driver exactly as given and the driver decides as it would uninstrumented.
    if (
      ArrayBuffer.isView(document) ||
      document instanceof Date ||
      document instanceof RegExp ||
      document instanceof Map ||
      document instanceof Set ||
      !Object.isExtensible(document) ||
      typeof document.toBSON === 'function' ||
      '_bsontype' in document
    ) {
      this._diag.debug('document is a Buffer, Date, RegExp, Map or Set, frozen, a BSON value or has toBSON(); inserted without context');
      return document;
    }
    const copy = copyForInjection(document) as Doc;
    if (document._id === undefined || document._id === null) mirrorId(copy, document);
    scope.inject(copy, documentFieldAdapter(field));
    if (!hasOwn(copy, field)) return document;
    if (!fitsWithContext(copy, sizer)) {
      this._diag.warn(`document is within 16 KiB of MongoDB's 16 MiB limit; inserted without context`);
      return document;
    }
    return copy;
  }

  private runSend(scope: MessagingScope, call: () => unknown, afterCall?: () => void): unknown {
    return runAndEnd(scope, () => {
      const result = call();
      if (afterCall !== undefined && scope.span !== undefined) {
        try {
          afterCall();
        } catch (error) {
          this._diag.debug('could not describe the send span', error);
        }
      }
      return result;
    });
  }

  private wrapInsertOne(original: AnyFunction, sizerOf: () => ObjectSizer | undefined): AnyFunction {
    return methodWrapper((receiver, args) => {
      const target = this.queueTarget(receiver);
      if (target === undefined) return original.apply(receiver, args);
      let scope: MessagingScope | undefined;
      let prepared: unknown;
      try {
        scope = this.policy.startSend({
          destination: target.namespace,
          messageCount: 1,
          attributes: withDriverOperation(target.attributes, 'insertOne'),
          message: isDocument(args[0]) ? args[0] : undefined,
        });
        prepared = this.prepareDocument(args[0], scope, sizerOf());
      } catch (error) {
        scope?.end();
        this._diag.debug('insertOne sent without context', error);
        return original.apply(receiver, args);
      }
      const callArgs = args.slice();
      callArgs[0] = prepared;
      const sendScope = scope;
      return this.runSend(
        sendScope,
        () => original.apply(receiver, callArgs),
        () => {
          const id = isDocument(prepared) ? prepared._id : undefined;
          if (isObjectId(id)) sendScope.span?.setAttribute(ATTR_MESSAGING_MESSAGE_ID, id.toHexString());
        },
      );
    });
  }

  private wrapInsertMany(original: AnyFunction, sizerOf: () => ObjectSizer | undefined): AnyFunction {
    return methodWrapper((receiver, args) => {
      const documents = args[0];
      const target = this.nestedWriteDepth > 0 ? undefined : this.queueTarget(receiver);
      if (target === undefined || !Array.isArray(documents) || documents.length === 0) return original.apply(receiver, args);
      let scope: MessagingScope | undefined;
      const callArgs = args.slice();
      try {
        scope = this.policy.startSend({
          destination: target.namespace,
          messageCount: documents.length,
          attributes: withDriverOperation(target.attributes, 'insertMany'),
          message: documents as Doc[],
        });
        const sendScope = scope;
        const sizer = sizerOf();
        callArgs[0] = documents.map((document: unknown) => this.prepareDocument(document, sendScope, sizer));
      } catch (error) {
        scope?.end();
        this._diag.debug('insertMany sent without context', error);
        return original.apply(receiver, args);
      }
      this.nestedWriteDepth++;
      try {
        return this.runSend(scope, () => original.apply(receiver, callArgs));
      } finally {
        this.nestedWriteDepth--;
      }
    });
  }

  private wrapBulkWrite(original: AnyFunction, sizerOf: () => ObjectSizer | undefined): AnyFunction {
    return methodWrapper((receiver, args) => {
      const operations = args[0];
      const target = this.nestedWriteDepth > 0 ? undefined : this.queueTarget(receiver);
      if (target === undefined || !Array.isArray(operations)) return original.apply(receiver, args);
      const inserted = operations.map(insertedDocument);
      const count = inserted.filter((document) => document !== undefined).length;
      if (count === 0) return original.apply(receiver, args);
      let scope: MessagingScope | undefined;
      const callArgs = args.slice();
      try {
        scope = this.policy.startSend({
          destination: target.namespace,
          messageCount: count,
          attributes: withDriverOperation(target.attributes, 'bulkWrite'),
          message: inserted.filter(isDocument),
        });
        const sendScope = scope;
        const sizer = sizerOf();
        callArgs[0] = operations.map((operation: unknown, index: number) => {
          const document = inserted[index];
          if (document === undefined) return operation;
          const prepared = this.prepareDocument(document, sendScope, sizer);
          return prepared === document ? operation : replaceInsertedDocument(operation as Doc, prepared);
        });
      } catch (error) {
        scope?.end();
        this._diag.debug('bulkWrite sent without context', error);
        return original.apply(receiver, args);
      }
      return this.runSend(scope, () => original.apply(receiver, callArgs));
    });
  }

  // ---- consume ----------------------------------------------------------------------------

  private stripped(document: unknown): unknown {
    if (!this.getConfig().stripContextField || !isDocument(document)) return document;
    const field = this.contextField();
    if (!hasOwn(document, field)) return document;
    // fromEntries defines keys as data properties: a stored `__proto__` key stays a plain key.
    return Object.fromEntries(Object.entries(document).filter(([key]) => key !== field));
  }

  /** Starts the CONSUMER span of one delivered document; it ends as `runPending` says. */
  private deliverOne(
    target: QueueTarget,
    operationName: string,
    document: Doc,
    startTime?: TimeInput,
  ): { handed: unknown; pending: PendingDelivery } {
    const scope = this.policy.startProcess({
      destination: target.namespace,
      carrier: document,
      getter: documentFieldAdapter(this.contextField()),
      message: document,
      attributes: withMessageId(withDriverOperation(target.attributes, operationName), document._id),
      startTime,
    });
    const pending = deferEnd(scope);
    const handed = this.stripped(document);
    registerRunner(handed, (fn) => runPending(pending, fn));
    return { handed, pending };
  }

  private deliverClaim(target: QueueTarget, operationName: string, value: unknown, withMetadata: boolean, startTime: number, slot?: FollowedContext): unknown {
    try {
      const document = withMetadata ? (isDocument(value) ? value.value : undefined) : value;
      if (!isDocument(document)) return value; // nothing claimed: no span
      const { handed, pending } = this.deliverOne(target, operationName, document, startTime);
      followClaim(slot, pending);
      if (handed === document) return value;
      return withMetadata ? { ...(value as Doc), value: handed } : handed;
    } catch (error) {
      this._diag.debug(`${operationName} result handed over without a consumer span`, error);
      return value;
    }
  }

  private wrapClaim(original: AnyFunction, operationName: string, optionsIndex: number): AnyFunction {
    return methodWrapper((receiver, args) => {
      const target = this.queueTarget(receiver);
      if (target === undefined) return original.apply(receiver, args);
      // The span is created once the document is back, but starts when the claim was sent.
      const startTime = Date.now();
      const slot = this.isEnabled() && this.getConfig().followPulls !== false && typeof receiver === 'object' && receiver !== null ? beginClaim(receiver) : undefined;
      let result: unknown;
      this.nestedFindDepth++;
      try {
        result = original.apply(receiver, args);
      } finally {
        this.nestedFindDepth--;
      }
      if (!isThenable(result)) return result;
      const options = optionsIndex >= 0 ? args[optionsIndex] : undefined;
      const withMetadata = isDocument(options) && options.includeResultMetadata === true;
      return Promise.resolve(result).then((value) => this.deliverClaim(target, operationName, value, withMetadata, startTime, slot));
    });
  }

  private wrapFind(original: AnyFunction): AnyFunction {
    return methodWrapper((receiver, args) => {
      const cursor = original.apply(receiver, args);
      if (this.nestedFindDepth > 0) return cursor;
      const target = this.queueTarget(receiver);
      if (target !== undefined) {
        try {
          this.instrumentCursor(cursor, target);
        } catch (error) {
          this._diag.debug('find cursor left uninstrumented', error);
        }
      }
      return cursor;
    });
  }

  /** One `receive` span for documents that arrived together, with a link to each one's producer. */
  private receiveBatch(state: CursorState, documents: readonly unknown[], operationName: string, startTime?: TimeInput): void {
    if (documents.length === 0) return;
    this.policy
      .startBatch({
        destination: state.target.namespace,
        operation: 'receive',
        carriers: documents as Doc[],
        getter: documentFieldAdapter(this.contextField()),
        messages: documents as Doc[],
        attributes: withDriverOperation(state.target.attributes, operationName),
        message: documents as Doc[],
        startTime,
      })
      .end();
  }

  private flushPending(state: CursorState): void {
    if (state.pending.length === 0) return;
    const documents = state.pending;
    state.pending = [];
    try {
      this.receiveBatch(state, documents, 'find', state.batchStart);
    } catch (error) {
      this._diag.debug('could not record a cursor batch', error);
    }
  }

  /** A CONSUMER span for one document read from a cursor; undefined when it is not a document. */
  private startDocument(target: QueueTarget, handed: unknown): MessagingScope | undefined {
    const document = originals.get(handed as object) ?? handed;
    if (!isDocument(document)) return undefined;
    return this.policy.startProcess({
      destination: target.namespace,
      carrier: document,
      getter: documentFieldAdapter(this.contextField()),
      message: document,
      attributes: withMessageId(target.attributes, document._id),
      operationName: 'process',
    });
  }

  /** What a cursor hands to the app: the document (or a stripped copy) that knows its producer. */
  private handOverFromCursor(target: QueueTarget, document: unknown): unknown {
    if (!isDocument(document)) return document;
    const handed = this.stripped(document);
    if (handed !== document && isDocument(handed)) originals.set(handed, document);
    registerRunner(handed, (fn) => {
      let scope: MessagingScope;
      try {
        scope = this.policy.startProcess({
          destination: target.namespace,
          carrier: document,
          getter: documentFieldAdapter(this.contextField()),
          message: document,
          attributes: withMessageId(target.attributes, document._id),
          operationName: 'process',
        });
      } catch (error) {
        this._diag.debug('no consumer span for this document', error);
        return fn();
      }
      return runAndEnd(scope, fn);
    });
    return handed;
  }

  private deliverFromCursor(cursor: CursorLike, state: CursorState, document: unknown, callStart: number): unknown {
    try {
      if (document === null || document === undefined) {
        this.flushPending(state);
        return document;
      }
      // The first document of a server batch: the call that returned it fetched the batch (or, after
      // hasNext(), took its first document from the buffer).
      if (state.pending.length === 0) state.batchStart = callStart;
      state.pending.push(document as Doc);
      // The cursor's buffer holds the rest of the server batch this document came in.
      if (cursor.bufferedCount() === 0) this.flushPending(state);
      return this.handOverFromCursor(state.target, document);
    } catch (error) {
      this._diag.debug('cursor document handed over without context', error);
      return document;
    }
  }

  private deliverArray(state: CursorState, documents: unknown, operationName: string, startTime?: number): unknown {
    if (!Array.isArray(documents)) return documents;
    try {
      this.flushPending(state);
      this.receiveBatch(state, documents, operationName, startTime);
      for (let index = 0; index < documents.length; index++) {
        documents[index] = this.handOverFromCursor(state.target, documents[index]);
      }
      if (operationName === 'toArray' && this.getConfig().followPulls !== false) {
        followDocuments(documents, (document) => this.startDocument(state.target, document), state);
      }
    } catch (error) {
      this._diag.debug('cursor documents handed over without context', error);
    }
    return documents;
  }

  /**
   * Wraps this cursor's own methods (only cursors of opted-in collections): every read path of
   * the driver — next, tryNext, for await, forEach, stream, toArray — goes through them.
   */
  private instrumentCursor(cursor: unknown, target: QueueTarget): void {
    if (typeof cursor !== 'object' || cursor === null) return;
    const candidate = cursor as CursorLike;
    for (const name of ['next', 'tryNext', 'toArray', 'readBufferedDocuments', 'close', 'bufferedCount'] as const) {
      if (typeof candidate[name] !== 'function') return;
    }
    const state: CursorState = { target, pending: [], batchStart: undefined, bulkDepth: 0 };
    const wrapNext = (original: AnyFunction): AnyFunction =>
      methodWrapper((receiver, args) => {
        const callStart = Date.now();
        const result = original.apply(receiver, args);
        if (state.bulkDepth > 0 || !this.isEnabled() || !isThenable(result)) return result;
        return Promise.resolve(result).then(
          (document) => this.deliverFromCursor(receiver as CursorLike, state, document, callStart),
          (error: unknown) => {
            this.flushPending(state);
            throw error;
          },
        );
      });
    const wrapToArray = (original: AnyFunction): AnyFunction =>
      methodWrapper((receiver, args) => {
        if (state.bulkDepth > 0 || !this.isEnabled()) return original.apply(receiver, args);
        // toArray reads through next() and readBufferedDocuments(): those calls are part of it.
        const callStart = Date.now();
        state.bulkDepth++;
        let result: unknown;
        try {
          result = original.apply(receiver, args);
        } catch (error) {
          state.bulkDepth--;
          throw error;
        }
        if (!isThenable(result)) {
          state.bulkDepth--;
          return result;
        }
        return Promise.resolve(result).then(
          (documents) => {
            state.bulkDepth--;
            return this.deliverArray(state, documents, 'toArray', callStart);
          },
          (error: unknown) => {
            state.bulkDepth--;
            throw error;
          },
        );
      });
    const wrapReadBuffered = (original: AnyFunction): AnyFunction =>
      methodWrapper((receiver, args) => {
        const documents = original.apply(receiver, args);
        if (state.bulkDepth > 0 || !this.isEnabled()) return documents;
        return this.deliverArray(state, documents, 'readBufferedDocuments');
      });
    const wrapClose = (original: AnyFunction): AnyFunction =>
      methodWrapper((receiver, args) => {
        this.flushPending(state);
        return original.apply(receiver, args);
      });
    const wrap = (name: keyof CursorLike, wrapper: (original: AnyFunction) => AnyFunction): void => {
      this._wrap(candidate, name, wrapper as (original: unknown) => never);
    };
    wrap('next', wrapNext);
    wrap('tryNext', wrapNext);
    wrap('toArray', wrapToArray);
    wrap('readBufferedDocuments', wrapReadBuffered);
    wrap('close', wrapClose);
  }

  private wrapWatch(original: AnyFunction): AnyFunction {
    return methodWrapper((receiver, args) => {
      const changeStream = original.apply(receiver, args);
      const target = this.queueTarget(receiver);
      if (target !== undefined) {
        try {
          this.instrumentChangeStream(changeStream, target);
        } catch (error) {
          this._diag.debug('change stream left uninstrumented', error);
        }
      }
      return changeStream;
    });
  }

  private strippedChange(change: Doc): Doc {
    const fullDocument = this.stripped(change.fullDocument);
    return fullDocument === change.fullDocument ? change : { ...change, fullDocument };
  }

  /** An iterated change event (next, tryNext, for await): a consumer span ended as `runPending` says. */
  private deliverChange(target: QueueTarget, change: unknown): unknown {
    try {
      if (!isDocument(change) || !isDocument(change.fullDocument)) return change;
      const fullDocument = change.fullDocument;
      const { pending } = this.deliverOne(target, 'watch', fullDocument);
      const handed = this.strippedChange(change);
      const runner: DocumentRunner = (fn) => runPending(pending, fn);
      registerRunner(handed, runner);
      registerRunner(handed.fullDocument, runner);
      return handed;
    } catch (error) {
      this._diag.debug('change event handed over without a consumer span', error);
      return change;
    }
  }

  /** A `change` event: its listeners run inside a consumer span that ends when they return. */
  private emitChange(target: QueueTarget, emit: AnyFunction, stream: unknown, args: unknown[]): unknown {
    const change = args[1];
    if (!isDocument(change) || !isDocument(change.fullDocument)) return emit.apply(stream, args);
    let scope: MessagingScope;
    let handedArgs: unknown[];
    try {
      const fullDocument = change.fullDocument;
      scope = this.policy.startProcess({
        destination: target.namespace,
        carrier: fullDocument,
        getter: documentFieldAdapter(this.contextField()),
        message: fullDocument,
        attributes: withMessageId(withDriverOperation(target.attributes, 'watch'), fullDocument._id),
      });
      const handed = this.strippedChange(change);
      const activeScope = scope;
      const runner: DocumentRunner = (fn) => activeScope.run(fn);
      registerRunner(handed, runner);
      registerRunner(handed.fullDocument, runner);
      handedArgs = args.slice();
      handedArgs[1] = handed;
    } catch (error) {
      this._diag.debug('change event emitted without a consumer span', error);
      return emit.apply(stream, args);
    }
    return runAndEnd(scope, () => emit.apply(stream, handedArgs));
  }

  private instrumentChangeStream(changeStream: unknown, target: QueueTarget): void {
    if (typeof changeStream !== 'object' || changeStream === null) return;
    const candidate = changeStream as ChangeStreamLike;
    for (const name of ['next', 'tryNext', 'emit'] as const) {
      if (typeof candidate[name] !== 'function') return;
    }
    const wrapNext = (original: AnyFunction): AnyFunction =>
      methodWrapper((receiver, args) => {
        const result = original.apply(receiver, args);
        if (!this.isEnabled() || !isThenable(result)) return result;
        return Promise.resolve(result).then((change) => this.deliverChange(target, change));
      });
    const wrapEmit = (original: AnyFunction): AnyFunction =>
      methodWrapper((receiver, args) => {
        if (args[0] !== 'change' || !this.isEnabled()) return original.apply(receiver, args);
        return this.emitChange(target, original, receiver, args);
      });
    const wrap = (name: keyof ChangeStreamLike, wrapper: (original: AnyFunction) => AnyFunction): void => {
      this._wrap(candidate, name, wrapper as (original: unknown) => never);
    };
    wrap('next', wrapNext);
    wrap('tryNext', wrapNext);
    wrap('emit', wrapEmit);
  }
}

/**
 * Makes the copy's `_id` read and write the caller's document, so `_id` lands on the caller's
 * object exactly when the driver assigns it. Not enumerable (not serialized) until assigned, as a
 * missing `_id` is not serialized either (the server then generates one).
 */
function mirrorId(copy: Doc, caller: Doc): void {
  const descriptor = Object.getOwnPropertyDescriptor(caller, '_id');
  Object.defineProperty(copy, '_id', {
    configurable: true,
    enumerable: descriptor?.enumerable === true,
    get: () => caller._id,
    set(value: unknown) {
      caller._id = value;
      Object.defineProperty(copy, '_id', { enumerable: true });
    },
  });
}

/** The document a bulkWrite operation inserts, as the driver reads it; undefined for other operations. */
function insertedDocument(operation: unknown): unknown {
  if (!isDocument(operation) || !('insertOne' in operation)) return undefined;
  const insert = operation.insertOne;
  if (!isDocument(insert)) return undefined;
  // The driver still accepts `{ insertOne: doc }` for `{ insertOne: { document: doc } }`.
  return insert.document === undefined || insert.document === null ? insert : insert.document;
}

function replaceInsertedDocument(operation: Doc, prepared: unknown): Doc {
  const insert = operation.insertOne as Doc;
  if (insert.document === undefined || insert.document === null) return { ...operation, insertOne: prepared };
  return { ...operation, insertOne: { ...insert, document: prepared } };
}
