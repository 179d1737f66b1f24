import { join } from 'node:path';
import { context, type Attributes } from '@opentelemetry/api';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
  isWrapped,
} from '@opentelemetry/instrumentation';
import { ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import {
  ATTR_MESSAGING_MESSAGE_CONVERSATION_ID,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY,
  ATTR_MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG,
  MESSAGING_SYSTEM_VALUE_RABBITMQ,
} from '@threadline/carrier';
import {
  amqpHeadersAdapter,
  copyForInjection,
  endScope,
  errorType,
  envPositiveInteger,
  envPositiveNumber,
  isThenable,
  MESSAGING_ENV_OPTIONS,
  MessagingSpanPolicy,
  metricDestinationName,
  packageInfo,
  recordSpanError,
  resolveEnvOptions,
  runSettled,
  runTimed,
  settlingCallback,
  type EnvOptionTable,
  type FollowedContext,
  type MessagingScope,
} from '@threadline/carrier';
import type {
  AmqpChannel,
  AmqpConnection,
  AnyFunction,
  ChannelModelModule,
  ChannelPrototype,
  ConnectModule,
  ServerAddress,
} from './internal-types';
import type { AmqplibInstrumentationConfig, AmqplibMessage } from './types';
import { consumerDestination, DEFAULT_EXCHANGE, isObject, positiveNumber, producerDestination, serverFromUrl } from './destination';
import { HEADER_TABLE_BUDGET, tableBytesUpperBound } from './header-size';
import { beginGet, followFetched, settledFetched } from './pull';
import { DEFAULT_MAX_UNSETTLED_SPANS, DEFAULT_UNSETTLED_TIMEOUT_MS, endSettled, UnsettledSpans } from './unsettled';

const { name: PACKAGE_NAME, version: PACKAGE_VERSION } = packageInfo(join(__dirname, '..'), '@threadline/amqplib');

/** Every amqplib release from 0.10.0 up to the last 2.x. */
export const SUPPORTED_VERSIONS: string[] = ['>=0.10.0 <3'];

const CHANNEL_METHODS: (keyof ChannelPrototype)[] = ['publish', 'consume', 'get', 'ack', 'nack', 'reject', 'ackAll', 'nackAll'];

/** The options `THREADLINE_AMQPLIB_*` variables set (for apps started with `@threadline/register`); the config wins. */
export const AMQPLIB_ENV_OPTIONS: EnvOptionTable<AmqplibInstrumentationConfig> = {
  ...MESSAGING_ENV_OPTIONS,
  maxUnsettledSpans: { env: 'THREADLINE_AMQPLIB_MAX_UNSETTLED_SPANS', parse: envPositiveInteger },
  unsettledTimeoutMs: { env: 'THREADLINE_AMQPLIB_UNSETTLED_TIMEOUT_MS', parse: envPositiveNumber },
};

/**
 * Keeps one trace across RabbitMQ for amqplib: publish and sendToQueue (Channel and
 * ConfirmChannel, promise and callback APIs) inject the context into a copy of the message
 * headers; consume and get extract it.
 */
export class AmqplibInstrumentation extends InstrumentationBase<AmqplibInstrumentationConfig> {
  private readonly policy = new MessagingSpanPolicy<AmqplibMessage>({
    system: MESSAGING_SYSTEM_VALUE_RABBITMQ,
    getTracer: () => this.tracer,
    getConfig: () => this.getConfig(),
    getMeter: () => this.meter,
  });

  private readonly unsettled = new UnsettledSpans(() => this.unsettledLimits(), this._diag);

  /** Servers of the connections opened while instrumented. */
  private readonly servers = new WeakMap<object, ServerAddress>();

  /** Channels inside a ConfirmChannel publish: the plain publish it calls adds no second span. */
  private readonly inConfirmPublish = new WeakSet<object>();

  constructor(config: AmqplibInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  /** Also called by the constructor: options left undefined come from the environment. */
  override setConfig(config: AmqplibInstrumentationConfig = {}): void {
    super.setConfig(resolveEnvOptions(AMQPLIB_ENV_OPTIONS, config));
  }

  override disable(): void {
    super.disable();
    this.unsettled?.clear();
  }

  protected init() {
    const file = <T>(name: string, patch: (exports: T) => T, unpatch: (exports: T) => void) =>
      new InstrumentationNodeModuleFile(`amqplib/lib/${name}`, SUPPORTED_VERSIONS, patch, unpatch);
    return [
      new InstrumentationNodeModuleDefinition('amqplib', SUPPORTED_VERSIONS, undefined, undefined, [
        file<ConnectModule>('connect.js', (exports) => this.patchConnect(exports), (exports) => this.unpatchConnect(exports)),
        file<ChannelModelModule>('channel_model.js', (exports) => this.patchModel(exports, 'promise'), (exports) => this.unpatchModel(exports)),
        file<ChannelModelModule>('callback_model.js', (exports) => this.patchModel(exports, 'callback'), (exports) => this.unpatchModel(exports)),
      ]),
    ];
  }

  private unsettledLimits(): { max: number; timeoutMs: number } {
    const config = this.getConfig();
    return {
      max: Math.floor(positiveNumber(config.maxUnsettledSpans) ?? DEFAULT_MAX_UNSETTLED_SPANS),
      timeoutMs: positiveNumber(config.unsettledTimeoutMs) ?? DEFAULT_UNSETTLED_TIMEOUT_MS,
    };
  }

  // ---- patching ----------------------------------------------------------------------------

  private patchConnect(exports: ConnectModule): ConnectModule {
    if (typeof exports?.connect !== 'function') {
      this._diag.debug('amqplib lib/connect.js has no connect(); server.address will come from the socket');
      return exports;
    }
    if (isWrapped(exports.connect)) this._unwrap(exports, 'connect');
    this._wrap(exports, 'connect', (original) => this.wrapConnect(original as AnyFunction));
    return exports;
  }

  private unpatchConnect(exports: ConnectModule): void {
    if (exports && isWrapped(exports.connect)) this._unwrap(exports, 'connect');
  }

  private patchModel(exports: ChannelModelModule, api: 'promise' | 'callback'): ChannelModelModule {
    const channel = exports?.Channel?.prototype;
    if (channel === undefined || CHANNEL_METHODS.some((name) => typeof channel[name] !== 'function')) {
      this._diag.warn(`amqplib ${api} API does not have the expected Channel methods; it is not instrumented`);
      return exports;
    }
    this.unpatchModel(exports);
    this._wrap(channel, 'publish', (original) => this.wrapPublish(original, false));
    this._wrap(channel, 'consume', (original) => this.wrapConsume(original));
    this._wrap(channel, 'get', (original) => (api === 'promise' ? this.wrapPromiseGet(original) : this.wrapCallbackGet(original)));
    this._wrap(channel, 'ack', (original) => this.wrapSettle(original, 'ack'));
    this._wrap(channel, 'nack', (original) => this.wrapSettle(original, 'nack'));
    this._wrap(channel, 'reject', (original) => this.wrapSettle(original, 'reject'));
    this._wrap(channel, 'ackAll', (original) => this.wrapSettleAll(original, 'ack'));
    this._wrap(channel, 'nackAll', (original) => this.wrapSettleAll(original, 'nack'));
    const confirm = exports.ConfirmChannel?.prototype;
    if (confirm !== undefined && Object.prototype.hasOwnProperty.call(confirm, 'publish') && typeof confirm.publish === 'function') {
      this._wrap(confirm, 'publish', (original) => this.wrapPublish(original, true));
    } else {
      this._diag.warn(`amqplib ${api} API has no ConfirmChannel.publish; confirm channels get no spans`);
    }
    return exports;
  }

  private unpatchModel(exports: ChannelModelModule): void {
    const channel = exports?.Channel?.prototype;
    if (channel !== undefined) {
      for (const name of CHANNEL_METHODS) if (isWrapped(channel[name])) this._unwrap(channel, name);
    }
    const confirm = exports?.ConfirmChannel?.prototype;
    if (confirm !== undefined && Object.prototype.hasOwnProperty.call(confirm, 'publish') && isWrapped(confirm.publish)) {
      this._unwrap(confirm, 'publish');
    }
  }

  // ---- connection --------------------------------------------------------------------------

  private wrapConnect(original: AnyFunction): AnyFunction {
    const servers = this.servers;
    return function connect(this: unknown, ...args: unknown[]) {
      const [url, , openCallback] = args;
      if (typeof openCallback !== 'function') return original.apply(this, args);
      const server = serverFromUrl(url);
      args[2] = function opened(this: unknown, ...results: unknown[]) {
        const [error, connection] = results;
        if (error == null && isObject(connection)) servers.set(connection, server);
        return openCallback.apply(this, results);
      };
      return original.apply(this, args);
    };
  }

  private serverOf(channel: AmqpChannel): ServerAddress {
    try {
      const connection: AmqpConnection | undefined = channel?.connection;
      if (typeof connection !== 'object' || connection === null) return {};
      const known = this.servers.get(connection);
      if (known !== undefined) return known;
      // Connected before the instrumentation was enabled: the socket's peer is the next best.
      const stream = connection.stream;
      return { address: stream?.remoteAddress, port: stream?.remotePort };
    } catch {
      return {};
    }
  }

  private serverAttributes(channel: AmqpChannel, attributes: Attributes): Attributes {
    const { address, port } = this.serverOf(channel);
    if (typeof address === 'string' && address !== '') attributes[ATTR_SERVER_ADDRESS] = address;
    if (typeof port === 'number') attributes[ATTR_SERVER_PORT] = port;
    return attributes;
  }

  // ---- publish -----------------------------------------------------------------------------

  private wrapPublish(original: AnyFunction, confirm: boolean): AnyFunction {
    const inConfirmPublish = this.inConfirmPublish;
    const traced = (channel: AmqpChannel, args: unknown[]) => this.tracedPublish(channel, original, args, confirm);
    return function publish(this: unknown, ...args: unknown[]) {
      const channel = this as AmqpChannel;
      if (!confirm && inConfirmPublish.has(channel)) return original.apply(this, args);
      return traced(channel, args);
    };
  }

  private tracedPublish(channel: AmqpChannel, original: AnyFunction, args: unknown[], confirm: boolean): unknown {
    const [exchange, routingKey, content, options, callback] = args;
    const publishArgs = args.slice();
    let scope: MessagingScope | undefined;
    let endsOnConfirm = false;
    try {
      const properties = isObject(options) ? options : {};
      scope = this.policy.startSend({
        destination: typeof exchange === 'string' && exchange !== '' ? exchange : DEFAULT_EXCHANGE,
        destinationName: producerDestination(exchange, routingKey),
        metricDestination: publishMetricDestination(exchange, routingKey),
        attributes: this.publishAttributes(channel, routingKey, properties),
        message: { content: content as Buffer, fields: { exchange: exchange as string, routingKey: routingKey as string }, properties },
      });
      const withContext = this.optionsWithContext(scope, options);
      if (withContext !== undefined) publishArgs[3] = withContext;
      if (confirm && (callback === undefined || callback === null || typeof callback === 'function')) {
        publishArgs[4] = this.confirmCallback(scope, callback as AnyFunction | undefined | null);
        endsOnConfirm = true;
      }
    } catch (error) {
      this._diag.debug('could not prepare the publish span; the message is sent as it was', error);
      scope?.end();
      return original.apply(channel, args);
    }
    const sending = scope;
    if (confirm) this.inConfirmPublish.add(channel);
    try {
      // With a confirm callback, the span ends when the broker confirms (unless publish throws).
      return runSettled(
        () => sending.run(() => original.apply(channel, publishArgs)),
        (outcome) => {
          if (outcome.failed || !endsOnConfirm) endScope(sending, outcome);
        },
      );
    } finally {
      if (confirm) this.inConfirmPublish.delete(channel);
    }
  }

  private publishAttributes(channel: AmqpChannel, routingKey: unknown, options: Record<string, unknown>): Attributes {
    const attributes: Attributes = {};
    if (typeof routingKey === 'string' && routingKey !== '') attributes[ATTR_MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY] = routingKey;
    this.messageAttributes(options, attributes);
    return this.serverAttributes(channel, attributes);
  }

  private messageAttributes(properties: Record<string, unknown> | undefined, attributes: Attributes): void {
    if (!isObject(properties)) return;
    const { messageId, correlationId } = properties;
    if (typeof messageId === 'string' && messageId !== '') attributes[ATTR_MESSAGING_MESSAGE_ID] = messageId;
    if (typeof correlationId === 'string' && correlationId !== '') attributes[ATTR_MESSAGING_MESSAGE_CONVERSATION_ID] = correlationId;
  }

  /**
   * The options to publish with: the caller's options seen through a new object whose own
   * `headers` is a copy holding the context. Undefined when nothing was injected (the caller's
   * options are then used unchanged).
   */
  private optionsWithContext(scope: MessagingScope, options: unknown): object | undefined {
    if (options !== undefined && options !== null && typeof options !== 'object') {
      this._diag.debug('publish options are not an object; message sent without context');
      return undefined;
    }
    const userHeaders = (options as { headers?: unknown } | null | undefined)?.headers;
    if (userHeaders !== undefined && userHeaders !== null && Object.prototype.toString.call(userHeaders) !== '[object Object]') {
      this._diag.debug('options.headers is not a plain object; message sent without context');
      return undefined;
    }
    // for-in keys, like amqplib's encoder: the copy encodes exactly as the caller's headers would.
    const headers = copyForInjection(userHeaders as object | null | undefined, true);
    // RabbitMQ stamps no send time: threadline-sent-at carries it (only while metrics are recorded).
    if (scope.inject(headers, amqpHeadersAdapter, { sentAt: true }) !== 'injected') return undefined;
    if (tableBytesUpperBound(headers, 0) > HEADER_TABLE_BUDGET) {
      // amqplib encodes headers into a fixed 64 KiB buffer and throws past it: a message whose
      // headers might only fit without the context goes exactly as given.
      this._diag.warn('message headers are close to amqplib\'s 64 KiB limit; the message is sent without context');
      return undefined;
    }
    // A plain copy: amqplib reads a dozen options per publish, and a copy whose prototype is the
    // caller's object made each of those reads a slow lookup (see docs/BENCHMARKS.md).
    return { ...(options as object | null | undefined), headers };
  }

  private confirmCallback(scope: MessagingScope, userCallback: AnyFunction | undefined | null): AnyFunction {
    // The user's callback runs in the context publish was called in, not the (ended) send span.
    const callerContext = context.active();
    const inCallerContext =
      typeof userCallback === 'function'
        ? function (this: unknown, ...results: unknown[]) {
            return context.with(callerContext, () => userCallback.apply(this, results));
          }
        : undefined;
    return settlingCallback(inCallerContext, (outcome) => endScope(scope, outcome));
  }

  // ---- consume and get ---------------------------------------------------------------------

  private wrapConsume(original: AnyFunction): AnyFunction {
    const traced = (channel: AmqpChannel, queue: unknown, handler: AnyFunction, options: unknown) =>
      this.tracedHandler(channel, queue, handler, noAck(options));
    return function consume(this: unknown, ...args: unknown[]) {
      const channel = this as AmqpChannel;
      const [queue, handler, options] = args;
      if (typeof handler !== 'function') return original.apply(this, args);
      args[1] = traced(channel, queue, handler as AnyFunction, options);
      return original.apply(this, args);
    };
  }

  /** The consumer callback amqplib calls: each message runs in its own CONSUMER span. */
  private tracedHandler(channel: AmqpChannel, queue: unknown, handler: AnyFunction, autoAck: boolean): AnyFunction {
    const start = (message: AmqplibMessage) => this.startProcess(channel, queue, message, autoAck);
    const run = (scope: MessagingScope, fn: () => unknown) => this.runHandler(scope, autoAck, fn, queue);
    return function tracedConsumer(this: unknown, ...args: unknown[]) {
      const [message] = args;
      // null is amqplib's "consumer cancelled by the broker".
      if (!isObject(message)) return handler.apply(this, args);
      const scope = start(message as unknown as AmqplibMessage);
      if (scope === undefined) return handler.apply(this, args);
      return run(scope, () => handler.apply(this, args));
    };
  }

  /** Starts the CONSUMER span of one delivered or fetched message and tracks it until settled. */
  private startProcess(channel: AmqpChannel, queue: unknown, message: AmqplibMessage, autoAck: boolean): MessagingScope | undefined {
    try {
      const fields = isObject(message.fields) ? message.fields : undefined;
      const properties = isObject(message.properties) ? message.properties : undefined;
      const queueName = typeof queue === 'string' && queue !== '' ? queue : DEFAULT_EXCHANGE;
      const attributes: Attributes = {};
      if (typeof fields?.routingKey === 'string' && fields.routingKey !== '') {
        attributes[ATTR_MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY] = fields.routingKey;
      }
      if (typeof fields?.deliveryTag === 'number') attributes[ATTR_MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG] = fields.deliveryTag;
      this.messageAttributes(properties, attributes);
      const scope = this.policy.startProcess({
        destination: queueName,
        destinationName: consumerDestination(fields?.exchange, fields?.routingKey, queue),
        carrier: properties?.headers,
        getter: amqpHeadersAdapter,
        attributes: this.serverAttributes(channel, attributes),
        message,
        metrics: {
          destination: metricDestinationName(queueName),
          carriedTime: true,
          // The publisher's `timestamp` property (seconds), when the message carries no threadline-sent-at.
          brokerTime: typeof properties?.timestamp === 'number' ? properties.timestamp * 1000 : undefined,
          // The span waits for the ack; the handler is timed by runHandler.
          process: false,
        },
      });
      if (!autoAck && scope.span !== undefined) this.unsettled.track(channel, fields?.deliveryTag, scope);
      return scope;
    } catch (error) {
      this._diag.debug('could not start the consumer span; the message is handled without it', error);
      return undefined;
    }
  }

  /**
   * Runs a handler in its span. With noAck the span ends when the handler returns or its promise
   * settles; otherwise a failure is recorded and the span waits for ack, nack, reject or close.
   */
  private runHandler(scope: MessagingScope, autoAck: boolean, handler: () => unknown, queue: unknown): unknown {
    const metrics = this.policy.metrics;
    const run = () => scope.run(handler);
    // The span waits for the ack: the handler's own time is the processing duration. The outer
    // runSettled alone re-raises an unhandled rejection (observed: false), once.
    const timed = metrics.enabled ? () => runTimed(metrics, metricQueue(queue), run) : run;
    return runSettled(
      timed,
      (outcome) => {
        if (autoAck) endSettled(scope, 'no_ack', undefined, outcome.failed ? { error: outcome.error } : undefined);
        else if (outcome.failed && scope.span !== undefined && !scope.isEnded) recordSpanError(scope.span, outcome.error);
      },
      // amqplib drops what a consumer callback returns: a rejection nobody handles stays unhandled.
      { observed: false },
    );
  }

  private wrapPromiseGet(original: AnyFunction): AnyFunction {
    const fetched = (channel: AmqpChannel, queue: unknown, options: unknown, message: unknown, slot: FollowedContext | undefined) => {
      if (!isObject(message)) return;
      // No handler to wrap: the span covers the fetched message until it is settled.
      const autoAck = noAck(options);
      const scope = this.startProcess(channel, queue, message as unknown as AmqplibMessage, autoAck);
      if (scope !== undefined && followFetched(slot, scope, message, autoAck, () => endSettled(scope, 'no_ack'))) return;
      if (scope !== undefined && autoAck) endSettled(scope, 'no_ack');
    };
    const follows = () => this.isEnabled() && this.getConfig().followPulls !== false;
    const receiveTimer = () => this.receiveTimer();
    return function get(this: unknown, ...args: unknown[]) {
      const channel = this as AmqpChannel;
      const slot = follows() ? beginGet(channel) : undefined;
      const received = receiveTimer();
      const result = original.apply(this, args);
      if (!isThenable(result)) return result;
      return result.then(
        (message: unknown) => {
          received?.(args[0], undefined);
          fetched(channel, args[0], args[1], message, slot);
          return message;
        },
        (error: unknown) => {
          received?.(args[0], error);
          throw error;
        },
      );
    };
  }

  private wrapCallbackGet(original: AnyFunction): AnyFunction {
    const start = (channel: AmqpChannel, queue: unknown, message: AmqplibMessage, autoAck: boolean) =>
      this.startProcess(channel, queue, message, autoAck);
    const run = (scope: MessagingScope, autoAck: boolean, fn: () => unknown, queue: unknown) => this.runHandler(scope, autoAck, fn, queue);
    const receiveTimer = () => this.receiveTimer();
    return function get(this: unknown, ...args: unknown[]) {
      const channel = this as AmqpChannel;
      const [queue, options, callback] = args;
      if (typeof callback !== 'function') return original.apply(this, args);
      const autoAck = noAck(options);
      const startFor = (message: AmqplibMessage) => start(channel, queue, message, autoAck);
      const received = receiveTimer();
      args[2] = function gotten(this: unknown, ...results: unknown[]) {
        const [error, message] = results;
        received?.(queue, error);
        if (error != null || !isObject(message)) return callback.apply(this, results);
        const scope = startFor(message as unknown as AmqplibMessage);
        if (scope === undefined) return callback.apply(this, results);
        return run(scope, autoAck, () => callback.apply(this, results), queue);
      };
      return original.apply(this, args);
    };
  }

  /** Times one `get` round trip as `messaging.client.operation.duration` (receive); undefined while metrics are off. */
  private receiveTimer(): ((queue: unknown, error: unknown) => void) | undefined {
    const metrics = this.policy.metrics;
    if (!this.isEnabled() || !metrics.enabled) return undefined;
    const startedAt = metrics.start();
    return (queue, error) => metrics.operation(metricQueue(queue), 'receive', startedAt, error === undefined || error === null ? undefined : errorType(error));
  }

  // ---- settlement --------------------------------------------------------------------------

  private wrapSettle(original: AnyFunction, settlement: 'ack' | 'nack' | 'reject'): AnyFunction {
    const settled = (channel: AmqpChannel, [message, allUpToOrRequeue, requeue]: unknown[]) => {
      try {
        const deliveryTag = isObject(message) && isObject(message.fields) ? message.fields.deliveryTag : undefined;
        const allUpTo = settlement !== 'reject' && Boolean(allUpToOrRequeue);
        // amqplib requeues by default: only an explicit false drops the message.
        const requeued = (settlement === 'reject' ? allUpToOrRequeue : requeue) !== false;
        const detail = settlement === 'ack' ? undefined : `${settlement}${requeued ? ' (requeued)' : ''}`;
        this.unsettled.settle(channel, deliveryTag, allUpTo, settlement, detail);
      } catch (error) {
        this._diag.debug(`could not end the span of a settled message (${settlement})`, error);
      }
    };
    return function settle(this: unknown, ...args: unknown[]) {
      const channel = this as AmqpChannel;
      const result = original.apply(this, args);
      settledFetched(args[0]);
      settled(channel, args);
      return result;
    };
  }

  private wrapSettleAll(original: AnyFunction, settlement: 'ack' | 'nack'): AnyFunction {
    const settled = (channel: AmqpChannel, requeue: unknown) => {
      try {
        const detail = settlement === 'ack' ? undefined : `nack${requeue !== false ? ' (requeued)' : ''}`;
        this.unsettled.settleAll(channel, settlement, detail);
      } catch (error) {
        this._diag.debug(`could not end the spans of ${settlement}All`, error);
      }
    };
    return function settleAll(this: unknown, ...args: unknown[]) {
      const channel = this as AmqpChannel;
      const result = original.apply(this, args);
      settled(channel, args[0]);
      return result;
    };
  }
}

/** A queue's metric name: server-named `amq.gen-…` queues collapse. */
function metricQueue(queue: unknown): string {
  return metricDestinationName(typeof queue === 'string' && queue !== '' ? queue : DEFAULT_EXCHANGE);
}

/** The exchange, or for the default exchange the queue (routing key): routing keys are unbounded. */
function publishMetricDestination(exchange: unknown, routingKey: unknown): string {
  if (typeof exchange === 'string' && exchange !== '') return metricDestinationName(exchange);
  return metricQueue(routingKey);
}

function noAck(options: unknown): boolean {
  return isObject(options) && Boolean(options.noAck);
}
