import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { propagation, ROOT_CONTEXT, type Attributes } from '@opentelemetry/api';
import { InstrumentationBase, isWrapped } from '@opentelemetry/instrumentation';
import {
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  cloneWith,
  copyForInjection,
  endScope,
  envBoolean,
  forwarding,
  kafkaClientAttributes,
  kafkaHeadersAdapterFor,
  kafkaRecordAttributes,
  MESSAGING_ENV_OPTIONS,
  MESSAGING_SYSTEM_VALUE_KAFKA,
  MessagingSpanPolicy,
  packageInfo,
  propagationFields,
  readTraceStateHeader,
  resolveEnvOptions,
  runAndEnd,
  settlingCallback,
  type CarrierAdapter,
  type EnvOptionTable,
  type KafkaHeaderEncoding,
  type MessagingScope,
} from '@threadline/carrier';
import type { AnyFunction, ClientInfo, FetchEvent, InstanceEvent, LooseObject, ReceiveEvent } from './internal-types';
import { followIterator, READ_ADAPTER } from './pull';
import type { PlatformaticKafkaHookMessage, PlatformaticKafkaInstrumentationConfig, PlatformaticKafkaReceivedMessage } from './types';

const { name: PACKAGE_NAME, version: PACKAGE_VERSION } = packageInfo(join(__dirname, '..'), '@threadline/platformatic-kafka');

/** The @platformatic/kafka versions this instrumentation is tested with (the same range the README states). */
export const SUPPORTED_VERSIONS: string[] = ['>=2.2.3 <=2.12.1'];

/** The Node.js versions @platformatic/kafka 2.x runs on (its `engines`): 22.22+ and 24.6+. */
export function isSupportedNode(version: string = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  return (major === 22 && minor >= 22) || (major === 24 && minor >= 6);
}

/** The library's diagnostics_channel names (`plt:kafka:` + the names in its dist/diagnostic.js). */
export const INSTANCES_CHANNEL = 'plt:kafka:instances';
export const RECEIVES_CHANNEL = 'plt:kafka:consumer:receives';
const RECEIVES_AS_PUSHED = `tracing:${RECEIVES_CHANNEL}:asyncStart`;
export const FETCHES_CHANNEL = 'plt:kafka:consumer:fetches';
/** A fetch's response, before the stream parses it: the only place the partitions' high watermarks show. */
const FETCHES_ANSWERED = `tracing:${FETCHES_CHANNEL}:asyncStart`;

/** The options `THREADLINE_PLATFORMATIC_KAFKA_*` variables set (for apps started with `@threadline/register`); the config wins. */
export const PLATFORMATIC_KAFKA_ENV_OPTIONS: EnvOptionTable<PlatformaticKafkaInstrumentationConfig> = {
  ...MESSAGING_ENV_OPTIONS,
  captureMessageKey: { env: 'THREADLINE_PLATFORMATIC_KAFKA_CAPTURE_MESSAGE_KEY', parse: envBoolean },
};

const isObject = (value: unknown): value is LooseObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A private field of a client, found by its symbol's description (the library does not export its symbols). */
function symbolField(target: object, description: string): unknown {
  for (const symbol of Object.getOwnPropertySymbols(target)) {
    if (symbol.description === description) return (target as LooseObject)[symbol];
  }
  return undefined;
}

/**
 * OpenTelemetry instrumentation for @platformatic/kafka: every produced message carries the
 * context of its `send {topic}` span, and each consumed message's work (a stream `'data'`
 * listener, or the body of a `for await` loop over the stream) runs in a `process {topic}` span
 * that continues (or links to) the producer's trace. Built on the library's diagnostics
 * channels: nothing is patched at load time.
 */
