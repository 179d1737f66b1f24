import { join } from 'node:path';
import { context, createContextKey, type Attributes } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition, isWrapped } from '@opentelemetry/instrumentation';
import { ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import {
  ATTR_AWS_SQS_QUEUE_URL,
  ATTR_MESSAGING_MESSAGE_ID,
  copyForInjection,
  envBoolean,
  envOneOf,
  errorType,
  MESSAGING_ENV_OPTIONS,
  MESSAGING_SYSTEM_VALUE_AWS_SQS,
  MessagingSpanPolicy,
  metricDestinationName,
  packageInfo,
  propagationFields,
  resolveEnvOptions,
  endScope,
  runAndEnd,
  runSettled,
  settlingCallback,
  sqsAttributesAdapter,
  SQS_MAX_MESSAGE_ATTRIBUTES,
  type EnvOptionTable,
  type MessagingMetrics,
  type Outcome,
  type MessagingScope,
} from '@threadline/carrier';
import type {
  AnyFunction,
  CallPlan,
  ClientSqsModule,
  LooseObject,
  QueueInfo,
  Receive,
  SqsClientLike,
  SqsConsumerLike,
  SqsConsumerModule,
  SqsOperation,
} from './internal-types';
import {
  isObject,
  isTemporaryQueue,
  messageCarrier,
  messageCarrierGetter,
  queueInfo,
  sentTimestampOf,
  takeSentTimestamps,
  unbracketed,
  withContextFields,
  withSentTimestamp,
} from './sqs-message';
import type { AttributeBudgetPolicy, SqsHookMessage, SqsInstrumentationConfig, SqsReceivedMessage } from './types';
import { beginReceive, followReceived, noteSettled } from './pull';

const { name: PACKAGE_NAME, version: PACKAGE_VERSION } = packageInfo(join(__dirname, '..'), '@threadline/sqs');

/**
 * The `@aws-sdk/client-sqs` versions patched: 3.447.0 is the first release that speaks the SQS
 * JSON protocol (3.446.0, which introduced it, was never published for client-sqs).
 */
export const SUPPORTED_VERSIONS: string[] = ['>=3.447.0 <4'];
/** The `sqs-consumer` versions patched: 7.0.0 is the first on SDK v3 with today's handler methods. */
export const SUPPORTED_SQS_CONSUMER_VERSIONS: string[] = ['>=7.0.0 <16'];

const COMMAND_CLASSES: ReadonlyMap<string, SqsOperation> = new Map([
  ['SendMessageCommand', 'SendMessage'],
  ['SendMessageBatchCommand', 'SendMessageBatch'],
  ['ReceiveMessageCommand', 'ReceiveMessage'],
]);

/** The commands that settle received messages: only timed (`messaging.client.operation.duration`), when metrics are on. */
const SETTLE_OPERATIONS: ReadonlyMap<string, string> = new Map([
  ['DeleteMessageCommand', 'delete'],
  ['DeleteMessageBatchCommand', 'delete'],
  ['ChangeMessageVisibilityCommand', 'change_visibility'],
  ['ChangeMessageVisibilityBatchCommand', 'change_visibility'],
]);

/** Set while sqs-consumer polls: it makes a `process` span per message itself, around the handler. */
const CONSUMER_RECEIVE = createContextKey('@threadline/sqs sqs-consumer receive');

/** Which instrumented command `command` is, by class name (several SDK copies may be loaded). */
function operationOf<T>(command: unknown, classes: ReadonlyMap<string, T> = COMMAND_CLASSES as unknown as ReadonlyMap<string, T>): T | undefined {
  if (typeof command !== 'object' || command === null) return undefined;
  try {
    let proto: unknown = Object.getPrototypeOf(command);
    // A few levels: our own per-call copies and user subclasses sit above the SDK class.
    for (let depth = 0; depth < 4 && isObject(proto); depth++) {
      const ctor = (proto as { constructor?: { name?: unknown } }).constructor;
      const operation = typeof ctor?.name === 'string' ? classes.get(ctor.name) : undefined;
      if (operation !== undefined) return operation;
      proto = Object.getPrototypeOf(proto);
    }
  } catch {
    // A proxy or a getter that throws: not a command we know.
  }
  return undefined;
}

/**
 * The command to send instead of the caller's: it inherits everything from the caller's command
 * (its middleware stack, its class) and only has its own `input`, so the caller's command and
 * input are never touched, frozen or not.
 */
function commandWithInput(command: object, input: LooseObject): object {
  return Object.create(command, { input: { value: input, writable: true, enumerable: true, configurable: true } });
}

/** A copy of an attribute map to inject into; undefined when the value is not a map (left alone). */
function copyAttributes(attributes: unknown): LooseObject | undefined {
  if (attributes === undefined || attributes === null) return {};
  return isObject(attributes) ? copyForInjection(attributes) : undefined;
}

/**
 * A batch send's messages: the entries SQS accepted, and the ones it refused counted under their
 * error code (an SQS error code, a bounded set); a failed call counts every entry as failed.
 */
function recordBatchSent(metrics: MessagingMetrics, queue: string, count: number, startedAt: number, outcome: Outcome): void {
  if (outcome.failed) {
    metrics.sent(queue, count, startedAt, errorType(outcome.error));
    return;
  }
  const output = outcome.value;
  const refused: unknown[] = isObject(output) && Array.isArray(output.Failed) ? output.Failed : [];
  const byCode = new Map<string, number>();
  for (const entry of refused) {
    const code = isObject(entry) && typeof entry.Code === 'string' && entry.Code !== '' && entry.Code.length <= 64 ? entry.Code : '_OTHER';
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
  }
  metrics.sent(queue, Math.max(0, count - refused.length), startedAt);
  // The call's duration is recorded once, with the accepted entries.
  for (const [code, refusedCount] of byCode) metrics.sent(queue, refusedCount, 0, code);
}

/** `server.*` of a resolved endpoint (`{ hostname, port, protocol }`). */
function endpointAttributes(endpoint: unknown): Attributes {
  if (!isObject(endpoint) || typeof endpoint.hostname !== 'string' || endpoint.hostname === '') return {};
  const attributes: Attributes = { [ATTR_SERVER_ADDRESS]: unbracketed(endpoint.hostname) };
  const port = Number(endpoint.port);
  if (endpoint.port !== undefined && Number.isInteger(port) && port > 0) attributes[ATTR_SERVER_PORT] = port;
  else if (endpoint.protocol === 'https:' || endpoint.protocol === 'http:') attributes[ATTR_SERVER_PORT] = endpoint.protocol === 'https:' ? 443 : 80;
  return attributes;
}

function queueAttributes(queue: QueueInfo): Attributes {
  const attributes: Attributes = {};
  if (queue.url !== undefined) attributes[ATTR_AWS_SQS_QUEUE_URL] = queue.url;
  if (queue.address !== undefined) attributes[ATTR_SERVER_ADDRESS] = queue.address;
  if (queue.port !== undefined) attributes[ATTR_SERVER_PORT] = queue.port;
  return attributes;
}

/** The options `THREADLINE_SQS_*` variables set (for apps started with `@threadline/register`); the config wins. */
export const SQS_ENV_OPTIONS: EnvOptionTable<SqsInstrumentationConfig> = {
  ...MESSAGING_ENV_OPTIONS,
  attributeBudgetPolicy: { env: 'THREADLINE_SQS_ATTRIBUTE_BUDGET', parse: envOneOf('all-or-none', 'traceparent-only') },
  snsEnvelope: { env: 'THREADLINE_SQS_SNS_ENVELOPE', parse: envBoolean },
};

/**
 * OpenTelemetry instrumentation for `@aws-sdk/client-sqs` v3 (and `sqs-consumer`): every sent
 * message carries the context of its `send {queue}` span in its message attributes, and received
 * messages continue (or link to) the producer's trace.
 */
export class SqsInstrumentation extends InstrumentationBase<SqsInstrumentationConfig> {
  private readonly policy: MessagingSpanPolicy<SqsHookMessage>;
  /** A client's custom endpoint, once resolved: the server its requests really go to. */
  private readonly endpoints = new WeakMap<object, Attributes | Promise<void>>();

  constructor(config: SqsInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
    this.policy = new MessagingSpanPolicy<SqsHookMessage>({
      system: MESSAGING_SYSTEM_VALUE_AWS_SQS,
      getTracer: () => this.tracer,
      getMeter: () => this.meter,
      getConfig: () => this.getConfig(),
    });
  }

  /** Also called by the constructor: options left undefined come from the environment. */
  override setConfig(config: SqsInstrumentationConfig = {}): void {
    super.setConfig(resolveEnvOptions(SQS_ENV_OPTIONS, config));
  }

  protected init() {
    return [
      new InstrumentationNodeModuleDefinition(
        '@aws-sdk/client-sqs',
        SUPPORTED_VERSIONS,
        (moduleExports: ClientSqsModule) => this.patchClientModule(moduleExports),
        (moduleExports: ClientSqsModule) => this.unpatchClientModule(moduleExports),
      ),
      new InstrumentationNodeModuleDefinition(
        'sqs-consumer',
        SUPPORTED_SQS_CONSUMER_VERSIONS,
        (moduleExports: SqsConsumerModule) => this.patchConsumerModule(moduleExports),
        (moduleExports: SqsConsumerModule) => this.unpatchConsumerModule(moduleExports),
      ),
    ];
  }

  private get budgetPolicy(): AttributeBudgetPolicy {
    return this.getConfig().attributeBudgetPolicy ?? 'all-or-none';
  }

  private get snsEnvelope(): boolean {
    return this.getConfig().snsEnvelope ?? false;
  }

  /** The metrics' `messaging.destination.name` of a queue: temporary queues collapse to one name. */
  private metricQueue(queue: QueueInfo): string {
    return metricDestinationName(queue.name, { temporary: isTemporaryQueue(queue.name, this.getConfig().temporaryQueuePattern) });
  }

  // --- module patching ---------------------------------------------------------------------

  private patchClientModule(moduleExports: ClientSqsModule): ClientSqsModule {
    // import-in-the-middle hands over the ESM namespace; the CJS exports sit on `default`.
    const client = moduleExports?.SQSClient ?? moduleExports?.default?.SQSClient;
    if (typeof client !== 'function' || !isObject(client.prototype) || typeof client.prototype.send !== 'function') {
      this._diag.warn('@aws-sdk/client-sqs exports no SQSClient with a send method; it is not instrumented');
      return moduleExports;
    }
    // `send` is inherited from the smithy Client; wrapping it on SQSClient.prototype leaves other AWS clients alone.
    if (!isWrapped(client.prototype.send)) {
      this._wrap(client.prototype, 'send', (original) => this.wrapSend(original as AnyFunction));
    }
    return moduleExports;
  }

  private unpatchClientModule(moduleExports: ClientSqsModule): void {
    const client = moduleExports?.SQSClient ?? moduleExports?.default?.SQSClient;
    if (typeof client === 'function' && isObject(client.prototype) && isWrapped(client.prototype.send)) {
      this._unwrap(client.prototype, 'send');
    }
  }

  private patchConsumerModule(moduleExports: SqsConsumerModule): SqsConsumerModule {
    const consumer = moduleExports?.Consumer ?? moduleExports?.default?.Consumer;
    if (typeof consumer !== 'function' || !isObject(consumer.prototype)) {
      this._diag.warn('sqs-consumer exports no Consumer class; its handlers are not instrumented');
      return moduleExports;
    }
    const proto = consumer.prototype;
    const wrappers: Record<string, (original: AnyFunction) => AnyFunction> = {
      receiveMessage: (original) => this.wrapConsumerReceive(original),
      executeHandler: (original) => this.wrapHandler(original),
      executeBatchHandler: (original) => this.wrapBatchHandler(original),
    };
    for (const [method, wrap] of Object.entries(wrappers)) {
      if (typeof proto[method] !== 'function') {
        this._diag.warn(`sqs-consumer's Consumer has no ${method}; its handlers may run outside the message's trace`);
      } else if (!isWrapped(proto[method])) {
        this._wrap(proto, method, (original) => wrap(original as AnyFunction));
      }
    }
    return moduleExports;
  }

  private unpatchConsumerModule(moduleExports: SqsConsumerModule): void {
    const consumer = moduleExports?.Consumer ?? moduleExports?.default?.Consumer;
    if (typeof consumer !== 'function' || !isObject(consumer.prototype)) return;
    for (const method of ['receiveMessage', 'executeHandler', 'executeBatchHandler']) {
      if (isWrapped(consumer.prototype[method])) this._unwrap(consumer.prototype, method);
    }
  }

  // --- SQSClient.send ----------------------------------------------------------------------

  private wrapSend(original: AnyFunction): AnyFunction {
    const runCommand = (operation: SqsOperation, client: unknown, args: unknown[]) => this.runCommand(operation, client, original, args);
    const runOther = (client: unknown, args: unknown[]) => this.runOther(client, original, args);
    return function send(this: unknown, ...args: unknown[]) {
      const operation = operationOf<SqsOperation>(args[0]);
      if (operation === undefined) return runOther(this, args);
      return runCommand(operation, this, args);
    };
  }

  /** Any other command goes as it is; one that settles received messages is timed when metrics are on. */
  private runOther(client: unknown, original: AnyFunction, args: unknown[]): unknown {
    noteSettled(args[0]);
    const metrics = this.policy.metrics;
    if (!metrics.enabled) return original.apply(client, args);
    const operation = operationOf(args[0], SETTLE_OPERATIONS);
    if (operation === undefined) return original.apply(client, args);
    const queue = this.metricQueue(queueInfo((args[0] as { input?: { QueueUrl?: unknown } }).input?.QueueUrl));
    const startedAt = metrics.start();
    const record = (outcome: Outcome) => metrics.operation(queue, operation, startedAt, outcome.failed ? errorType(outcome.error) : undefined);
    const callbackIndex = typeof args[1] === 'function' ? 1 : typeof args[2] === 'function' ? 2 : -1;
    if (callbackIndex === -1) return runSettled(() => original.apply(client, args), record);
    const callArgs = args.slice();
    callArgs[callbackIndex] = settlingCallback(args[callbackIndex], record);
    return original.apply(client, callArgs);
  }

  /** Sends a copy of the command with context added, through the original `send`, callbacks included. */
  private runCommand(operation: SqsOperation, client: unknown, original: AnyFunction, args: unknown[]): unknown {
    let plan: CallPlan | undefined;
    try {
      plan = operation === 'ReceiveMessage' ? this.planReceive(client, args[0]) : this.planSend(operation, client, args[0]);
    } catch (error) {
      this._diag.debug(`could not prepare ${operation}; sent as the caller built it`, error);
    }
    if (plan === undefined) return original.apply(client, args);
    const active = plan;
    const callArgs = [active.command, ...args.slice(1)];
    // send(command, callback) or send(command, options, callback).
    const callbackIndex = typeof callArgs[1] === 'function' ? 1 : typeof callArgs[2] === 'function' ? 2 : -1;
    const run = () => active.run(() => original.apply(client, callArgs));
    if (callbackIndex === -1) return runSettled(run, (outcome) => active.settle(outcome));
    // The callback settles the call; a throw before it is called does too.
    callArgs[callbackIndex] = settlingCallback(callArgs[callbackIndex], (outcome) => active.settle(outcome));
    try {
      return run();
    } catch (error) {
      active.settle({ failed: true, error });
      throw error;
    }
  }

  private planSend(operation: 'SendMessage' | 'SendMessageBatch', client: unknown, command: unknown): CallPlan | undefined {
    const input = (command as { input?: unknown }).input;
    if (!isObject(input)) {
      this._diag.debug(`${operation} input is not an object; sent without context`);
      return undefined;
    }
    const queue = queueInfo(input.QueueUrl);
    const copy: LooseObject = { ...input };
    // Every message of the call and the attribute map its context goes into.
    const messages: LooseObject[] = [];
    if (operation === 'SendMessage') {
      messages.push(copy);
    } else if (Array.isArray(input.Entries)) {
      copy.Entries = input.Entries.map((entry: unknown) => {
        if (!isObject(entry)) return entry;
        const entryCopy = { ...entry };
        messages.push(entryCopy);
        return entryCopy;
      });
    } else {
      this._diag.debug('SendMessageBatch Entries is not an array; sent without context');
    }
    const endpoint = this.customEndpoint(client);
    const metrics = this.policy.metrics;
    const metricQueue = metrics.enabled ? this.metricQueue(queue) : queue.name;
    const scope = this.policy.startSend({
      destination: queue.name,
      messageCount: operation === 'SendMessage' ? 1 : messages.length,
      attributes: { ...queueAttributes(queue), ...endpoint },
      message: copy,
      operationName: 'send',
      metricDestination: metricQueue,
    });
    // A batch that succeeds can still refuse some entries: those are counted with their error code.
    if (operation === 'SendMessageBatch' && scope.onEnd !== undefined) scope.onEnd = undefined;
    const batchStartedAt = operation === 'SendMessageBatch' ? metrics.start() : 0;
    let sent: object;
    try {
      for (const message of messages) this.injectInto(message, scope);
      sent = commandWithInput(command as object, copy);
    } catch (error) {
      scope.end();
      throw error;
    }
    return {
      command: sent,
      run: (fn) => scope.run(fn),
      settle: (outcome) => {
        try {
          if (scope.span !== undefined) {
            if (endpoint === undefined) scope.span.setAttributes(this.customEndpoint(client) ?? {});
            const output = outcome.failed ? undefined : outcome.value;
            if (operation === 'SendMessage' && isObject(output) && typeof output.MessageId === 'string') {
              scope.span.setAttribute(ATTR_MESSAGING_MESSAGE_ID, output.MessageId);
            }
          }
        } catch (attributeError) {
          this._diag.debug('could not record the send result', attributeError);
        }
        if (batchStartedAt > 0) recordBatchSent(metrics, metricQueue, messages.length, batchStartedAt, outcome);
        endScope(scope, outcome);
      },
    };
  }

  /** Adds the scope's context to a copy of one message's attributes, within SQS's budget. */
  private injectInto(message: LooseObject, scope: MessagingScope): void {
    const hadAttributes = Object.prototype.hasOwnProperty.call(message, 'MessageAttributes');
    const original = message.MessageAttributes;
    const attributes = copyAttributes(original);
    if (attributes === undefined) {
      this._diag.debug('MessageAttributes is not an object; message sent without context');
      return;
    }
    scope.inject(attributes, sqsAttributesAdapter, {
      maxEntries: SQS_MAX_MESSAGE_ATTRIBUTES,
      budgetPolicy: this.budgetPolicy,
    });
    // A message that had no attributes and got none keeps its original shape.
    if (hadAttributes || Object.keys(attributes).length > 0) message.MessageAttributes = attributes;
    else delete message.MessageAttributes;
  }

  private planReceive(client: unknown, command: unknown): CallPlan | undefined {
    const input = (command as { input?: unknown }).input;
    if (!isObject(input)) {
      this._diag.debug('ReceiveMessage input is not an object; received without context');
      return undefined;
    }
    const queue = queueInfo(input.QueueUrl);
    const names = withContextFields(input.MessageAttributeNames, propagationFields());
    if (names === undefined && input.MessageAttributeNames !== undefined && !Array.isArray(input.MessageAttributeNames)) {
      this._diag.debug('ReceiveMessage MessageAttributeNames is not an array; propagation fields not requested');
    }
    const byConsumer = context.active().getValue(CONSUMER_RECEIVE) === true;
    this.customEndpoint(client);
    const startTime = Date.now();
    const slot = byConsumer || this.getConfig().followPulls === false ? undefined : beginReceive(client);
    // With metrics on, SQS is also asked for each message's SentTimestamp (the queue time), and the
    // attribute is removed again from what the caller gets, unless the caller asked for it.
    const metrics = this.policy.metrics;
    const sentTimestamp = metrics.enabled ? withSentTimestamp(input) : undefined;
    const receive: Receive = { queue, metricQueue: metrics.enabled ? this.metricQueue(queue) : queue.name, byConsumer, startTime, startedAt: metrics.start(), stripSentTimestamp: sentTimestamp !== undefined };
    const changed = names !== undefined || sentTimestamp !== undefined;
    return {
      command: changed ? commandWithInput(command as object, { ...input, ...(names === undefined ? {} : { MessageAttributeNames: names }), ...sentTimestamp }) : command,
      run: (fn) => fn(),
      settle: (outcome) => {
        try {
          this.recordReceive(client, receive, outcome, slot);
        } catch (recordError) {
          this._diag.debug('could not record the receive', recordError);
        }
      },
    };
  }

  /**
   * One message: a `process` span (its parent the message's context). Several: one `receive`
   * span with a link per message, covering the call. Both are made when the response arrives: the
   * caller's own work happens after `send` returns (see withMessageContext).
   */
  private recordReceive(client: unknown, receive: Receive, outcome: Outcome, slot?: ReturnType<typeof beginReceive>): void {
    const { queue, byConsumer, startTime } = receive;
    const output = outcome.failed ? undefined : outcome.value;
    const received = isObject(output) && Array.isArray(output.Messages) ? output.Messages : [];
    const messages = received.filter(isObject) as SqsReceivedMessage[];
    // First, so that the caller never sees a SentTimestamp it did not ask for.
    const sentTimestamps = receive.startedAt > 0 ? takeSentTimestamps(messages, receive.stripSentTimestamp) : [];
    const metrics = this.policy.metrics;
    metrics.operation(receive.metricQueue, 'receive', receive.startedAt, outcome.failed ? errorType(outcome.error) : undefined);
    const attributes = { ...queueAttributes(queue), ...this.customEndpoint(client) };
    if (outcome.failed) {
      const scope = this.policy.startBatch({ destination: queue.name, operation: 'receive', carriers: [], getter: messageCarrierGetter, attributes, startTime });
      endScope(scope, outcome);
      return;
    }
    // Empty polls make no span; sqs-consumer makes the spans around its handlers instead (and counts there).
    if (messages.length === 0 || byConsumer) return;
    const snsEnvelope = this.snsEnvelope;
    // The receive's own duration is recorded above; its scope's end marks no processing.
    const metered = receive.startedAt > 0 ? { destination: receive.metricQueue, duration: false } : undefined;
    let scope: MessagingScope;
    if (messages.length === 1) {
      const [message] = messages;
      if (typeof message.MessageId === 'string') attributes[ATTR_MESSAGING_MESSAGE_ID] = message.MessageId;
      scope = this.policy.startProcess({
        destination: queue.name,
        carrier: messageCarrier(message, snsEnvelope),
        getter: messageCarrierGetter,
        message,
        attributes,
        metrics: metered === undefined ? undefined : { ...metered, brokerTime: sentTimestamps[0] },
      });
    } else {
      scope = this.policy.startBatch({
        destination: queue.name,
        operation: 'receive',
        carriers: messages.map((message) => messageCarrier(message, snsEnvelope)),
        getter: messageCarrierGetter,
        messages,
        message: messages,
        attributes,
        // A pull covers the whole call; one message's process span marks only its delivery.
        startTime,
        metrics: metered === undefined ? undefined : { ...metered, brokerTimes: sentTimestamps },
      });
    }
    if (slot !== undefined || (!byConsumer && this.getConfig().followPulls !== false)) {
      const single = messages.length === 1 ? scope : undefined;
      if (single === undefined) scope.end();
      followReceived(this.policy, slot, output, messages, single, single === undefined ? scope : undefined, queue.name, attributes, snsEnvelope, client);
      return;
    }
    scope.end();
  }

  /**
   * `server.*` of a client with a custom endpoint (a local SQS, a VPC endpoint), which is where
   * its requests go; without one, the queue URL's host is the server. Resolved once per client:
   * undefined until then (the first call starts it, and it is ready long before the response).
   */
  private customEndpoint(client: unknown): Attributes | undefined {
    if (!isObject(client)) return undefined;
    const known = this.endpoints.get(client);
    if (known !== undefined) return known instanceof Promise ? undefined : known;
    const config = (client as SqsClientLike).config;
    if (!isObject(config) || config.isCustomEndpoint === false || typeof config.endpoint !== 'function') {
      this.endpoints.set(client, {});
      return {};
    }
    const resolveEndpoint = config.endpoint as () => unknown;
    const pending = Promise.resolve()
      .then(() => resolveEndpoint())
      .then(
        (endpoint) => this.endpoints.set(client, endpointAttributes(endpoint)),
        () => this.endpoints.set(client, {}),
      )
      .then(() => undefined);
    this.endpoints.set(client, pending);
    return undefined;
  }

  // --- sqs-consumer ------------------------------------------------------------------------

  /** Marks sqs-consumer's own receive, so that it makes no spans of its own (the handlers get them). */
  private wrapConsumerReceive(original: AnyFunction): AnyFunction {
    return function receiveMessage(this: unknown, ...args: unknown[]) {
      return context.with(context.active().setValue(CONSUMER_RECEIVE, true), () => original.apply(this, args));
    };
  }

  /** `handleMessage` runs inside a `process {queue}` span whose parent is the message's context. */
  private wrapHandler(original: AnyFunction): AnyFunction {
    const startProcess = (consumer: SqsConsumerLike | undefined, message: unknown): MessagingScope | undefined => {
      try {
        const queue = queueInfo(consumer?.queueUrl);
        const attributes = { ...queueAttributes(queue), ...this.customEndpoint(consumer?.sqs) };
        if (isObject(message) && typeof message.MessageId === 'string') attributes[ATTR_MESSAGING_MESSAGE_ID] = message.MessageId;
        return this.policy.startProcess({
          destination: queue.name,
          carrier: messageCarrier(message, this.snsEnvelope),
          getter: messageCarrierGetter,
          message: message as SqsReceivedMessage,
          attributes,
          // Counted here rather than at sqs-consumer's receive, with the handler's duration.
          metrics: this.policy.metrics.enabled ? { destination: this.metricQueue(queue), brokerTime: sentTimestampOf(message) } : undefined,
        });
      } catch (error) {
        this._diag.debug('could not start the process span; the handler runs without it', error);
        return undefined;
      }
    };
    return function executeHandler(this: unknown, message: unknown, ...rest: unknown[]) {
      const scope = startProcess(this as SqsConsumerLike | undefined, message);
      if (scope === undefined) return original.call(this, message, ...rest);
      return runAndEnd(scope, () => original.call(this, message, ...rest));
    };
  }

  /** `handleMessageBatch` runs inside one `process {queue}` span with a link per message. */
  private wrapBatchHandler(original: AnyFunction): AnyFunction {
    const startBatch = (consumer: SqsConsumerLike | undefined, messages: unknown): MessagingScope | undefined => {
      try {
        const queue = queueInfo(consumer?.queueUrl);
        const list = (Array.isArray(messages) ? messages : []) as SqsReceivedMessage[];
        const snsEnvelope = this.snsEnvelope;
        return this.policy.startBatch({
          destination: queue.name,
          operation: 'process',
          carriers: list.map((message) => messageCarrier(message, snsEnvelope)),
          getter: messageCarrierGetter,
          messages: list,
          message: list,
          attributes: { ...queueAttributes(queue), ...this.customEndpoint(consumer?.sqs) },
          metrics: this.policy.metrics.enabled ? { destination: this.metricQueue(queue), brokerTimes: list.map(sentTimestampOf) } : undefined,
        });
      } catch (error) {
        this._diag.debug('could not start the batch process span; the handler runs without it', error);
        return undefined;
      }
    };
    return function executeBatchHandler(this: unknown, messages: unknown, ...rest: unknown[]) {
      const scope = startBatch(this as SqsConsumerLike | undefined, messages);
      if (scope === undefined) return original.call(this, messages, ...rest);
      return runAndEnd(scope, () => original.call(this, messages, ...rest));
    };
  }
}
