import { diag, type TextMapGetter } from '@opentelemetry/api';
import { sqsAttributesAdapter, typedAttributesAdapter, carrierHasContext, withExtractedContext, type SqsMessageAttributes } from '@threadline/carrier';
import type { LooseObject, QueueInfo } from './internal-types';
import type { SqsReceivedMessage } from './types';

const logger = diag.createComponentLogger({ namespace: '@threadline/sqs' });

export const isObject = (value: unknown): value is LooseObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

// SQS queue names are at most 80 characters; anything longer is not a queue name.
const MAX_QUEUE_NAME = 80;
const UNKNOWN_QUEUE = 'unknown';
const queueCache = new Map<string, QueueInfo>();

/** An IPv6 host without its URL brackets, as `server.address` wants it. */
export const unbracketed = (host: string): string => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

/** Name, clean URL and server of a queue URL (`https://sqs.eu-west-1.amazonaws.com/123/orders`). */
export function queueInfo(queueUrl: unknown): QueueInfo {
  if (typeof queueUrl !== 'string' || queueUrl === '') return { name: UNKNOWN_QUEUE };
  const cached = queueCache.get(queueUrl);
  if (cached !== undefined) return cached;
  let info: QueueInfo;
  try {
    const url = new URL(queueUrl);
    const segments = url.pathname.split('/').filter(Boolean);
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : url.protocol === 'http:' ? 80 : undefined) : Number(url.port);
    info = {
      name: (segments[segments.length - 1] ?? UNKNOWN_QUEUE).slice(0, MAX_QUEUE_NAME),
      // Rebuilt from parts: credentials, query and fragment never reach a span.
      url: `${url.protocol}//${url.host}${url.pathname}`,
      address: unbracketed(url.hostname),
      port,
    };
  } catch {
    const segments = queueUrl.split('/').filter(Boolean);
    info = { name: (segments[segments.length - 1] ?? UNKNOWN_QUEUE).slice(0, MAX_QUEUE_NAME) };
  }
  if (queueCache.size < 256) queueCache.set(queueUrl, info);
  return info;
}

/**
 * `MessageAttributeNames` plus the propagation fields it lacks, as a new array; undefined when
 * nothing needs adding (`All` or `.*` is there, or every field is) or the value is not a list.
 */
export function withContextFields(names: unknown, fields: readonly string[]): string[] | undefined {
  if (names !== undefined && names !== null && !Array.isArray(names)) return undefined;
  const current: unknown[] = names ?? [];
  if (current.some((name) => name === '.*' || (typeof name === 'string' && name.toLowerCase() === 'all'))) return undefined;
  const missing = fields.filter((field, index) => !current.includes(field) && fields.indexOf(field) === index);
  return missing.length === 0 ? undefined : [...(current as string[]), ...missing];
}

/** SNS message attributes: `{ traceparent: { Type: 'String', Value: '00-…' } }`. Only `String` ones carry context. */
export const snsAttributesGetter: TextMapGetter<LooseObject | undefined> = typedAttributesAdapter<LooseObject | undefined>('Type', 'Value');

/** The `MessageAttributes` of an SNS notification envelope held in an SQS body, if it is one. */
export function snsEnvelopeAttributes(body: unknown): LooseObject | undefined {
  // Cheap checks first: most bodies are not envelopes and JSON.parse is not free.
  if (typeof body !== 'string' || !body.trimStart().startsWith('{') || !body.includes('Notification')) return undefined;
  let envelope: unknown;
  try {
    envelope = JSON.parse(body);
  } catch (error) {
    logger.debug('message body is not an SNS envelope (not JSON); no context read from it', error);
    return undefined;
  }
  if (!isObject(envelope) || envelope.Type !== 'Notification' || !isObject(envelope.MessageAttributes)) {
    logger.debug('message body is not an SNS notification envelope with MessageAttributes; no context read from it');
    return undefined;
  }
  return envelope.MessageAttributes;
}

/** Where one received message's context is read from: its SQS attributes, or its SNS envelope. */
export interface MessageCarrier {
  attributes: unknown;
  // The getter matches `attributes`' shape; stated per value, so never read across.
  getter: TextMapGetter<unknown>;
}

/** Reads a MessageCarrier with whichever getter fits its shape. */
export const messageCarrierGetter: TextMapGetter<MessageCarrier> = {
  get: (carrier, key) => carrier.getter.get(carrier.attributes, key),
  keys: (carrier) => carrier.getter.keys(carrier.attributes),
};

/**
 * The carrier of one received message. The message's own SQS attributes win when they hold a
 * context; with `snsEnvelope`, a body that is an SNS notification is read next.
 */
