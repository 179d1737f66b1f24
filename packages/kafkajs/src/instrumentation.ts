import { join } from 'node:path';
import type { Attributes } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition, isWrapped } from '@opentelemetry/instrumentation';
import {
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  MESSAGING_SYSTEM_VALUE_KAFKA,
} from '@threadline/carrier';
import {
  cloneWith,
  forwarding,
  kafkaClientAttributes,
  kafkaRecordAttributes,
  copyForInjection,
  envOneOf,
  envBoolean,
  envPositiveInteger,
  isThenable,
  kafkaHeadersAdapter,
  MESSAGING_ENV_OPTIONS,
  MessagingSpanPolicy,
  packageInfo,
  resolveEnvOptions,
  runAndEnd,
  type EnvOptionTable,
  type MessagingScope,
} from '@threadline/carrier';
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import type { AnyFunction, KafkaClientInfo, KafkaEndpointInfo, KafkaJsApi, KafkaJsModule, LooseObject } from './internal-types';
import type { ConfluentKafkaInstrumentationConfig, KafkaJsHookMessage, KafkaJsInstrumentationConfig, KafkaJsReceivedMessage } from './types';
import { DEFAULT_MAX_MESSAGE_BYTES, isHeaderObject, isObject, recordBytes } from './kafka-message';
import { runFollowingBatch, runSite } from './pull';

const { name: PACKAGE_NAME, version: PACKAGE_VERSION } = packageInfo(join(__dirname, '..'), '@threadline/kafkajs');

/** The kafkajs versions this instrumentation patches (the same range the README and tests state). */
export const SUPPORTED_VERSIONS: string[] = ['>=1.16.0 <3'];

/** The @confluentinc/kafka-javascript versions whose `KafkaJS` API is patched (README and tests state the same). */
export const CONFLUENT_KAFKA_SUPPORTED_VERSIONS: string[] = ['>=1.0.0 <2'];

/** The instrumentation scope of `ConfluentKafkaInstrumentation`'s spans. */
export const CONFLUENT_KAFKA_SCOPE_NAME = `${PACKAGE_NAME}/confluent-kafka`;

/** The options `THREADLINE_KAFKAJS_*` variables set (for apps started with `@threadline/register`); the config wins. */
export const KAFKAJS_ENV_OPTIONS: EnvOptionTable<KafkaJsInstrumentationConfig> = {
  ...MESSAGING_ENV_OPTIONS,
  captureMessageKey: { env: 'THREADLINE_KAFKAJS_CAPTURE_MESSAGE_KEY', parse: envBoolean },
  batchParent: { env: 'THREADLINE_KAFKAJS_BATCH_PARENT', parse: envOneOf('first', 'none') },
  maxMessageBytes: { env: 'THREADLINE_KAFKAJS_MAX_MESSAGE_BYTES', parse: envPositiveInteger },
};

/** The same options for `ConfluentKafkaInstrumentation`, from `THREADLINE_CONFLUENT_KAFKA_*`. */
export const CONFLUENT_KAFKA_ENV_OPTIONS: EnvOptionTable<ConfluentKafkaInstrumentationConfig> = {
  ...MESSAGING_ENV_OPTIONS,
  captureMessageKey: { env: 'THREADLINE_CONFLUENT_KAFKA_CAPTURE_MESSAGE_KEY', parse: envBoolean },
  batchParent: { env: 'THREADLINE_CONFLUENT_KAFKA_BATCH_PARENT', parse: envOneOf('first', 'none') },
  maxMessageBytes: { env: 'THREADLINE_CONFLUENT_KAFKA_MAX_MESSAGE_BYTES', parse: envPositiveInteger },
};

const firstString = (...values: unknown[]): string | undefined => values.find((value): value is string => typeof value === 'string' && value !== '');

