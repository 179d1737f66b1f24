import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { EnvironmentSetter } from '@opentelemetry/propagator-env-carrier';

/** A getter and setter for one carrier shape. Every adapter here is both. */
export type CarrierAdapter<Carrier> = TextMapGetter<Carrier> & TextMapSetter<Carrier>;

const hasOwn = (target: object, key: string): boolean => Object.prototype.hasOwnProperty.call(target, key);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Decodes one header value; anything that is not text or bytes is ignored. */
function decodeHeaderValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  // No argument: Buffer's own fast path to UTF-8, without the encoding lookup.
  if (Buffer.isBuffer(value)) return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
  return undefined;
}

function decodeHeader(value: unknown): string | string[] | undefined {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return decodeHeaderValue(value);
  const decoded: string[] = [];
  for (const item of value) {
    const text = decodeHeaderValue(item);
    if (text !== undefined) decoded.push(text);
  }
  return decoded.length > 0 ? decoded : undefined;
}

/** The value of the own key equal to `key`, else of the first own key equal ignoring case. */
function findValue(carrier: Record<string, unknown>, key: string): unknown {
  const exact = carrier[key];
  if (hasOwn(carrier, key)) return exact;
  const wanted = key.toLowerCase();
  // for-in reuses V8's enum cache where Object.keys allocates an array: this runs for every
  // field a message lacks. Lower-casing keeps the length of the ASCII names compared here.
  for (const candidate in carrier) {
    if (candidate.length === wanted.length && candidate.toLowerCase() === wanted && hasOwn(carrier, candidate)) return carrier[candidate];
  }
  return undefined;
}

/** Plain string records: `{ traceparent: '00-…' }`. Keys are matched exactly. */
export const recordAdapter: CarrierAdapter<Record<string, unknown>> = {
  get(carrier, key) {
    if (!isObject(carrier)) return undefined;
    const value = carrier[key];
    // A miss (the common case for optional fields) skips the own-property check.
    if (value === undefined || !hasOwn(carrier, key)) return undefined;
    if (typeof value === 'string') return value;
    if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
    return undefined;
  },
  keys: (carrier) => (isObject(carrier) ? Object.keys(carrier) : []),
  set(carrier, key, value) {
    if (isObject(carrier)) carrier[key] = value;
  },
};

/**
 * Message headers whose values are `string | Buffer | (string | Buffer)[]`, with keys
 * matched case-insensitively: kafkajs `IHeaders` and amqplib `MessagePropertyHeaders`.
 */
export const headersAdapter: CarrierAdapter<Record<string, unknown> | null | undefined> = {
  get(carrier, key) {
    if (!isObject(carrier)) return undefined;
    const value = findValue(carrier, key);
    return value === undefined ? undefined : decodeHeader(value);
  },
  keys: (carrier) => (isObject(carrier) ? Object.keys(carrier) : []),
  set(carrier, key, value) {
    if (isObject(carrier)) carrier[key] = value;
  },
};

/** Kafka record headers (kafkajs `IHeaders`). */
export const kafkaHeadersAdapter = headersAdapter;
/** How a Kafka client's serializers want header names and values written: as text or as bytes. */
export interface KafkaHeaderEncoding {
  keys: 'string' | 'buffer';
  values: 'string' | 'buffer';
}

function decodeHeaderKey(key: unknown): string | undefined {
  return typeof key === 'string' ? key : decodeHeaderValue(key);
}

function findInMap(carrier: Map<unknown, unknown>, key: string): unknown {
  const exact = carrier.get(key);
  if (exact !== undefined) return exact;
  const wanted = key.toLowerCase();
  for (const [candidate, value] of carrier) {
    const name = decodeHeaderKey(candidate);
    if (name !== undefined && name.length === wanted.length && name.toLowerCase() === wanted) return value;
  }
  return undefined;
}

const encodings = new Map<string, CarrierAdapter<unknown>>();