export class PlatformaticKafkaInstrumentation extends InstrumentationBase<PlatformaticKafkaInstrumentationConfig> {
  private readonly clients = new WeakMap<object, ClientInfo>();
  /** Messages the library is pushing into a stream, and that stream: only these are followed. */
  private readonly received = new WeakMap<object, object>();
  /** The high watermark of the fetched partition each raw record, then its message, came in (only while metrics are recorded). */
  private readonly watermarks = new WeakMap<object, unknown>();
  private readonly policy: MessagingSpanPolicy<PlatformaticKafkaHookMessage>;
  private subscribed = false;
  /** The propagator's fields (null: not indexable), read on the first message. */
  private fields: { names: Set<string>; lengths: Set<number> } | null | undefined;
  private readonly onInstance = (event: unknown) => this.instanceCreated(event as InstanceEvent);
  private readonly onReceive = (event: unknown) => this.messageReceived(event as ReceiveEvent);
  private readonly onFetch = (event: unknown) => this.fetched(event as FetchEvent);

  constructor(config: PlatformaticKafkaInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
    this.policy = new MessagingSpanPolicy<PlatformaticKafkaHookMessage>({
      system: MESSAGING_SYSTEM_VALUE_KAFKA,
      getTracer: () => this.tracer,
      getConfig: () => this.getConfig(),
      getMeter: () => this.meter,
    });
    // The base class enables before this class's fields exist; subscribe now that they do.
    if (this.getConfig().enabled !== false) this.enable();
  }

  /** Also called by the constructor: options left undefined come from the environment. */
  override setConfig(config: PlatformaticKafkaInstrumentationConfig = {}): void {
    super.setConfig(resolveEnvOptions(PLATFORMATIC_KAFKA_ENV_OPTIONS, config));
  }

  /** Nothing to hook at module load: the library announces its instances on a channel. */
  protected init() {
    return [];
  }

  override enable(): void {
    super.enable();
    if (this.subscribed || this.policy === undefined) return;
    if (!isSupportedNode()) {
      this._diag.debug(`@platformatic/kafka does not run on Node ${process.versions.node}; nothing subscribed`);
      return;
    }
    subscribe(INSTANCES_CHANNEL, this.onInstance);
    subscribe(RECEIVES_AS_PUSHED, this.onReceive);
    subscribe(FETCHES_ANSWERED, this.onFetch);
    this.subscribed = true;
  }

  override disable(): void {
    super.disable();
    if (!this.subscribed) return;
    unsubscribe(INSTANCES_CHANNEL, this.onInstance);
    unsubscribe(RECEIVES_AS_PUSHED, this.onReceive);
    unsubscribe(FETCHES_ANSWERED, this.onFetch);
    this.subscribed = false;
  }

  // --- instances ---------------------------------------------------------------------------

  private instanceCreated(event: InstanceEvent): void {
    try {
      const instance = event?.instance;
      if (!isObject(instance)) return;
      if (event.type === 'producer') this.instrumentProducer(instance);
      else if (event.type === 'consumer') this.rememberClient(instance);
      else if (event.type === 'messages-stream') this.instrumentStream(instance);
    } catch (error) {
      this._diag.debug(`could not instrument a @platformatic/kafka ${String(event?.type)}`, error);
    }
  }

  private rememberClient(client: LooseObject): ClientInfo {
    let info = this.clients.get(client);
    if (info !== undefined) return info;
    const attributes = kafkaClientAttributes(client.clientId, symbolField(client, 'plt.kafka.base.bootstrapBrokers'));
    info = { attributes };
    if (typeof client.groupId === 'string' && client.groupId !== '') {
      attributes[ATTR_MESSAGING_CONSUMER_GROUP_NAME] = client.groupId;
      info.groupId = client.groupId;
    }
    this.clients.set(client, info);
    return info;
  }

  private messageReceived(event: ReceiveEvent): void {
    if (!isObject(event?.result) || !isObject(event.stream)) return;
    this.received.set(event.result, event.stream);
    // Passed on to the message: the lag is recorded when it reaches the app, not when it is buffered.
    if (!this.policy.metrics.enabled || !isObject(event.raw)) return;
    const highWatermark = this.watermarks.get(event.raw);
    if (highWatermark !== undefined) this.watermarks.set(event.result, highWatermark);
  }