/** kafkajs itself: the module's exports hold `Kafka`; configs are kafkajs' own. */
const KAFKAJS_API: KafkaJsApi = {
  module: 'kafkajs',
  versions: SUPPORTED_VERSIONS,
  env: KAFKAJS_ENV_OPTIONS,
  // import-in-the-middle hands over the ESM namespace; `import kafkajs from 'kafkajs'` reads `default`.
  namespaces: (moduleExports) => [moduleExports, moduleExports.default],
  client: (config) => ({ clientId: firstString(config.clientId), brokers: config.brokers }),
  groupId: (config) => firstString(config.groupId),
  nullHeaders: false,
};

/**
 * @confluentinc/kafka-javascript: the KafkaJS-compatible API is the `KafkaJS` namespace, and a
 * config holds kafkajs keys under `kafkaJS` or librdkafka keys at the top level.
 */
const CONFLUENT_KAFKA_API: KafkaJsApi = {
  module: '@confluentinc/kafka-javascript',
  versions: CONFLUENT_KAFKA_SUPPORTED_VERSIONS,
  env: CONFLUENT_KAFKA_ENV_OPTIONS,
  namespaces: (moduleExports) => [moduleExports.KafkaJS, isObject(moduleExports.default) ? moduleExports.default.KafkaJS : undefined],
  client: (config) => {
    const kafkaJS = isObject(config.kafkaJS) ? config.kafkaJS : {};
    const servers = config['bootstrap.servers'] ?? config['metadata.broker.list'];
    return {
      clientId: firstString(kafkaJS.clientId, config['client.id']),
      brokers: kafkaJS.brokers ?? (typeof servers === 'string' ? servers.split(',') : undefined),
    };
  },
  groupId: (config) => firstString(isObject(config.kafkaJS) ? config.kafkaJS.groupId : undefined, config['group.id']),
  nullHeaders: true,
};

/**
 * The one implementation of the kafkajs API's wrapping, shared by kafkajs and by clients with a
 * KafkaJS-compatible API; `api()` says where that API lives and how its configs read.
 */
abstract class KafkaJsApiInstrumentation extends InstrumentationBase<KafkaJsInstrumentationConfig> {
  private readonly clients = new WeakMap<object, KafkaClientInfo>();
  private readonly policy: MessagingSpanPolicy<KafkaJsHookMessage>;
  // The per-topic records a sendBatch wrapper made: a client whose sendBatch calls its own
  // (wrapped) send with them must not get a second span and context.
  private readonly batchRecords = new WeakSet<object>();

  /** A prototype method, not a field: InstrumentationBase's constructor calls init() first. */
  protected abstract api(): KafkaJsApi;

  constructor(name: string, config: KafkaJsInstrumentationConfig) {
    super(name, PACKAGE_VERSION, config);
    this.policy = new MessagingSpanPolicy<KafkaJsHookMessage>({
      system: MESSAGING_SYSTEM_VALUE_KAFKA,
      getTracer: () => this.tracer,
      getConfig: () => this.getConfig(),
      getMeter: () => this.meter,
    });
  }

  /** Also called by the constructor: options left undefined come from the environment. */
  override setConfig(config: KafkaJsInstrumentationConfig = {}): void {
    super.setConfig(resolveEnvOptions(this.api().env, config));
  }

  protected init() {
    const { module, versions } = this.api();
    return new InstrumentationNodeModuleDefinition(
      module,
      versions,
      (moduleExports: KafkaJsModule) => this.patchModule(moduleExports),
      (moduleExports: KafkaJsModule) => this.unpatchModule(moduleExports),
    );
  }

  // --- module patching ---------------------------------------------------------------------

  /** The objects holding the `Kafka` class (the first is the API itself), deduplicated. */
  private namespaces(moduleExports: KafkaJsModule): KafkaJsModule[] {
    if (!isObject(moduleExports)) return [];
    const found = this.api().namespaces(moduleExports).filter((each): each is KafkaJsModule => isObject(each));
    return [...new Set(found)];
  }

