import type { ServerAddress } from './internal-types';

/** The name RabbitMQ gives the default (nameless) exchange. */
export const DEFAULT_EXCHANGE = 'amq.default';

export const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

export function positiveNumber(value: unknown): number | undefined {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) && number > 0 ? number : undefined;
}

/** Producer `messaging.destination.name` per the RabbitMQ conventions: `{exchange}:{routing key}`. */
export function producerDestination(exchange: unknown, routingKey: unknown): string {
  const parts = [exchange, routingKey].filter((part): part is string => typeof part === 'string' && part !== '');
  return parts.length > 0 ? parts.join(':') : DEFAULT_EXCHANGE;
}

/**
 * Consumer `messaging.destination.name` per the RabbitMQ conventions:
 * `{exchange}:{routing key}:{queue}`, empty parts left out, the routing key once when it is the queue.
 */
export function consumerDestination(exchange: unknown, routingKey: unknown, queue: unknown): string {
  const text = (part: unknown) => (typeof part === 'string' ? part : '');
  const key = text(routingKey);
  const queueName = text(queue);
  const parts = [text(exchange), key === queueName ? '' : key, queueName].filter((part) => part !== '');
  return parts.length > 0 ? parts.join(':') : DEFAULT_EXCHANGE;
}

/**
 * The server a connect call targets: host and port only. User, password, vhost and query are
 * never read out of the URL, so they cannot reach a span.
 */
export function serverFromUrl(url: unknown): ServerAddress {
  try {
    if (isObject(url)) {
      const protocol = `${typeof url.protocol === 'string' && url.protocol !== '' ? url.protocol : 'amqp'}:`;
      const port = positiveNumber(url.port) ?? (protocol === 'amqp:' ? 5672 : 5671);
      return { address: typeof url.hostname === 'string' && url.hostname !== '' ? url.hostname : 'localhost', port };
    }
    const parsed = new URL(typeof url === 'string' && url !== '' ? url : 'amqp://localhost');
    const address = parsed.hostname.replace(/^\[|\]$/g, '');
    const port = positiveNumber(parsed.port) ?? (parsed.protocol === 'amqp:' ? 5672 : 5671);
    return { address: address === '' ? undefined : address, port };
  } catch {
    return {};
  }
}
