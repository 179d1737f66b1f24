import { join } from 'node:path';
import type { TimeInput } from '@opentelemetry/api';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
  isWrapped,
  safeExecuteInTheMiddle,
} from '@opentelemetry/instrumentation';
import { ATTR_DB_COLLECTION_NAME, ATTR_DB_NAMESPACE } from '@opentelemetry/semantic-conventions';
import {
  ATTR_MESSAGING_MESSAGE_ID,
  copyForInjection,
  DEFAULT_DOCUMENT_CONTEXT_FIELD,
  documentFieldAdapter,
  envList,
  errorType,
  isThenable,
  MESSAGING_ENV_OPTIONS,
  MessagingSpanPolicy,
  packageInfo,
  readEnvOptions,
  resolveEnvOptions,
  runAndEnd,
  WarnOnce,
  type EnvOptionTable,
  type FollowedContext,
  type MessagingScope,
} from '@threadline/carrier';
import { documentTime, isObjectId, serverAttributes, withDriverOperation, withMessageId } from './attributes';
import { instrumentChangeStream } from './change-stream';
import { instrumentCursor } from './cursor';
import { deferEnd, hasOwn, isDocument, isValidContextField, registerRunner, runPending, type Doc } from './document-context';
import { fitsWithContext, insertedDocument, mirrorId, objectSizer, replaceInsertedDocument, type ObjectSizer } from './insert';
import type { CollectionLike, PendingDelivery, QueueReader, QueueTarget } from './internal-types';
import { methodWrapper, type AnyFunction } from './method-wrapper';
import type { CollectionMatcher, MongoQueueInstrumentationConfig, MongoQueueMessage } from './types';
import { beginClaim, followClaim } from './pull';

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

/** `a.b, c.d` → `['a.b', 'c.d']`; blanks dropped. */
export function parseCollectionsEnv(raw: string | undefined): string[] {
  return typeof raw === 'string' ? (envList(raw) ?? []) : [];
}

const INSERT_METHODS = ['insertOne', 'insertMany', 'bulkWrite'] as const;
const READ_METHODS = ['findOneAndUpdate', 'findOneAndDelete', 'findOne', 'find', 'watch'] as const;
const COLLECTION_METHODS = [...INSERT_METHODS, ...READ_METHODS];

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
  /** What the cursor and change-stream read paths use of this instrumentation. */
  private readonly reader: QueueReader;

  constructor(config: MongoQueueInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
    this.policy = new MessagingSpanPolicy<MongoQueueMessage>({
      system: MESSAGING_SYSTEM,
      getTracer: () => this.tracer,
      getMeter: () => this.meter,
      getConfig: () => this.getConfig(),
    });
    this.reader = {
      policy: this.policy,
      diag: this._diag,
      isEnabled: () => this.isEnabled(),
      getConfig: () => this.getConfig(),
      contextField: () => this.contextField(),
      documentTime: (document) => documentTime(document, this.insertTimeField()),
      stripped: (document) => this.stripped(document),
      deliverOne: (target, operationName, document, startTime) => this.deliverOne(target, operationName, document, startTime),
      wrap: (object, name, wrapper) => {
        this._wrap(object as Record<string, unknown>, name, wrapper as (original: unknown) => unknown);
      },
    };
  }

  /** Also called by the constructor. */
  override setConfig(config: MongoQueueInstrumentationConfig = {}): void {
    super.setConfig(resolveEnvOptions(MESSAGING_ENV_OPTIONS, config));
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

  private insertTimeField(): string | undefined {
    const field = this.getConfig().insertTimeField;
    if (field === undefined || isValidContextField(field)) return field;
    this.warnings.warn(`insertTimeField ${JSON.stringify(field)} is not a usable top-level field name; the _id's time is used`);
    return undefined;
  }

  /**
   * Whether a document needs `threadline-sent-at` for its queue time: only when it will have neither
   * the insert-time field nor an ObjectId `_id` (the driver makes one when `_id` is missing).
   */
  private needsSentAt(document: Doc): boolean {
    const id = document._id;
    if (id === undefined || id === null || isObjectId(id)) return false;
    const field = this.insertTimeField();
    return field === undefined || document[field] === undefined || document[field] === null;
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
    // The send time is written only while metrics are recorded (the scope knows).
    scope.inject(copy, documentFieldAdapter(field), { sentAt: this.needsSentAt(document) });
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
    const metrics = this.policy.metrics;
    const scope = this.policy.startProcess({
      destination: target.namespace,
      carrier: document,
      getter: documentFieldAdapter(this.contextField()),
      message: document,
      attributes: withMessageId(withDriverOperation(target.attributes, operationName), document._id),
      startTime,
      // The span's end is no processing boundary (the end of the turn, unless withDocumentContext
      // takes it over): the process duration is recorded by runPending instead.
      metrics: metrics.enabled ? { destination: target.namespace, brokerTime: this.reader.documentTime(document), carriedTime: true, duration: false } : undefined,
    });
    const pending = deferEnd(scope, metrics.enabled ? { metrics, destination: target.namespace } : undefined);
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
      const metrics = this.policy.metrics;
      const startedAt = metrics.start();
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
      if (startedAt === 0) return Promise.resolve(result).then((value) => this.deliverClaim(target, operationName, value, withMetadata, startTime, slot));
      return Promise.resolve(result).then(
        (value) => {
          metrics.operation(target.namespace, 'receive', startedAt);
          return this.deliverClaim(target, operationName, value, withMetadata, startTime, slot);
        },
        (error: unknown) => {
          metrics.operation(target.namespace, 'receive', startedAt, errorType(error));
          throw error;
        },
      );
    });
  }

  private wrapFind(original: AnyFunction): AnyFunction {
    return methodWrapper((receiver, args) => {
      const cursor = original.apply(receiver, args);
      if (this.nestedFindDepth > 0) return cursor;
      const target = this.queueTarget(receiver);
      if (target !== undefined) {
        try {
          instrumentCursor(this.reader, cursor, target);
        } catch (error) {
          this._diag.debug('find cursor left uninstrumented', error);
        }
      }
      return cursor;
    });
  }

  private wrapWatch(original: AnyFunction): AnyFunction {
    return methodWrapper((receiver, args) => {
      const changeStream = original.apply(receiver, args);
      const target = this.queueTarget(receiver);
      if (target !== undefined) {
        try {
          instrumentChangeStream(this.reader, changeStream, target);
        } catch (error) {
          this._diag.debug('change stream left uninstrumented', error);
        }
      }
      return changeStream;
    });
  }
}