/**
 * Kafka headers as a plain object or as a `Map` (@platformatic/kafka), names and values
 * `string | Buffer` matched case-insensitively; the context is written in `encoding`, what the
 * producer's serializers accept (a Buffer name can only be a Map key).
 */
export function kafkaHeadersAdapterFor(encoding: KafkaHeaderEncoding): CarrierAdapter<unknown> {
  const id = `${encoding.keys}/${encoding.values}`;
  let adapter = encodings.get(id);
  if (adapter !== undefined) return adapter;
  // Every message of a send carries the same few names and values: their bytes are made once.
  // The library only reads them, so the messages may share one Buffer.
  let lastText: string | undefined;
  let lastBytes: Buffer | undefined;
  const names = new Map<string, Buffer>();
  const encode = (text: string, as: 'string' | 'buffer', isName: boolean): string | Buffer => {
    if (as === 'string') return text;
    if (isName) {
      let bytes = names.get(text);
      if (bytes === undefined && names.size < 16) names.set(text, (bytes = Buffer.from(text, 'utf8')));
      return bytes ?? Buffer.from(text, 'utf8');
    }
    if (text !== lastText) {
      lastText = text;
      lastBytes = Buffer.from(text, 'utf8');
    }
    return lastBytes!;
  };
  adapter = {
    get(carrier, key) {
      if (carrier instanceof Map) {
        const value = findInMap(carrier, key);
        return value === undefined ? undefined : decodeHeader(value);
      }
      return headersAdapter.get(carrier as Record<string, unknown>, key);
    },
    keys(carrier) {
      if (!(carrier instanceof Map)) return headersAdapter.keys(carrier as Record<string, unknown>);
      const names: string[] = [];
      for (const candidate of carrier.keys()) {
        const name = decodeHeaderKey(candidate);
        if (name !== undefined) names.push(name);
      }
      return names;
    },
    set(carrier, key, value) {
      if (carrier instanceof Map) carrier.set(encode(key, encoding.keys, true), encode(value, encoding.values, false));
      else if (isObject(carrier)) carrier[key] = encode(value, encoding.values, false);
    },
  };
  encodings.set(id, adapter);
  return adapter;
}

/** AMQP 0-9-1 message headers (amqplib `options.headers` / `msg.properties.headers`). */
export const amqpHeadersAdapter = headersAdapter;

/** The most message attributes SQS accepts on one message. */
export const SQS_MAX_MESSAGE_ATTRIBUTES = 10;

export interface SqsMessageAttributeValue {
  DataType?: string;
  StringValue?: string;
  BinaryValue?: Uint8Array;
}
export type SqsMessageAttributes = Record<string, SqsMessageAttributeValue | undefined>;

/**
 * A map of typed attributes, `{ [name]: { [typeKey]: 'String', [valueKey]: text } }`, with keys
 * matched case-insensitively. Only `String` attributes carry context; a Binary or Number attribute
 * that happens to share a propagation field's name is ignored.
 */
export function typedAttributesAdapter<Carrier extends Record<string, unknown> | null | undefined>(
  typeKey: string,
  valueKey: string,
): CarrierAdapter<Carrier> {
  return {
    get(carrier, key) {
      if (!isObject(carrier)) return undefined;
      const attribute = findValue(carrier, key);
      if (!isObject(attribute) || attribute[typeKey] !== 'String') return undefined;
      const value = attribute[valueKey];
      return typeof value === 'string' ? value : undefined;
    },
    keys: (carrier) => (isObject(carrier) ? Object.keys(carrier) : []),
    set(carrier, key, value) {
      if (!isObject(carrier)) return;
      // Assigned rather than a computed-key literal, which V8 builds on a slower path.
      const attribute: Record<string, unknown> = {};
      attribute[typeKey] = 'String';
      attribute[valueKey] = value;
      (carrier as Record<string, unknown>)[key] = attribute;
    },
  };
}

