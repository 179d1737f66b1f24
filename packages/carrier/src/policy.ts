import {
  context,
  diag,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Meter,
  type Span,
  type TimeInput,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { safeExecuteInTheMiddle } from '@opentelemetry/instrumentation';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import {
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
} from './semconv';
import type { CarrierAdapter } from './adapters';
import { extractContextFrom, injectPrepared, PreparedContext, type InjectOptions, type InjectOutcome } from './propagation';
import { endScope, errorType, settleWhen, type SettleOptions } from './run';
import { disabledMetrics, MessagingMetrics, metricDestinationName, readSentAt, readTraceStateHeader, type TimeSource } from './metrics';
import type { IncomingContextPolicy, MessagingHookInfo, MessagingInstrumentationConfig } from './types';

const logger = diag.createComponentLogger({ namespace: '@threadline/carrier' });

/** Marks a span failed: status, `error.type` and the exception event. */
export function recordSpanError(span: Span, error: unknown): void {
  span.setAttribute(ATTR_ERROR_TYPE, errorType(error));
  if (error instanceof Error) {
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  } else {
    span.setStatus({ code: SpanStatusCode.ERROR, message: typeof error === 'string' ? error : undefined });
  }
}

/**
 * The attributes every messaging span has, then the transport's own. Built by assignment into a
 * fresh object: V8 adds keys to a spread copy on a slow path (about 0.6 µs per key on Node 20).
 */
function messagingAttributes(
  system: string,
  destination: string,
  destinationName: string | undefined,
  type: string,
  name: string,
  extra: Attributes | undefined,
): Attributes {
  const attributes: Attributes = {};
  attributes[ATTR_MESSAGING_SYSTEM] = system;
  attributes[ATTR_MESSAGING_DESTINATION_NAME] = destinationName ?? destination;
  attributes[ATTR_MESSAGING_OPERATION_TYPE] = type;
  attributes[ATTR_MESSAGING_OPERATION_NAME] = name;
  if (extra !== undefined) Object.assign(attributes, extra);
  return attributes;
}

/** One started operation: its span (none in propagation-only mode) and the context to run in. */
export class MessagingScope {
  private ended = false;
  private prepared: PreparedContext | undefined;
  /** Set by the policy when metrics are recorded: called once as the scope ends. */
  onEnd: ((failed: boolean, error: unknown) => void) | undefined;
  /** Set by the policy when metrics are recorded: inject the pipeline origin into tracestate and honour `sentAt`. */
  recordsMetrics: { pipelineOrigin: boolean } | undefined;

  constructor(
    /** The span, or undefined in propagation-only mode. */
    readonly span: Span | undefined,
    /** The context the operation's work (and the user's handler) runs in. */
    readonly context: Context,
  ) {}

  /**
   * Injects this scope's context into a carrier. Never throws. When metrics are recorded, the
   * tracestate carries the pipeline origin and `sentAt: true` adds `threadline-sent-at`;
   * otherwise the carrier gets exactly the context.
   */
  inject<C>(carrier: C, adapter: CarrierAdapter<C>, options?: InjectOptions): InjectOutcome {
    const metered = this.recordsMetrics;
    // Serialised once per scope: every message of a batch carries the same context.
    const now = metered !== undefined ? Date.now() : 0;
    this.prepared ??= new PreparedContext(this.context, metered?.pipelineOrigin ? now : undefined);
    return injectPrepared(this.prepared, carrier, adapter, options, metered !== undefined && options?.sentAt === true ? now : undefined);
  }

  /** Runs `fn` with this scope's context active. */
  run<R>(fn: () => R): R {
    return context.with(this.context, fn);
  }

  /**
   * Ends the span once; later calls do nothing. `failed` (by default: an error was given) marks
   * the span failed, so a throw of `undefined` can be recorded as the failure it is.
   */
  end(error?: unknown, failed: boolean = error !== undefined): void {
    if (this.ended) return;
    this.ended = true;
    if (this.onEnd !== undefined) {
      const onEnd = this.onEnd;
      safeExecuteInTheMiddle(() => onEnd(failed, error), (hookError) => hookError && logger.debug('recording metrics failed', hookError), true);
    }
    if (this.span === undefined) return;
    if (failed) recordSpanError(this.span, error);
    this.span.end();
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /**
   * Ends the span when `result` settles (a promise) or now (any other value), and returns
   * `result` itself: the caller gets its own promise back. See `runAndEnd` in run.ts.
   */
  endWith<R>(result: R, options?: SettleOptions): R {
    // Propagation-only without metrics: nothing to end later, so no side chain.
    if (this.span === undefined && this.onEnd === undefined) {
      this.ended = true;
      return result;
    }
    return settleWhen(result, (outcome) => endScope(this, outcome), options);
  }
}

export interface SendOptions<Message = unknown> {
  /** Topic, exchange, queue or collection; the span is named `send {destination}`. */
  destination: string;
  /**
   * `messaging.destination.name` when it is more precise than the span name's `destination`
   * (RabbitMQ: `{exchange}:{routing key}` under a span named after the exchange). @default destination
   */
  destinationName?: string;
  /** Messages in this call; `messaging.batch.message_count` is set when more than one. */
  messageCount?: number;
  /** Transport-specific attributes (semantic conventions). */
  attributes?: Attributes;
  /** The library's object, handed to `publishHook`. */
  message?: Message;
  /** `messaging.operation.name` when the library's name differs from `send`. */
  operationName?: string;
  /** The metrics' `messaging.destination.name`. @default metricDestinationName(destinationName ?? destination) */
  metricDestination?: string;
}

/** What a consumer scope records as metrics (when a MeterProvider is set). */
export interface ConsumeMetricsOptions {
  /** `messaging.consumer.group.name`. */
  consumerGroup?: string;
  /** The metrics' `messaging.destination.name`. @default metricDestinationName(destinationName ?? destination) */
  destination?: string;
  /** The broker's send time of the message (epoch ms, raw; validated), for the queue time. */
  brokerTime?: unknown;
  /** Look for `threadline-sent-at` in the carrier first (transports whose broker has no timestamp). @default false */
  carriedTime?: boolean;
  /**
   * Record `messaging.process.duration` when the scope ends. False where the scope outlives the
   * handler (a RabbitMQ span that waits for the ack): the transport times the handler itself. @default true
   */
  process?: boolean;
}

export interface BatchMetricsOptions extends Omit<ConsumeMetricsOptions, 'brokerTime'> {
  /** The broker's send time of each message, index-aligned with `carriers`. */
  brokerTimes?: readonly unknown[];
}

export interface ConsumeOptions<C, Message = unknown> {
  destination: string;
  /**
   * `messaging.destination.name` when it is more precise than the span name's `destination`
   * (RabbitMQ: `{exchange}:{routing key}` under a span named after the exchange). @default destination
   */
  destinationName?: string;
  carrier: C;
  getter: TextMapGetter<C>;
  attributes?: Attributes;
  /** The library's message, handed to `incomingContext` and `consumeHook`. */
  message?: Message;
  operationName?: string;
  /** When the operation began, for a span created after a pull returned. @default now */
  startTime?: TimeInput;
  /** More links, after the message's own (a followed batch links each message's span to the batch span). */
  links?: Link[];
  /**
   * Record this message as consumed (counter, queue time, pipeline duration) at start and the
   * handler's `messaging.process.duration` at the end. Leave undefined where another scope
   * already counts the message (a pull's receive batch).
   */
  metrics?: ConsumeMetricsOptions;
}

export interface BatchOptions<C, Message = unknown> {
  destination: string;
  /**
   * `messaging.destination.name` when it is more precise than the span name's `destination`
   * (RabbitMQ: `{exchange}:{routing key}` under a span named after the exchange). @default destination
   */
  destinationName?: string;
  /** `process` (a push consumer handed a batch) or `receive` (a pull that returned several). */
  operation: 'process' | 'receive';
  carriers: readonly C[];
  getter: TextMapGetter<C>;
  /** The library's messages, index-aligned with `carriers`, for `incomingContext`. */
  messages?: readonly Message[];
  /** `first`: the first message's context is the span's parent (when its policy allows). @default 'none' */
  parent?: 'none' | 'first';
  attributes?: Attributes;
  /** The object handed to `consumeHook`. */
  message?: Message;
  operationName?: string;
  /** When the operation began, for a span created after a pull returned. @default now */
  startTime?: TimeInput;
  /**
   * Record each message as consumed (counter, queue time, pipeline duration) at start, and at
   * the end `messaging.process.duration` (`process`) or the receive's operation duration.
   */
  metrics?: BatchMetricsOptions;
}

export interface MessagingSpanPolicyOptions<Message> {
  /** `messaging.system`: kafka, rabbitmq, aws_sqs, mongodb, … */
  system: string;
  getTracer: () => Tracer;
  /** The instrumentation's meter (`() => this.meter`); no metrics without it. */
  getMeter?: () => Meter;
  getConfig: () => MessagingInstrumentationConfig<Message>;
}

/**
 * The single place that decides which messaging spans exist, how they relate, and what
 * context a message carries. Every threadline transport calls this instead of growing its own.
 */
export class MessagingSpanPolicy<Message = unknown> {
  private cachedMetrics: MessagingMetrics = disabledMetrics();

  constructor(private readonly options: MessagingSpanPolicyOptions<Message>) {}

  /**
   * The instruments of the instrumentation's current meter, rebuilt when `setMeterProvider`
   * changed it. `enabled` is false for the no-op meter: then nothing is recorded or read.
   */
  get metrics(): MessagingMetrics {
    const meter = this.options.getMeter?.();
    if (meter === undefined) return this.cachedMetrics;
    if (this.cachedMetrics.meter !== meter) this.cachedMetrics = new MessagingMetrics(meter, this.options.system);
    return this.cachedMetrics;
  }

  private get pipelineLatency(): boolean {
    return this.options.getConfig().pipelineLatency !== false;
  }

  /** Records a consumer scope's metrics: received now, processed (or the receive) when it ends. */
  private meterConsumer<C>(
    metrics: MessagingMetrics,
    scope: MessagingScope,
    destination: string,
    settings: BatchMetricsOptions,
    carriers: readonly C[],
    getter: TextMapGetter<C>,
    contexts: readonly (Context | undefined)[],
    brokerTimes: readonly unknown[] | undefined,
    operation: 'process' | 'receive',
    operationName: string,
  ): void {
    const pipeline = this.pipelineLatency;
    const group = settings.consumerGroup;
    for (let index = 0; index < carriers.length; index++) {
      let sentAt: unknown;
      let source: TimeSource = 'broker';
      if (settings.carriedTime === true) {
        sentAt = readSentAt(carriers[index], getter);
        if (sentAt !== undefined) source = 'carried';
      }
      if (sentAt === undefined) sentAt = brokerTimes?.[index];
      const traceStateHeader = pipeline ? readTraceStateHeader(carriers[index], getter) : undefined;
      metrics.received(destination, { consumerGroup: group, sentAt, source, context: contexts[index], traceStateHeader, operationName }, pipeline);
    }
    if (settings.process === false) return;
    const startedAt = metrics.start();
    scope.onEnd = (failed, error) => {
      const type = failed ? errorType(error) : undefined;
      if (operation === 'process') metrics.processed(destination, startedAt, type, group);
      else metrics.operation(destination, operationName, startedAt, type, group);
    };
  }

  /** The policy for one incoming message, after the config's `incomingContext`/`useLinks`. */
  incomingPolicy(message: Message | undefined): IncomingContextPolicy {
    const config = this.options.getConfig();
    const choice = config.incomingContext;
    if (typeof choice === 'function') {
      let decided: IncomingContextPolicy | undefined;
      safeExecuteInTheMiddle(
        () => choice(message as Message),
        (error, result) => {
          if (error) logger.warn('incomingContext threw; the message is treated as untrusted (ignore)', error);
          else decided = result;
        },
        true,
      );
      return decided === 'parent' || decided === 'link' || decided === 'ignore' ? decided : 'ignore';
    }
    if (choice === 'parent' || choice === 'link' || choice === 'ignore') return choice;
    return config.useLinks ? 'link' : 'parent';
  }

  private get spansEnabled(): boolean {
    return this.options.getConfig().mode !== 'propagation-only';
  }

  /**
   * Starts a PRODUCER span `send {destination}` as a child of the active context. Inject the
   * returned scope into every message of the call, run the send in it, then end it.
   */
  startSend(options: SendOptions<Message>): MessagingScope {
    const scope = this.sendScope(options);
    const metrics = this.metrics;
    if (metrics.enabled) {
      // Counted when the send settles, with its error.type.
      const destination = options.metricDestination ?? metricDestinationName(options.destinationName ?? options.destination);
      const count = options.messageCount ?? 1;
      const operationName = options.operationName ?? 'send';
      const startedAt = metrics.start();
      scope.recordsMetrics = { pipelineOrigin: this.pipelineLatency };
      scope.onEnd = (failed, error) => metrics.sent(destination, count, startedAt, failed ? errorType(error) : undefined, operationName);
    }
    return scope;
  }

  private sendScope(options: SendOptions<Message>): MessagingScope {
    const active = context.active();
    if (!this.spansEnabled) return new MessagingScope(undefined, active);
    const attributes = messagingAttributes(this.options.system, options.destination, options.destinationName, 'send', options.operationName ?? 'send', options.attributes);
    if (options.messageCount !== undefined && options.messageCount > 1) {
      attributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] = options.messageCount;
    }
    const span = this.options
      .getTracer()
      .startSpan(`send ${options.destination}`, { kind: SpanKind.PRODUCER, attributes }, active);
    this.runHook('publishHook', span, options.destination, options.message);
    return new MessagingScope(span, trace.setSpan(active, span));
  }

  /**
   * The context one incoming message asks for, built from an empty context so that nothing
   * ambient (a poll loop's previous iteration) leaks in, and the links to put on its span.
   */
  private incoming<C>(carrier: C, getter: TextMapGetter<C>, message: Message | undefined): { parent: Context; link?: Link; extracted?: Context } {
    const policy = this.incomingPolicy(message);
    if (policy === 'ignore') return { parent: ROOT_CONTEXT };
    const extracted = extractContextFrom(ROOT_CONTEXT, carrier, getter);
    if (policy === 'parent') {
      const keepBaggage = this.options.getConfig().propagateBaggage !== false;
      return { parent: keepBaggage ? extracted : propagation.deleteBaggage(extracted), extracted };
    }
    const spanContext = trace.getSpanContext(extracted);
    return {
      extracted,
      parent: ROOT_CONTEXT,
      link: spanContext && trace.isSpanContextValid(spanContext) ? { context: spanContext } : undefined,
    };
  }

  /**
   * Starts a CONSUMER span `process {destination}` for one message: a child of the message's
   * context, or a new trace with a link, as the config says. Run the handler in the scope.
   */
  startProcess<C>(options: ConsumeOptions<C, Message>): MessagingScope {
    const { parent, link, extracted } = this.incoming(options.carrier, options.getter, options.message);
    const scope = this.processScope(options, parent, link);
    const settings = options.metrics;
    if (settings !== undefined) {
      const metrics = this.metrics;
      if (metrics.enabled) {
        const destination = settings.destination ?? metricDestinationName(options.destinationName ?? options.destination);
        const brokerTimes = settings.brokerTime === undefined ? undefined : [settings.brokerTime];
        this.meterConsumer(metrics, scope, destination, settings, [options.carrier], options.getter, [extracted], brokerTimes, 'process', options.operationName ?? 'process');
      }
    }
    return scope;
  }

  private processScope<C>(options: ConsumeOptions<C, Message>, parent: Context, link: Link | undefined): MessagingScope {
    if (!this.spansEnabled) return new MessagingScope(undefined, parent);
    const attributes = messagingAttributes(this.options.system, options.destination, options.destinationName, 'process', options.operationName ?? 'process', options.attributes);
    const links = options.links === undefined ? (link ? [link] : undefined) : link ? [link, ...options.links] : options.links;
    const span = this.options.getTracer().startSpan(
      `process ${options.destination}`,
      { kind: SpanKind.CONSUMER, attributes, links, startTime: options.startTime },
      parent,
    );
    this.runHook('consumeHook', span, options.destination, options.message);
    return new MessagingScope(span, trace.setSpan(parent, span));
  }

  /**
   * One span for many messages, with one link per message that carries a context. The span is
   * a new trace unless `parent: 'first'` makes the first message's context its parent.
   */
  startBatch<C>(options: BatchOptions<C, Message>): MessagingScope {
    const settings = options.metrics;
    const metrics = settings === undefined ? undefined : this.metrics;
    const contexts: (Context | undefined)[] | undefined = metrics?.enabled ? [] : undefined;
    const scope = this.batchScope(options, contexts);
    if (metrics !== undefined && contexts !== undefined) {
      const destination = settings!.destination ?? metricDestinationName(options.destinationName ?? options.destination);
      this.meterConsumer(metrics, scope, destination, settings!, options.carriers, options.getter, contexts, settings!.brokerTimes, options.operation, options.operationName ?? options.operation);
    }
    return scope;
  }

  private batchScope<C>(options: BatchOptions<C, Message>, contexts: (Context | undefined)[] | undefined): MessagingScope {
    const links: Link[] = [];
    let parent: Context = ROOT_CONTEXT;
    const count = options.carriers.length;
    for (let index = 0; index < count; index++) {
      const message = options.messages?.[index];
      const policy = this.incomingPolicy(message);
      if (policy === 'ignore') continue;
      const extracted = extractContextFrom(ROOT_CONTEXT, options.carriers[index], options.getter);
      if (contexts !== undefined) contexts[index] = extracted;
      if (index === 0 && options.parent === 'first' && policy === 'parent') {
        parent = this.options.getConfig().propagateBaggage !== false ? extracted : propagation.deleteBaggage(extracted);
      }
      const spanContext = trace.getSpanContext(extracted);
      if (spanContext && trace.isSpanContextValid(spanContext)) links.push({ context: spanContext });
    }
    if (!this.spansEnabled) return new MessagingScope(undefined, parent);
    const attributes = messagingAttributes(this.options.system, options.destination, options.destinationName, options.operation, options.operationName ?? options.operation, options.attributes);
    if (count > 1) attributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] = count;
    // Semantic conventions: a pull (`receive`) is a CLIENT call; pushed batches are CONSUMER.
    const kind = options.operation === 'receive' ? SpanKind.CLIENT : SpanKind.CONSUMER;
    const span = this.options
      .getTracer()
      .startSpan(`${options.operation} ${options.destination}`, { kind, attributes, links, startTime: options.startTime }, parent);
    this.runHook('consumeHook', span, options.destination, options.message);
    return new MessagingScope(span, trace.setSpan(parent, span));
  }

  private runHook(name: 'publishHook' | 'consumeHook', span: Span, destination: string, message: Message | undefined): void {
    const hook = this.options.getConfig()[name];
    if (typeof hook !== 'function') return;
    const info: MessagingHookInfo<Message> = { destination, message: message as Message };
    safeExecuteInTheMiddle(
      () => hook(span, info),
      (error) => {
        if (error) logger.error(`${name} threw; the span and the message are unaffected`, error);
      },
      true,
    );
  }
}
