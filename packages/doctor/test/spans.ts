import type { DoctorSpan } from '../src/types';

let sequence = 0;
const hex = (value: number, length: number) => value.toString(16).padStart(length, '0');

export const newTraceId = () => hex(++sequence, 32);
export const newSpanId = () => hex(++sequence, 16);

/** Span times are offsets in ms from this instant. */
export const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

export interface SpanInput {
  name: string;
  service: string;
  kind?: DoctorSpan['kind'];
  /** A span (same trace) or nothing for a root. */
  parent?: DoctorSpan;
  /** A parent span id that is not in the input. */
  parentSpanId?: string;
  traceId?: string;
  start: number;
  end?: number;
  attributes?: Record<string, unknown>;
  links?: DoctorSpan[];
}

/** One finished span; times in ms after T0. */
export function span(input: SpanInput): DoctorSpan {
  return {
    traceId: input.traceId ?? input.parent?.traceId ?? newTraceId(),
    spanId: newSpanId(),
    parentSpanId: input.parent?.spanId ?? input.parentSpanId,
    name: input.name,
    kind: input.kind ?? 'INTERNAL',
    serviceName: input.service,
    attributes: input.attributes ?? {},
    links: (input.links ?? []).map((target) => ({ traceId: target.traceId, spanId: target.spanId })),
    startTimeMs: T0 + input.start,
    endTimeMs: T0 + (input.end ?? input.start + 5),
  };
}

export interface MessagingInput extends Omit<SpanInput, 'name' | 'kind'> {
  system: string;
  destination: string;
  messageId?: string;
  batch?: number;
}

/** A PRODUCER `send {destination}` span with the messaging attributes the carrier policy sets. */
export function send(input: MessagingInput): DoctorSpan {
  const attributes: Record<string, unknown> = {
    'messaging.system': input.system,
    'messaging.destination.name': input.destination,
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'send',
    ...input.attributes,
  };
  if (input.messageId !== undefined) attributes['messaging.message.id'] = input.messageId;
  if (input.batch !== undefined) attributes['messaging.batch.message_count'] = input.batch;
  return span({ ...input, name: `send ${input.destination}`, kind: 'PRODUCER', attributes });
}

/** A CONSUMER `process {destination}` span. */
export function processSpan(input: MessagingInput): DoctorSpan {
  const attributes: Record<string, unknown> = {
    'messaging.system': input.system,
    'messaging.destination.name': input.destination,
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    ...input.attributes,
  };
  if (input.messageId !== undefined) attributes['messaging.message.id'] = input.messageId;
  return span({ ...input, name: `process ${input.destination}`, kind: 'CONSUMER', attributes });
}

export interface Pipeline {
  spans: DoctorSpan[];
  sends: DoctorSpan[];
}

export interface PipelineOptions {
  messages?: number;
  /** How the payments service receives from Kafka. */
  payments?: 'instrumented' | 'no-instrumentation' | 'no-context' | 'links';
  /** Whether payments wraps its handler in a span of its own. @default true */
  handlerSpan?: boolean;
  /** Gap between messages, ms. */
  spacing?: number;
}

/**
 * api (HTTP in, send to kafka `orders`) → payments (process orders, charge, publish to rabbitmq
 * exchange `payments`) → ledger (process `payments:ledger`), one trace per order when healthy.
 */
export function pipeline(options: PipelineOptions = {}): Pipeline {
  const spans: DoctorSpan[] = [];
  const sends: DoctorSpan[] = [];
  const mode = options.payments ?? 'instrumented';
  for (let index = 0; index < (options.messages ?? 3); index++) {
    const at = index * (options.spacing ?? 1000);
    const request = span({
      name: 'POST /orders',
      service: 'api',
      kind: 'SERVER',
      start: at,
      end: at + 20,
      attributes: { 'http.request.method': 'POST', 'url.path': '/orders' },
    });
    const sendOrder = send({ service: 'api', system: 'kafka', destination: 'orders', parent: request, start: at + 2, end: at + 12 });
    spans.push(request, sendOrder);
    sends.push(sendOrder);

    let handler: DoctorSpan | undefined;
    if (mode === 'no-instrumentation') {
      if (options.handlerSpan !== false) handler = span({ name: 'charge order', service: 'payments', start: at + 30, end: at + 60 });
    } else {
      const consume = processSpan({
        service: 'payments',
        system: 'kafka',
        destination: 'orders',
        parent: mode === 'instrumented' ? sendOrder : undefined,
        links: mode === 'links' ? [sendOrder] : undefined,
        start: at + 30,
        end: at + 60,
      });
      spans.push(consume);
      handler = span({ name: 'charge order', service: 'payments', parent: consume, start: at + 31, end: at + 59 });
    }
    const publish = send({ service: 'payments', system: 'rabbitmq', destination: 'payments', parent: handler, start: at + 40, end: at + 45 });
    const ledger = processSpan({ service: 'ledger', system: 'rabbitmq', destination: 'payments:ledger', parent: publish, start: at + 50, end: at + 70 });
    if (handler !== undefined) spans.push(handler);
    spans.push(publish, ledger);
  }
  return { spans, sends };
}