  private patchModule(moduleExports: KafkaJsModule): KafkaJsModule {
    const [namespace, ...others] = this.namespaces(moduleExports);
    const exported = namespace?.Kafka;
    if (typeof exported !== 'function' || !isObject(exported.prototype)) {
      this._diag.warn(`${this.api().module} exports no Kafka class; it is not instrumented`);
      return moduleExports;
    }
    const base = isWrapped(exported) ? ((exported as unknown as { __original: typeof exported }).__original ?? exported) : exported;
    const proto = base.prototype;
    if (typeof proto.producer === 'function' && !isWrapped(proto.producer)) {
      this._wrap(proto, 'producer', (original) => this.wrapFactory(original as AnyFunction, 'producer'));
    }
    if (typeof proto.consumer === 'function' && !isWrapped(proto.consumer)) {
      this._wrap(proto, 'consumer', (original) => this.wrapFactory(original as AnyFunction, 'consumer'));
    }
    for (const target of [namespace, ...others]) this.trackClients(target, base);
    return moduleExports;
  }

  private unpatchModule(moduleExports: KafkaJsModule): void {
    const targets = this.namespaces(moduleExports);
    const exported = targets[0]?.Kafka;
    if (typeof exported !== 'function') return;
    const base = isWrapped(exported) ? ((exported as unknown as { __original: typeof exported }).__original ?? exported) : exported;
    for (const target of targets) {
      if (isWrapped(target.Kafka)) this._unwrap(target, 'Kafka');
    }
    if (isWrapped(base.prototype.producer)) this._unwrap(base.prototype, 'producer');
    if (isWrapped(base.prototype.consumer)) this._unwrap(base.prototype, 'consumer');
  }

  /**
   * Replaces the exported `Kafka` with a subclass that remembers the broker list and client id
   * of each client (kafkajs keeps them private), for `server.*` and `messaging.client.id`.
   */
  private trackClients(target: KafkaJsModule, base: NonNullable<KafkaJsModule['Kafka']>): void {
    if (target.Kafka !== base) return;
    const remember = (client: object, config: unknown) => this.rememberClient(client, config);
    this._wrap(target, 'Kafka', (Original) => {
      const Base = Original as unknown as new (...args: unknown[]) => object;
      const Tracked = class Kafka extends Base {
        constructor(...args: unknown[]) {
          super(...args);
          remember(this, args[0]);
        }

        // Any kafkajs client is `instanceof Kafka`, as without instrumentation (the ESM named
        // export and the CJS exports object each get their own subclass).
        static override [Symbol.hasInstance](candidate: unknown): boolean {
          return this === Tracked ? candidate instanceof Base : Function.prototype[Symbol.hasInstance].call(this, candidate);
        }
      };
      return Tracked as unknown as typeof Original;
    });
  }

  private rememberClient(client: object, config: unknown): void {
    try {
      if (!isObject(config)) return;
      const { clientId, brokers } = this.api().client(config);
      this.clients.set(client, { attributes: kafkaClientAttributes(clientId, brokers) });
    } catch (error) {
      this._diag.debug('could not read the Kafka client config', error);
    }
  }

  /** Wraps `Kafka.prototype.producer`/`consumer`: instruments each object they return. */
  private wrapFactory(original: AnyFunction, kind: 'producer' | 'consumer'): AnyFunction {
    return forwarding((thisArg, args) => {
      const created: unknown = original.apply(thisArg, args);
      try {
        if (!isObject(created)) return created;
        const client = typeof thisArg === 'object' && thisArg !== null ? this.clients.get(thisArg) : undefined;
        const endpoint: KafkaEndpointInfo = { attributes: client?.attributes ?? {} };
        if (kind === 'producer') {
          this.instrumentSender(created, endpoint);
          if (typeof created.transaction === 'function') {
            this._wrap(created, 'transaction', (transaction) => this.wrapTransaction(transaction as AnyFunction, endpoint));
          }
        } else {
          const config = args[0];
          const groupId = isObject(config) ? this.api().groupId(config) : undefined;
          if (groupId !== undefined) endpoint.groupId = groupId;
          if (typeof created.run === 'function') {
            this._wrap(created, 'run', (run) => this.wrapRun(run as AnyFunction, endpoint));
          }
        }
      } catch (error) {
        this._diag.debug(`could not instrument a ${this.api().module} ${kind}`, error);
      }
      return created;
    });
  }