  /** Remembers each fetched record's partition high watermark, for the lag when that record is delivered. */
  private fetched(event: FetchEvent): void {
    if (!this.policy.metrics.enabled || !isObject(event?.result) || !Array.isArray(event.result.responses)) return;
    try {
      for (const topic of event.result.responses as unknown[]) {
        if (!isObject(topic) || !Array.isArray(topic.partitions)) continue;
        for (const partition of topic.partitions as unknown[]) {
          if (!isObject(partition) || !Array.isArray(partition.records)) continue;
          for (const batch of partition.records as unknown[]) {
            if (!isObject(batch) || !Array.isArray(batch.records)) continue;
            for (const record of batch.records as unknown[]) if (isObject(record)) this.watermarks.set(record, partition.highWatermark);
          }
        }
      }
    } catch (error) {
      this._diag.debug('could not read the high watermarks of a fetch; no consumer lag for it', error);
    }
  }

  // --- producer ----------------------------------------------------------------------------

  private instrumentProducer(producer: LooseObject): void {
    if (typeof producer.send !== 'function' || isWrapped(producer.send)) return;
    const info = this.rememberClient(producer);
    const adapter = kafkaHeadersAdapterFor(headerEncoding(producer));
    this._wrap(producer, 'send', (original) => this.wrapSend(original as AnyFunction, info, adapter));
  }

  /** One `send {topic}` span per topic of the call; each message goes as a copy carrying its topic's context. */
  private wrapSend(original: AnyFunction, info: ClientInfo, adapter: CarrierAdapter<unknown>): AnyFunction {
    return forwarding((thisArg, args) => {
      const options = args[0];
      // A malformed call is left to the library to reject, exactly as without this.
      if (!this.isEnabled() || !isObject(options) || !Array.isArray(options.messages)) return original.apply(thisArg, args);
      const scopes = new Map<string, MessagingScope>();
      let call: LooseObject;
      try {
        const byTopic = new Map<string, unknown[]>();
        for (const message of options.messages as unknown[]) {
          if (!isObject(message) || typeof message.topic !== 'string') continue;
          const list = byTopic.get(message.topic);
          if (list === undefined) byTopic.set(message.topic, [message]);
          else list.push(message);
        }
        for (const [topic, messages] of byTopic) {
          scopes.set(
            topic,
            this.policy.startSend({
              destination: topic,
              messageCount: messages.length,
              attributes: info.attributes,
              message: { kind: 'send', topic, messages: messages as never[] },
            }),
          );
        }
        const messages = (options.messages as unknown[]).map((message) =>
          isObject(message) && typeof message.topic === 'string' ? this.withContext(message, scopes.get(message.topic)!, adapter) : message,
        );
        call = cloneWith(options, { messages });
      } catch (error) {
        this._diag.debug('could not prepare a send; sending it unchanged', error);
        for (const scope of scopes.values()) scope.end();
        return original.apply(thisArg, args);
      }
      const all = [...scopes.values()];
      const runIn = all.length === 1 ? all[0] : undefined;
      const callback = args[1];
      if (typeof callback === 'function') {
        const settled = settlingCallback(callback, (outcome) => {
          for (const scope of all) endScope(scope, outcome);
        });
        const invoke = () => original.apply(thisArg, [call, settled, ...args.slice(2)]);
        return runIn === undefined ? invoke() : runIn.run(invoke);
      }
      return runAndEnd(all, () => original.apply(thisArg, [call, ...args.slice(1)]), { runIn: runIn ?? null });
    });
  }

  /** A copy of the message whose headers (a copy too) carry the scope's context; the caller's own object when none is added. */
  private withContext(message: LooseObject, scope: MessagingScope, adapter: CarrierAdapter<unknown>): LooseObject {
    const headers = message.headers;
    let copy: unknown;
    if (headers === undefined || headers === null) copy = new Map();
    else if (headers instanceof Map) copy = new Map(headers);
    else if (isObject(headers) && !ArrayBuffer.isView(headers)) copy = copyForInjection(headers);
    else {
      this._diag.debug('message headers are neither a Map nor an object; message left as it is');
      return message;
    }
    if (scope.inject(copy, adapter) !== 'injected') return message;
    return cloneWith(message, { headers: copy });
  }

