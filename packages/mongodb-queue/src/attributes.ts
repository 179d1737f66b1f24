import type { Attributes } from '@opentelemetry/api';
import { ATTR_DB_OPERATION_NAME, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import { ATTR_MESSAGING_MESSAGE_ID } from '@threadline/carrier';
import type { ClientLike, CollectionLike } from './internal-types';

export function isObjectId(value: unknown): value is { toHexString(): string } {
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
export function withDriverOperation(attributes: Attributes, driverMethod: string): Attributes {
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

/**
 * The broker-side send time of a queue document: its `insertTimeField` when set and present, else
 * its ObjectId `_id`'s creation time (whole seconds); undefined when it has neither.
 */
export function documentTime(document: Record<string, unknown>, insertTimeField: string | undefined): unknown {
  if (insertTimeField !== undefined) {
    const value = document[insertTimeField];
    if (value !== undefined && value !== null) return value;
  }
  const id = document._id;
  if (!isObjectId(id)) return undefined;
  const getTimestamp = (id as { getTimestamp?: unknown }).getTimestamp;
  try {
    return typeof getTimestamp === 'function' ? (getTimestamp.call(id) as unknown) : undefined;
  } catch {
    return 'garbage';
  }
}

/** Only ObjectIds become `messaging.message.id`: a string `_id` may be an e-mail address or other personal data. */
export function withMessageId(attributes: Attributes, id: unknown): Attributes {
  if (!isObjectId(id)) return attributes;
  try {
    return { ...attributes, [ATTR_MESSAGING_MESSAGE_ID]: id.toHexString() };
  } catch {
    return attributes;
  }
}

/** Host and port from the parsed client options: never the connection string, so never credentials. */
export function serverAttributes(collection: CollectionLike): Attributes {
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