/** SQS `MessageAttributes` (`{ DataType: 'String', StringValue }`). */
export const sqsAttributesAdapter = typedAttributesAdapter<SqsMessageAttributes | null | undefined>('DataType', 'StringValue');

/** The default field that holds a document's context. */
export const DEFAULT_DOCUMENT_CONTEXT_FIELD = '_otel';
const documentAdapters = new Map<string, CarrierAdapter<Record<string, unknown>>>();

/**
 * One field of a document (for example a MongoDB document) holding
 * `{ traceparent, tracestate, baggage }`. A field of any other type is ignored, never overwritten.
 */
export function documentFieldAdapter(field: string = DEFAULT_DOCUMENT_CONTEXT_FIELD): CarrierAdapter<Record<string, unknown>> {
  let adapter = documentAdapters.get(field);
  if (adapter !== undefined) return adapter;
  adapter = {
    get(document, key) {
      if (!isObject(document) || !hasOwn(document, field)) return undefined;
      return recordAdapter.get(document[field] as Record<string, unknown>, key);
    },
    keys(document) {
      if (!isObject(document) || !hasOwn(document, field)) return [];
      return recordAdapter.keys(document[field] as Record<string, unknown>);
    },
    set(document, key, value) {
      if (!isObject(document)) return;
      if (!hasOwn(document, field)) document[field] = {};
      const holder = document[field];
      if (isObject(holder)) holder[key] = value;
    },
  };
  documentAdapters.set(field, adapter);
  return adapter;
}

const envNames = new Map<string, string>();

/**
 * The environment variable name for a propagation key, normalised as the OpenTelemetry
 * "Environment Variables as Context Propagation Carriers" spec says (`traceparent` → `TRACEPARENT`).
 * Delegates to `@opentelemetry/propagator-env-carrier` so the rule lives in one place.
 */
export function envVarName(key: string): string {
  let name = envNames.get(key);
  if (name === undefined) {
    const scratch: Record<string, string> = {};
    new EnvironmentSetter(scratch).set(undefined, key, '');
    name = Object.keys(scratch)[0] ?? key;
    if (envNames.size < 256) envNames.set(key, name);
  }
  return name;
}

/**
 * An environment map (`process.env` or a copy of it for a child process). Only normalised
 * names are read: a lowercase `traceparent` variable is ignored, as the spec requires.
 */
export const envAdapter: CarrierAdapter<NodeJS.ProcessEnv | Record<string, string | undefined>> = {
  get(env, key) {
    if (!isObject(env)) return undefined;
    const name = envVarName(key);
    if (!hasOwn(env, name)) return undefined;
    const value = env[name];
    return typeof value === 'string' ? value : undefined;
  },
  keys: (env) => (isObject(env) ? Object.keys(env) : []),
  set(env, key, value) {
    // The name EnvironmentSetter would write, cached by envVarName.
    if (isObject(env)) env[envVarName(key)] = value;
  },
};

/** A Kubernetes `V1EnvVar` as the API accepts it. */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

/**
 * A Kubernetes container's `env` array. Reads only literal `value`s. Writing never replaces
 * an entry the user set (with `value` or `valueFrom`): the user's variable wins.
 */
export const k8sEnvVarAdapter: CarrierAdapter<EnvVar[] | null | undefined> = {
  get(env, key) {
    if (!Array.isArray(env)) return undefined;
    const name = envVarName(key);
    for (const entry of env) {
      if (isObject(entry) && entry.name === name) return typeof entry.value === 'string' ? entry.value : undefined;
    }
    return undefined;
  },
  keys: (env) => (Array.isArray(env) ? env.filter(isObject).map((entry) => String(entry.name)) : []),
  set(env, key, value) {
    if (!Array.isArray(env)) return;
    const name = envVarName(key);
    if (env.some((entry) => isObject(entry) && entry.name === name)) return;
    env.push({ name, value });
  },
};