  // --- consumer ----------------------------------------------------------------------------

  private instrumentStream(stream: LooseObject): void {
    const consumer = stream.consumer;
    const info = isObject(consumer) ? this.rememberClient(consumer) : { attributes: {} };
    const start = (message: unknown) => this.startMessage(stream, message, info);
    const startPulled = (message: unknown) => this.startMessage(stream, message, info, false);
    const delivered = (message: unknown) => this.meterPulled(stream, message, info);
    if (typeof stream.emit === 'function' && !isWrapped(stream.emit)) {
      this._wrap(stream, 'emit', (original) => this.wrapEmit(original as AnyFunction, start));
    }
    const iterate = stream[Symbol.asyncIterator];
    if (typeof iterate === 'function' && !isWrapped(iterate)) {
      this._wrap(stream, Symbol.asyncIterator as never, (original: unknown) =>
        forwarding((thisArg, args) => {
          const iterator = (original as AnyFunction).apply(thisArg, args);
          if (!this.isEnabled()) return iterator;
          const metered = this.policy.metrics.enabled ? delivered : undefined;
          // Not followed: no context, but the loop's messages are still metered.
          if (this.getConfig().followPulls === false) return metered === undefined ? iterator : followIterator(iterator, stream, undefined, metered);
          return followIterator(iterator, stream, startPulled, metered);
        }),
      );
    }
  }

  /** `emit('data', message)`: the listeners run in the message's `process {topic}` scope, which ends when they return. */
  private wrapEmit(original: AnyFunction, start: (message: unknown) => MessagingScope | undefined): AnyFunction {
    return forwarding((thisArg, args) => {
      // read() emits 'data' too (the async iterator reads that way): only listeners get a span.
      if (args[0] !== 'data' || !this.isEnabled() || !hasDataListeners(thisArg)) return original.apply(thisArg, args);
      const scope = start(args[1]);
      if (scope === undefined) return original.apply(thisArg, args);
      return runAndEnd(scope, () => original.apply(thisArg, args));
    });
  }