  // --- producer ----------------------------------------------------------------------------

  /** Wraps `send`/`sendBatch` of a producer or a transaction. */
  private instrumentSender(sender: LooseObject, endpoint: KafkaEndpointInfo): void {
    if (typeof sender.send === 'function') {
      this._wrap(sender, 'send', (original) => this.wrapSend(original as AnyFunction, endpoint));
    }
    if (typeof sender.sendBatch === 'function') {
      this._wrap(sender, 'sendBatch', (original) => this.wrapSendBatch(original as AnyFunction, endpoint));
    }
  }

  private wrapTransaction(original: AnyFunction, endpoint: KafkaEndpointInfo): AnyFunction {
    return forwarding((thisArg, args) => {
      const pending: unknown = original.apply(thisArg, args);
      if (!isThenable(pending)) return pending;
      // Rejections pass through unchanged; only a started transaction is instrumented.
      return pending.then((started) => {
        try {
          // @confluentinc/kafka-javascript resolves with the producer itself, already instrumented.
          if (isObject(started) && !isWrapped(started.send)) this.instrumentSender(started, endpoint);
        } catch (error) {
          this._diag.debug('could not instrument a kafkajs transaction', error);
        }
        return started;
      });
    });
  }

  private wrapSend(original: AnyFunction, endpoint: KafkaEndpointInfo): AnyFunction {
    return forwarding((thisArg, args) => {
      const record = args[0];
      if (!this.isEnabled() || !isObject(record) || this.batchRecords.has(record)) return original.apply(thisArg, args);
      const { topic, messages } = record;
      // A malformed call is left to kafkajs to reject, exactly as without instrumentation.
      if (typeof topic !== 'string' || !Array.isArray(messages)) return original.apply(thisArg, args);
      let scope: MessagingScope | undefined;
      let call: LooseObject;
      try {
        scope = this.startSend(topic, messages, endpoint);
        call = cloneWith(record, { messages: this.withContext(messages, scope) });
      } catch (error) {
        this._diag.debug('could not prepare a send; sending it unchanged', error);
        scope?.end();
        return original.apply(thisArg, args);
      }
      return runAndEnd(scope, () => original.apply(thisArg, [call, ...args.slice(1)]));
    });
  }

  /** `sendBatch` gets one span per topic; each topic's messages carry that topic's span. */
  private wrapSendBatch(original: AnyFunction, endpoint: KafkaEndpointInfo): AnyFunction {
    return forwarding((thisArg, args) => {
      const batch = args[0];
      if (!this.isEnabled() || !isObject(batch) || !Array.isArray(batch.topicMessages)) {
        return original.apply(thisArg, args);
      }
      const entries: unknown[] = batch.topicMessages;
      const scopes = new Map<string, MessagingScope>();
      let call: LooseObject;
      try {
        const byTopic = new Map<string, unknown[]>();
        for (const entry of entries) {
          if (!isObject(entry) || typeof entry.topic !== 'string' || !Array.isArray(entry.messages)) continue;
          const collected = byTopic.get(entry.topic);
          if (collected === undefined) byTopic.set(entry.topic, [...entry.messages]);
          else collected.push(...entry.messages);
        }
        for (const [topic, messages] of byTopic) scopes.set(topic, this.startSend(topic, messages, endpoint));
        const topicMessages = entries.map((entry) => {
          if (!isObject(entry) || typeof entry.topic !== 'string' || !Array.isArray(entry.messages)) return entry;
          const prepared = cloneWith(entry, { messages: this.withContext(entry.messages, scopes.get(entry.topic)!) });
          this.batchRecords.add(prepared);
          return prepared;
        });
        call = cloneWith(batch, { topicMessages });
      } catch (error) {
        this._diag.debug('could not prepare a sendBatch; sending it unchanged', error);
        for (const scope of scopes.values()) scope.end();
        return original.apply(thisArg, args);
      }
      const all = [...scopes.values()];
      return runAndEnd(all, () => original.apply(thisArg, [call, ...args.slice(1)]), { runIn: all.length === 1 ? all[0] : null });
    });
  }

