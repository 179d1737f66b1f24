// The Kafka helpers both Kafka transports share: client and record attributes, copies, and the
// header adapter for Map or object headers with string or Buffer names and values.
import { cloneWith, kafkaClientAttributes, kafkaHeadersAdapterFor, kafkaRecordAttributes, kafkaServerAttributes } from '../src';

describe('kafkaClientAttributes', () => {
  test('one broker, as a string or { host, port }, names the server; several do not', () => {
    expect(kafkaClientAttributes('app', ['127.0.0.1:9092'])).toEqual({ 'messaging.client.id': 'app', 'server.address': '127.0.0.1', 'server.port': 9092 });
    expect(kafkaClientAttributes(undefined, [{ host: 'kafka', port: 9093 }])).toEqual({ 'server.address': 'kafka', 'server.port': 9093 });
    expect(kafkaClientAttributes('', ['a:1', 'b:2'])).toEqual({});
    expect(kafkaClientAttributes('x', ['a:1', 'a:1'])).toEqual({ 'messaging.client.id': 'x', 'server.address': 'a', 'server.port': 1 });
    expect(kafkaClientAttributes('x', () => ['a:1'])).toEqual({ 'messaging.client.id': 'x' });
  });

  test('IPv6 and bad addresses', () => {
    expect(kafkaServerAttributes('[::1]:9092')).toEqual({ 'server.address': '::1', 'server.port': 9092 });
    expect(kafkaServerAttributes('no-port')).toEqual({});
    expect(kafkaServerAttributes('host:70000')).toEqual({});
  });
});

test('kafkaRecordAttributes: offset of any type, tombstone, body size, the key only when asked', () => {
  expect(kafkaRecordAttributes({ offset: 12n, value: Buffer.from('abc'), key: 'k' }, false)).toEqual({ 'messaging.kafka.offset': 12, 'messaging.message.body.size': 3 });
  expect(kafkaRecordAttributes({ offset: '7', value: null, key: Buffer.from('k') }, true)).toEqual({
    'messaging.kafka.offset': 7,
    'messaging.kafka.message.tombstone': true,
    'messaging.kafka.message.key': 'k',
  });
  expect(kafkaRecordAttributes({ offset: 'x', value: 'é' }, false)).toEqual({ 'messaging.message.body.size': 2 });
});

test('cloneWith keeps the prototype and the source untouched', () => {
  class Message {
    constructor(readonly value: string) {}
  }
  const source = Object.freeze(new Message('v'));
  const copy = cloneWith(source, { headers: { a: '1' } });
  expect(copy).toBeInstanceOf(Message);
  expect(copy.value).toBe('v');
  expect((copy as unknown as { headers: unknown }).headers).toEqual({ a: '1' });
  expect(Object.keys(source)).toEqual(['value']);
  const symbol = Symbol('marker');
  expect(cloneWith({ [symbol]: 1 }, {})[symbol]).toBe(1);
});

describe('kafkaHeadersAdapterFor', () => {
  const bytes = kafkaHeadersAdapterFor({ keys: 'buffer', values: 'buffer' });
  const text = kafkaHeadersAdapterFor({ keys: 'string', values: 'string' });

  test('reads Map headers with Buffer or string names, case-insensitively, the first of a repeated name', () => {
    const headers = new Map<unknown, unknown>([
      [Buffer.from('TraceParent'), Buffer.from('first')],
      [Buffer.from('traceparent'), 'second'],
      ['user', 'u'],
    ]);
    expect(text.get(headers, 'traceparent')).toBe('first');
    expect(text.get(headers, 'user')).toBe('u');
    expect(text.keys(headers)).toEqual(['TraceParent', 'traceparent', 'user']);
    expect(text.get({ TraceParent: Buffer.from('obj') }, 'traceparent')).toBe('obj');
    expect(text.get(new Map([[1, 2]]), 'traceparent')).toBeUndefined();
  });

  test('writes in the encoding asked for: Buffer names only into a Map', () => {
    const map = new Map<unknown, unknown>();
    bytes.set(map, 'traceparent', 'tp');
    const [[key, value]] = [...map];
    expect(Buffer.isBuffer(key) && Buffer.isBuffer(value)).toBe(true);
    expect(String(value)).toBe('tp');
    const object: Record<string, unknown> = {};
    bytes.set(object, 'traceparent', 'tp');
    expect(object.traceparent).toEqual(Buffer.from('tp'));
    const strings = new Map<unknown, unknown>();
    text.set(strings, 'traceparent', 'tp');
    expect(strings.get('traceparent')).toBe('tp');
    expect(kafkaHeadersAdapterFor({ keys: 'buffer', values: 'buffer' })).toBe(bytes);
  });
});