  /**
   * The context headers of a received Map, indexed in one pass (names lower-cased, the first of
   * a repeated name kept, with a diag line), so the propagator's lookups do not decode every
   * header name again. Other carriers, and propagators whose fields are prefixes (Jaeger's
   * `uberctx-*`), are read as they are.
   */
  private contextCarrier(topic: string, headers: unknown): unknown {
    if (!(headers instanceof Map)) return headers;
    const wanted = this.wantedFields();
    if (wanted === undefined) return headers;
    const index: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [key, value] of headers) {
      const length = typeof key === 'string' || Buffer.isBuffer(key) ? key.length : -1;
      // Only names as long as a propagation field are decoded at all.
      if (!wanted.lengths.has(length)) continue;
      const name = (typeof key === 'string' ? key : (key as Buffer).toString()).toLowerCase();
      if (!wanted.names.has(name)) continue;
      if (name in index) this._diag.debug(`a message on ${topic} carries "${name}" more than once; the first one is read`);
      else index[name] = value;
    }
    return index;
  }

  private wantedFields(): { names: Set<string>; lengths: Set<number> } | undefined {
    // The propagator is set before any message arrives: its fields are read once.
    if (this.fields === undefined) {
      const names = new Set(propagationFields().map((field) => field.toLowerCase()));
      this.fields = names.has('uber-trace-id') ? null : { names, lengths: new Set([...names].map((name) => Buffer.byteLength(name))) };
    }
    return this.fields ?? undefined;
  }

  /** The `process {topic}` scope of one message the library pushed into `stream`; undefined for anything else. */
  private startMessage(stream: object, message: unknown, info: ClientInfo, metered = true): MessagingScope | undefined {
    try {
      if (!isObject(message) || this.received.get(message) !== stream) return undefined;
      const topic = String(message.topic);
      const partition = message.partition as number;
      const config = this.getConfig();
      let attributes: Attributes | undefined;
      // Attributes only matter when there is a span to carry them.
      if (config.mode !== 'propagation-only') {
        attributes = Object.assign({}, info.attributes);
        if (typeof partition === 'number') attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID] = String(partition);
        kafkaRecordAttributes(message, config.captureMessageKey === true, attributes);
      }
      const carrier = this.contextCarrier(topic, message.headers);
      const received: PlatformaticKafkaReceivedMessage = { kind: 'message', topic, partition, message: message as never };
      const metrics = this.policy.metrics;
      if (metered && metrics.enabled) metrics.lag(topic, info.groupId, partition, this.watermarks.get(message), message.offset);
      return this.policy.startProcess({
        destination: topic,
        carrier,
        getter: READ_ADAPTER,
        attributes,
        message: received,
        // The record timestamp (a bigint): CreateTime set by the producer client, or LogAppendTime.
        metrics: metered ? { consumerGroup: info.groupId, brokerTime: message.timestamp } : undefined,
      });
    } catch (error) {
      this._diag.debug('could not start a process span; the message is delivered without it', error);
      return undefined;
    }
  }

  /**
   * The metrics of a message a `for await` loop gets, recorded then (its scope is made only if
   * the loop body reads the context); returns what records its processing time when the loop
   * asks for the next message or ends.
   */
  private meterPulled(stream: object, message: unknown, info: ClientInfo): (() => void) | undefined {
    const metrics = this.policy.metrics;
    try {
      if (!metrics.enabled || !isObject(message) || this.received.get(message) !== stream) return undefined;
      const topic = String(message.topic);
      const group = info.groupId;
      metrics.lag(topic, group, message.partition as number, this.watermarks.get(message), message.offset);
      const pipeline = this.getConfig().pipelineLatency !== false;
      const carrier = pipeline ? this.contextCarrier(topic, message.headers) : undefined;
      const context = carrier ? propagation.extract(ROOT_CONTEXT, carrier, READ_ADAPTER) : undefined;
      const traceStateHeader = carrier ? readTraceStateHeader(carrier, READ_ADAPTER) : undefined;
      metrics.received(topic, { consumerGroup: group, sentAt: message.timestamp, source: 'broker', context, traceStateHeader }, pipeline);
      const startedAt = metrics.start();
      return () => metrics.processed(topic, startedAt, undefined, group);
    } catch (error) {
      this._diag.debug('could not record the metrics of a pulled message', error);
      return undefined;
    }
  }
}

function hasDataListeners(stream: unknown): boolean {
  const count = (stream as { listenerCount?: (event: string) => number } | null)?.listenerCount;
  return typeof count !== 'function' || count.call(stream, 'data') > 0;
}

/**
 * How the producer's serializers want header names and values: bytes with the library's default
 * (no serializer passes them through as they are), text with a serializer of the user's, which
 * the library's own `stringSerializers` and `jsonSerializer` both take.
 */
function headerEncoding(producer: LooseObject): KafkaHeaderEncoding {
  const options = symbolField(producer, 'plt.kafka.base.options');
  let serializers = isObject(options) ? options.serializers : undefined;
  const registry = isObject(options) ? options.registry : undefined;
  // With a schema registry the producer took its serializers from it, as this does.
  if (isObject(registry) && typeof registry.getSerializers === 'function') {
    try {
      serializers = (registry.getSerializers as () => unknown)();
    } catch {
      serializers = undefined;
    }
  }
  const custom = (name: string) => isObject(serializers) && typeof serializers[name] === 'function';
  return { keys: custom('headerKey') ? 'string' : 'buffer', values: custom('headerValue') ? 'string' : 'buffer' };
}