  private startSend(topic: string, messages: readonly unknown[], endpoint: KafkaEndpointInfo): MessagingScope {
    return this.policy.startSend({
      destination: topic,
      messageCount: messages.length,
      attributes: endpoint.attributes,
      message: { kind: 'send', topic, messages: messages as Message[] },
    });
  }

  /** The messages to send: each a clone carrying the scope's context, or the caller's own object when none is added. */
  private withContext(messages: readonly unknown[], scope: MessagingScope): unknown[] {
    return messages.map((message) => this.messageWithContext(message, scope));
  }

  private messageWithContext(message: unknown, scope: MessagingScope): unknown {
    // kafkajs rejects a message without value and quotes it in the error: leave it as given.
    if (!isObject(message) || message.value === undefined) return message;
    // The confluent client sends null headers as none; kafkajs rejects them.
    const headers = message.headers === null && this.api().nullHeaders ? undefined : message.headers;
    if (headers !== undefined && !isHeaderObject(headers)) {
      // kafkajs rejects these by itself; the instrumentation leaves the message exactly as given.
      this._diag.debug('message headers are not an object; message left as it is');
      return message;
    }
    const withContext = copyForInjection(headers);
    if (scope.inject(withContext, kafkaHeadersAdapter) !== 'injected') return message;
    if (!this.fitsWithContext(message, headers, withContext)) return message;
    return cloneWith(message, { headers: withContext });
  }

  /**
   * False when the message with the context headers may exceed the broker's size limit: the
   * message then goes exactly as given, so the broker accepts or rejects it as it would anyway.
   */
  private fitsWithContext(message: LooseObject, headers: IHeaders | undefined, withContext: LooseObject): boolean {
    const configured = this.getConfig().maxMessageBytes;
    const limit = typeof configured === 'number' && configured > 0 ? configured : DEFAULT_MAX_MESSAGE_BYTES;
    const upperBound = recordBytes(message, withContext, false);
    if (upperBound === undefined || upperBound <= limit) return true;
    const exactWith = recordBytes(message, withContext, true);
    if (exactWith === undefined || exactWith <= limit) return true;
    // Near the limit the overhead estimate is only an estimate: a message that may fit as given
    // must never be the one the context headers push over, so it always goes without them.
    const exactWithout = recordBytes(message, headers as LooseObject | undefined, true);
    if (exactWithout !== undefined && exactWithout <= limit) {
      this._diag.warn(
        `a message of about ${exactWithout} bytes would exceed maxMessageBytes (${limit}) with the context headers; it is sent without them`,
      );
    }
    return false;
  }

  // --- consumer ----------------------------------------------------------------------------

  private wrapRun(original: AnyFunction, endpoint: KafkaEndpointInfo): AnyFunction {
    return forwarding((thisArg, args) => {
      const config = args[0];
      if (!this.isEnabled() || !isObject(config)) return original.apply(thisArg, args);
      let call: LooseObject;
      try {
        const overrides: LooseObject = {};
        if (typeof config.eachMessage === 'function') {
          overrides.eachMessage = this.wrapEachMessage(config.eachMessage as AnyFunction, endpoint, this.watchHighWatermarks(thisArg));
        }
        if (typeof config.eachBatch === 'function') {
          overrides.eachBatch = this.wrapEachBatch(config.eachBatch as AnyFunction, endpoint);
        }
        call = cloneWith(config, overrides);
      } catch (error) {
        this._diag.debug('could not instrument consumer.run; running it unchanged', error);
        return original.apply(thisArg, args);
      }
      return original.apply(thisArg, [call, ...args.slice(1)]);
    });
  }