export function messageCarrier(message: unknown, snsEnvelope: boolean): MessageCarrier {
  const attributes = isObject(message) ? message.MessageAttributes : undefined;
  if (snsEnvelope && isObject(message) && !carrierHasContext(attributes as SqsMessageAttributes, sqsAttributesAdapter)) {
    const envelope = snsEnvelopeAttributes(message.Body);
    if (envelope !== undefined) return { attributes: envelope, getter: snsAttributesGetter };
  }
  return { attributes, getter: sqsAttributesAdapter };
}

/**
 * Runs `fn` inside the context one received message carries, and returns what `fn` returns.
 * For a plain receive loop, where the work happens after `await client.send(...)`:
 * `for (const message of Messages) await withMessageContext(message, () => handle(message));`
 * It trusts the message: for queues outside your trust boundary, do not call it.
 */
export function withMessageContext<R>(
  message: SqsReceivedMessage | null | undefined,
  fn: () => R,
  options?: { snsEnvelope?: boolean },
): R {
  return withExtractedContext(messageCarrier(message, options?.snsEnvelope === true), fn, messageCarrierGetter);
}

const SENT_TIMESTAMP = 'SentTimestamp';
/** System attribute names that already ask SQS for `SentTimestamp`. */
const asksSentTimestamp = (names: unknown): boolean =>
  Array.isArray(names) && names.some((name) => name === SENT_TIMESTAMP || (typeof name === 'string' && name.toLowerCase() === 'all'));

/**
 * The fields of a receive input that also ask for `SentTimestamp` (for the queue-time metric), or
 * undefined when the caller asks for it already or a list is not a list. `MessageSystemAttributeNames`
 * when the caller uses it, else the older `AttributeNames`, which every supported SDK sends (3.447's
 * serializer drops the newer field).
 */
export function withSentTimestamp(input: LooseObject): LooseObject | undefined {
  const { AttributeNames: legacy, MessageSystemAttributeNames: system } = input;
  if (asksSentTimestamp(legacy) || asksSentTimestamp(system)) return undefined;
  if (Array.isArray(system)) return { MessageSystemAttributeNames: [...(system as unknown[]), SENT_TIMESTAMP] };
  if (legacy === undefined || legacy === null) return { AttributeNames: [SENT_TIMESTAMP] };
  if (Array.isArray(legacy)) return { AttributeNames: [...(legacy as unknown[]), SENT_TIMESTAMP] };
  logger.debug('ReceiveMessage AttributeNames is not an array; SentTimestamp not requested (no queue time)');
  return undefined;
}

/** `SentTimestamp`s threadline asked for and removed again, for sqs-consumer's handlers. */
const removedSentTimestamps = new WeakMap<object, unknown>();

/**
 * The `SentTimestamp` of each received message, index-aligned. With `strip` (threadline asked
 * for it, the caller did not) it is removed from the message, and `Attributes` with it when
 * nothing else is left, so the caller sees the response it asked for.
 */
export function takeSentTimestamps(messages: readonly SqsReceivedMessage[], strip: boolean): unknown[] {
  return messages.map((message) => {
    const attributes = message.Attributes;
    if (!isObject(attributes)) return undefined;
    const sent = attributes[SENT_TIMESTAMP];
    if (strip) {
      try {
        delete attributes[SENT_TIMESTAMP];
        if (Object.keys(attributes).length === 0) delete message.Attributes;
        removedSentTimestamps.set(message, sent);
      } catch (error) {
        logger.debug('could not remove the SentTimestamp threadline asked for', error);
      }
    }
    return sent;
  });
}

/** A received message's `SentTimestamp`, also when threadline removed it after asking for it. */
export function sentTimestampOf(message: unknown): unknown {
  if (!isObject(message)) return undefined;
  if (removedSentTimestamps.has(message)) return removedSentTimestamps.get(message);
  return isObject(message.Attributes) ? message.Attributes[SENT_TIMESTAMP] : undefined;
}

/**
 * Names the AWS temporary queue client gives its queues: the requester's response queues (default
 * prefix) and the host queues of virtual queues.
 */
const TEMPORARY_QUEUE_MARKERS = ['__RequesterClientQueues__', '__HostQueue'];

/** True for a queue the metrics count as `(temporary)`: made by the temporary queue client, or matched by `pattern`. */
export function isTemporaryQueue(name: string, pattern: RegExp | undefined): boolean {
  if (TEMPORARY_QUEUE_MARKERS.some((marker) => name.includes(marker))) return true;
  if (pattern instanceof RegExp) {
    pattern.lastIndex = 0;
    return pattern.test(name);
  }
  return false;
}
