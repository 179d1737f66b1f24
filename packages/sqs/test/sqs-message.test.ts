import { context, trace } from '@opentelemetry/api';
import { setupInMemoryOtel, VALID_TRACE_ID, VALID_TRACEPARENT } from '@threadline/testing';
import { snsAttributesGetter, snsEnvelopeAttributes, withMessageContext } from '../src';
import { queueInfo, withContextFields } from '../src/sqs-message';

setupInMemoryOtel();

describe('queueInfo', () => {
  test.each([
    ['https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo', { name: 'orders.fifo', address: 'sqs.us-east-1.amazonaws.com', port: 443 }],
    ['http://127.0.0.1:9324/000000000000/local', { name: 'local', address: '127.0.0.1', port: 9324 }],
    ['http://[::1]:9324/0/q6', { name: 'q6', address: '::1', port: 9324 }],
    ['not a url/but/queue', { name: 'queue' }],
    ['', { name: 'unknown' }],
    [undefined, { name: 'unknown' }],
    [42, { name: 'unknown' }],
    [`https://sqs.example.com/1/${'x'.repeat(500)}`, { name: 'x'.repeat(80) }],
  ])('%s', (url, expected) => {
    expect(queueInfo(url)).toMatchObject(expected);
  });
});

describe('withContextFields', () => {
  const fields = ['traceparent', 'tracestate', 'baggage'];
  test('adds what is missing, once, in a new array', () => {
    const names = Object.freeze(['a', 'tracestate']);
    expect(withContextFields(names, fields)).toEqual(['a', 'tracestate', 'traceparent', 'baggage']);
    expect(names).toEqual(['a', 'tracestate']);
  });
  test.each([[['All']], [['all']], [['.*']], [fields], ['All'], [{}], [7]])('%j: nothing to add', (names) => {
    expect(withContextFields(names, fields)).toBeUndefined();
  });
  test('null and undefined get every field', () => {
    expect(withContextFields(undefined, fields)).toEqual(fields);
    expect(withContextFields(null, fields)).toEqual(fields);
  });
});

describe('snsEnvelopeAttributes and snsAttributesGetter', () => {
  test('reads String attributes of a notification, keys ignoring case', () => {
    const attributes = snsEnvelopeAttributes(JSON.stringify({ Type: 'Notification', MessageAttributes: { TraceParent: { Type: 'String', Value: 'x' } } }));
    expect(snsAttributesGetter.get(attributes, 'traceparent')).toBe('x');
    expect(snsAttributesGetter.keys(attributes)).toEqual(['TraceParent']);
  });
  test.each([['plain text'], ['{"Type":"Notification"'], [JSON.stringify({ Type: 'Notification' })], [undefined], [42]])('%j is not an envelope', (body) => {
    expect(snsEnvelopeAttributes(body)).toBeUndefined();
  });
  test('prototype-pollution keys are plain keys', () => {
    const attributes = snsEnvelopeAttributes('{"Type":"Notification","MessageAttributes":{"__proto__":{"Type":"String","Value":"x"}}}');
    expect(snsAttributesGetter.get(attributes, '__proto__')).toBe('x');
    expect(({} as Record<string, unknown>).Type).toBeUndefined();
  });
});

describe('withMessageContext', () => {
  test('runs the function in the message`s context and returns its result', () => {
    const message = { MessageAttributes: { traceparent: { DataType: 'String', StringValue: VALID_TRACEPARENT } } };
    const seen = withMessageContext(message, () => trace.getSpanContext(context.active())?.traceId);
    expect(seen).toBe(VALID_TRACE_ID);
  });
  test('the SNS envelope, when asked for', () => {
    const message = { Body: JSON.stringify({ Type: 'Notification', MessageAttributes: { traceparent: { Type: 'String', Value: VALID_TRACEPARENT } } }) };
    expect(withMessageContext(message, () => trace.getSpanContext(context.active())?.traceId)).toBeUndefined();
    expect(withMessageContext(message, () => trace.getSpanContext(context.active())?.traceId, { snsEnvelope: true })).toBe(VALID_TRACE_ID);
  });
  test.each([[null], [undefined], [{}], [{ MessageAttributes: 'x' }], [{ MessageAttributes: { traceparent: { DataType: 'String', StringValue: 'garbage' } } }]])(
    '%j: runs the function, no context',
    (message) => {
      expect(withMessageContext(message as never, () => trace.getSpanContext(context.active()))).toBeUndefined();
    },
  );
});