  /**
   * eachMessage is not handed the batch's high watermark; kafkajs announces it with every batch
   * in its `consumer.start_batch_process` event. Listened to only while metrics are recorded.
   */
  private watchHighWatermarks(consumer: unknown): Map<string, unknown> | undefined {
    if (!this.policy.metrics.enabled || !isObject(consumer) || typeof consumer.on !== 'function') return undefined;
    const watermarks = new Map<string, unknown>();
    try {
      // @confluentinc/kafka-javascript's `events` getter throws (not implemented): no lag for its eachMessage.
      const events: unknown = consumer.events;
      const event = isObject(events) ? events.START_BATCH_PROCESS : undefined;
      if (typeof event !== 'string') return undefined;
      (consumer.on as AnyFunction).call(consumer, event, (raw: unknown) => {
        const payload = isObject(raw) && isObject(raw.payload) ? raw.payload : undefined;
        if (payload !== undefined) watermarks.set(`${String(payload.topic)}\u0000${String(payload.partition)}`, payload.highWatermark);
      });
    } catch (error) {
      this._diag.debug('could not listen for kafkajs batch events; no consumer lag for eachMessage', error);
      return undefined;
    }
    return watermarks;
  }

  private wrapEachMessage(handler: AnyFunction, endpoint: KafkaEndpointInfo, watermarks: Map<string, unknown> | undefined): AnyFunction {
    return forwarding((thisArg, args) => {
      const scope = this.isEnabled() ? this.startMessage(args[0], endpoint, watermarks) : undefined;
      if (scope === undefined) return handler.apply(thisArg, args);
      return runAndEnd(scope, () => handler.apply(thisArg, args));
    });
  }

  private wrapEachBatch(handler: AnyFunction, endpoint: KafkaEndpointInfo): AnyFunction {
    const site = runSite();
    const attributesFor = (message: KafkaMessage, partition: number) =>
      this.getConfig().mode === 'propagation-only' ? undefined : this.messageAttributes(message, this.consumerAttributes(endpoint, partition));
    return forwarding((thisArg, args) => {
      const scope = this.isEnabled() ? this.startBatch(args[0], endpoint) : undefined;
      if (scope === undefined) return handler.apply(thisArg, args);
      if (this.getConfig().followPulls === false) {
        return runAndEnd(scope, () => handler.apply(thisArg, args));
      }
      return runFollowingBatch(this.policy, args[0], scope, attributesFor, handler, site, () =>
        runAndEnd(scope, () => handler.apply(thisArg, args)),
      );
    });
  }

  private startMessage(payload: unknown, endpoint: KafkaEndpointInfo, watermarks?: Map<string, unknown>): MessagingScope | undefined {
    try {
      if (!isObject(payload) || !isObject(payload.message)) return undefined;
      const topic = String(payload.topic);
      const partition = payload.partition as number;
      const message = payload.message as unknown as KafkaMessage;
      // Attributes only matter when there is a span to carry them.
      const attributes = this.getConfig().mode === 'propagation-only' ? undefined : this.messageAttributes(message, this.consumerAttributes(endpoint, partition));
      const received: KafkaJsReceivedMessage = { kind: 'message', topic, partition, message };
      const metrics = this.policy.metrics;
      if (metrics.enabled && watermarks !== undefined) {
        metrics.lag(topic, endpoint.groupId, partition, watermarks.get(`${topic}\u0000${String(partition)}`), message.offset);
      }
      return this.policy.startProcess({
        destination: topic,
        carrier: message.headers as LooseObject | undefined,
        getter: kafkaHeadersAdapter,
        attributes,
        message: received,
        // The record timestamp: CreateTime set by the producer client, or LogAppendTime.
        metrics: { consumerGroup: endpoint.groupId, brokerTime: message.timestamp },
      });
    } catch (error) {
      this._diag.debug('could not start a process span; the handler runs without it', error);
      return undefined;
    }
  }

  private startBatch(payload: unknown, endpoint: KafkaEndpointInfo): MessagingScope | undefined {
    try {
      if (!isObject(payload) || !isObject(payload.batch)) return undefined;
      const batch = payload.batch;
      const topic = String(batch.topic);
      const partition = batch.partition as number;
      const messages = (Array.isArray(batch.messages) ? batch.messages : []) as KafkaMessage[];
      const config = this.getConfig();
      const carriers = messages.map((message) => (isObject(message) ? (message.headers as LooseObject | undefined) : undefined));
      // Per-message objects are only needed when a function decides the incoming context.
      const perMessage =
        typeof config.incomingContext === 'function'
          ? messages.map((message): KafkaJsReceivedMessage => ({ kind: 'message', topic, partition, message }))
          : undefined;
      const metrics = this.policy.metrics;
      if (metrics.enabled && messages.length > 0) {
        // The lag once the batch is processed: from its last offset.
        metrics.lag(topic, endpoint.groupId, partition, batch.highWatermark, messages[messages.length - 1]?.offset);
      }
      return this.policy.startBatch({
        destination: topic,
        operation: 'process',
        carriers,
        getter: kafkaHeadersAdapter,
        messages: perMessage,
        parent: config.batchParent === 'first' ? 'first' : 'none',
        attributes: this.consumerAttributes(endpoint, partition),
        message: { kind: 'batch', topic, partition, messages },
        metrics: metrics.enabled ? { consumerGroup: endpoint.groupId, brokerTimes: messages.map((message) => (isObject(message) ? message.timestamp : undefined)) } : undefined,
      });
    } catch (error) {
      this._diag.debug('could not start a batch span; the handler runs without it', error);
      return undefined;
    }
  }

  private consumerAttributes(endpoint: KafkaEndpointInfo, partition: unknown): Attributes {
    // Assigned into a fresh object: keys added to a spread copy take V8's slow path.
    const attributes: Attributes = Object.assign({}, endpoint.attributes);
    if (endpoint.groupId !== undefined) attributes[ATTR_MESSAGING_CONSUMER_GROUP_NAME] = endpoint.groupId;
    if (typeof partition === 'number') attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID] = String(partition);
    return attributes;
  }

  /** Offset, tombstone, body size and (when enabled) key. Never the body itself. */
  private messageAttributes(message: KafkaMessage, attributes: Attributes = {}): Attributes {
    return kafkaRecordAttributes(message, this.getConfig().captureMessageKey === true, attributes);
  }
}

/**
 * OpenTelemetry instrumentation for kafkajs: every produced message carries the context of its
 * `send {topic}` span, and every consumer handler runs in a `process {topic}` span that
 * continues (or links to) the producer's trace.
 */
export class KafkaJsInstrumentation extends KafkaJsApiInstrumentation {
  constructor(config: KafkaJsInstrumentationConfig = {}) {
    super(PACKAGE_NAME, config);
  }

  protected api(): KafkaJsApi {
    return KAFKAJS_API;
  }
}

/**
 * The same instrumentation for the KafkaJS-compatible API of @confluentinc/kafka-javascript
 * (`require('@confluentinc/kafka-javascript').KafkaJS`): producer send/sendBatch/transactions
 * and consumer eachMessage/eachBatch, with the same spans, options and modes.
 */
export class ConfluentKafkaInstrumentation extends KafkaJsApiInstrumentation {
  constructor(config: ConfluentKafkaInstrumentationConfig = {}) {
    super(CONFLUENT_KAFKA_SCOPE_NAME, config);
  }

  protected api(): KafkaJsApi {
    return CONFLUENT_KAFKA_API;
  }
}
