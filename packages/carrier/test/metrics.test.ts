import { context, createNoopMeter, ROOT_CONTEXT, trace, TraceFlags, type Meter } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import {
  amqpHeadersAdapter,
  elapsedSeconds,
  injectContext,
  kafkaHeadersAdapter,
  MESSAGING_ENV_OPTIONS,
  MessagingMetrics,
  MessagingSpanPolicy,
  metricDestinationName,
  parseEpochMs,
  pipelineOrigin,
  readEnvOptions,
  recordAdapter,
  runAndEnd,
  runTimed,
  sqsAttributesAdapter,
  withPipelineOrigin,
  SENT_AT_FIELD,
  type MessagingInstrumentationConfig,
  type SqsMessageAttributes,
} from '../src';
import { setupInMemoryMetrics, setupInMemoryOtel, VALID_TRACE_ID, type MetricPoint } from '@threadline/testing';

const { exporter, tracer, logs } = setupInMemoryOtel();
let metricsSetup = setupInMemoryMetrics();
let meter: Meter = metricsSetup.meterProvider.getMeter('@threadline/test');
let config: MessagingInstrumentationConfig = {};
const policy = new MessagingSpanPolicy({ system: 'rabbitmq', getTracer: () => tracer, getConfig: () => config, getMeter: () => meter });

beforeEach(() => {
  exporter.reset();
  logs.length = 0;
  config = {};
  metricsSetup = setupInMemoryMetrics();
  meter = metricsSetup.meterProvider.getMeter('@threadline/test');
});

const points = async (name: string): Promise<MetricPoint[]> => (await metricsSetup.collect()).filter((point) => point.name === name);

function send(destination: string, headers: Record<string, unknown>, options: { sentAt?: boolean; count?: number; fail?: boolean } = {}) {
  const scope = policy.startSend({ destination, messageCount: options.count });
  scope.inject(headers, amqpHeadersAdapter, { sentAt: options.sentAt });
  if (options.fail) scope.end(new TypeError('broker said no'));
  else scope.end();
  return scope;
}

function consume(destination: string, headers: Record<string, unknown>, brokerTime?: unknown, consumerGroup?: string) {
  return policy.startProcess({ destination, carrier: headers, getter: amqpHeadersAdapter, metrics: { carriedTime: true, brokerTime, consumerGroup } });
}

describe('with a MeterProvider', () => {
  test('a send counts its messages and its duration, with bounded attributes', async () => {
    send('orders', {}, { count: 3 });
    send('orders', {}, { fail: true });
    const sent = await points('messaging.client.sent.messages');
    expect(sent).toHaveLength(2);
    const ok = sent.find((point) => point.attributes['error.type'] === undefined)!;
    expect(ok.value).toBe(3);
    expect(ok.unit).toBe('{message}');
    expect(ok.attributes).toEqual({ 'messaging.system': 'rabbitmq', 'messaging.destination.name': 'orders', 'messaging.operation.name': 'send' });
    expect(sent.find((point) => point.attributes['error.type'] === 'TypeError')?.value).toBe(1);
    const durations = await points('messaging.client.operation.duration');
    expect(durations.map((point) => point.count).sort()).toEqual([1, 1]);
    expect(durations[0].unit).toBe('s');
    expect(durations[0].min).toBeGreaterThanOrEqual(0);
    expect(durations[0].max).toBeLessThan(1);
  });

  test('sentAt adds threadline-sent-at (epoch ms) only when asked; the queue time is measured from it', async () => {
    const plain: Record<string, unknown> = {};
    send('orders', plain);
    expect(plain[SENT_AT_FIELD]).toBeUndefined();
    const before = Date.now();
    const headers: Record<string, unknown> = {};
    send('orders', headers, { sentAt: true });
    const after = Date.now();
    const sentAt = Number(headers[SENT_AT_FIELD]);
    expect(String(headers[SENT_AT_FIELD])).toMatch(/^\d+$/);
    expect(sentAt).toBeGreaterThanOrEqual(before);
    expect(sentAt).toBeLessThanOrEqual(after);
    // Pretend it waited 250 ms in the queue.
    headers[SENT_AT_FIELD] = String(sentAt - 250);
    const received = Date.now();
    const scope = consume('orders', headers, undefined, 'workers');
    const done = Date.now();
    scope.end();
    const [queue] = await points('threadline.messaging.queue.time');
    expect(queue.attributes).toEqual({
      'messaging.system': 'rabbitmq',
      'messaging.destination.name': 'orders',
      'messaging.consumer.group.name': 'workers',
      'threadline.time.source': 'carried',
    });
    expect(queue.count).toBe(1);
    // Within the clock's resolution (1 ms) of what this test measured itself.
    expect(queue.sum!).toBeGreaterThanOrEqual((received - (sentAt - 250)) / 1000 - 0.001);
    expect(queue.sum!).toBeLessThanOrEqual((done - (sentAt - 250)) / 1000 + 0.001);
    const [consumed] = await points('messaging.client.consumed.messages');
    expect(consumed.value).toBe(1);
    expect(consumed.attributes['messaging.consumer.group.name']).toBe('workers');
    const [processed] = await points('messaging.process.duration');
    expect(processed.count).toBe(1);
    expect(processed.attributes['messaging.operation.name']).toBe('process');
  });

  test('the broker time is the fallback, marked broker; a carried time wins over it', async () => {
    const now = Date.now();
    consume('orders', {}, now - 2000).end();
    consume('orders', { [SENT_AT_FIELD]: String(now - 100) }, now - 2000).end();
    const queue = await points('threadline.messaging.queue.time');
    const broker = queue.find((point) => point.attributes['threadline.time.source'] === 'broker')!;
    const carried = queue.find((point) => point.attributes['threadline.time.source'] === 'carried')!;
    expect(broker.sum!).toBeGreaterThanOrEqual(2);
    expect(broker.sum!).toBeLessThan(2.5);
    expect(carried.sum!).toBeGreaterThanOrEqual(0.1);
    expect(carried.sum!).toBeLessThan(0.5);
  });

  test.each([
    ['missing', undefined],
    ['garbage', 'soon'],
    ['garbage', '0x1f'],
    ['garbage', '1e12'],
    ['garbage', '12abc'],
    ['negative', '-1'],
    ['future', String(Date.now() + 60_000)],
    ['absurd', String(Date.now() - 8 * 24 * 3600 * 1000)],
    ['absurd', '0'],
  ])('a %s send time (%p) is dropped with a diag message; the message goes on unaltered', async (problem, value) => {
    const headers: Record<string, unknown> = value === undefined ? {} : { [SENT_AT_FIELD]: value };
    const copy = structuredClone(headers);
    const scope = consume('bad-times', headers);
    const ran = runAndEnd(scope, () => 'handled');
    expect(ran).toBe('handled');
    expect(headers).toEqual(copy);
    expect(await points('threadline.messaging.queue.time')).toEqual([]);
    // Still counted and timed.
    expect((await points('messaging.client.consumed.messages'))[0].value).toBe(1);
    expect((await points('messaging.process.duration'))[0].count).toBe(1);
    expect(logs.some((log) => ['warn', 'debug'].includes(log.level) && log.message.includes(`${problem} timestamp`))).toBe(true);
    expect(exporter.getFinishedSpans()).toHaveLength(1);
  });

  test('the diag message is rate-limited: one warning, then debug', () => {
    for (let index = 0; index < 5; index++) consume('flood', { [SENT_AT_FIELD]: 'nonsense' }).end();
    const mine = logs.filter((log) => log.message.includes('garbage timestamp'));
    expect(mine.filter((log) => log.level === 'warn').length).toBeLessThanOrEqual(1);
    expect(mine.filter((log) => log.level === 'debug').length).toBeGreaterThanOrEqual(4);
  });

  test('a send time up to 1 s in the future is clock skew: recorded as 0, never negative', async () => {
    consume('skew', { [SENT_AT_FIELD]: String(Date.now() + 500) }).end();
    const [queue] = await points('threadline.messaging.queue.time');
    expect(queue.count).toBe(1);
    expect(queue.min).toBe(0);
    expect(queue.sum).toBe(0);
  });

  test('the pipeline origin goes into tracestate once and flows hop to hop unchanged', async () => {
    const first: Record<string, unknown> = {};
    const before = Date.now();
    send('orders', first);
    const tracestate = String(first.tracestate);
    expect(tracestate).toMatch(/^threadline=o:[0-9a-z]+$/);
    const origin = parseInt(tracestate.slice('threadline=o:'.length), 36);
    expect(origin).toBeGreaterThanOrEqual(before);
    expect(origin).toBeLessThanOrEqual(Date.now());

    // Hop 2: the consumer's handler sends on; the origin is kept, not replaced.
    const hop = consume('orders', first);
    const second: Record<string, unknown> = {};
    await new Promise((resolve) => setTimeout(resolve, 20));
    hop.run(() => send('invoices', second));
    hop.end();
    expect(second.tracestate).toBe(tracestate);

    const third = consume('invoices', second);
    third.end();
    const pipeline = await points('threadline.pipeline.duration');
    const atInvoices = pipeline.find((point) => point.attributes['messaging.destination.name'] === 'invoices')!;
    expect(atInvoices.count).toBe(1);
    expect(atInvoices.sum!).toBeGreaterThanOrEqual(0.02 - 0.001);
    expect(pipeline.find((point) => point.attributes['messaging.destination.name'] === 'orders')?.count).toBe(1);
  });

  test("another vendor's tracestate entries are kept, the origin is added in front", () => {
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: VALID_TRACE_ID, spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, traceState: new TraceState('vendor=value') });
    const headers: Record<string, unknown> = {};
    context.with(parent, () => send('orders', headers));
    expect(String(headers.tracestate)).toMatch(/^threadline=o:[0-9a-z]+,vendor=value$/);
  });

  test('pipelineLatency: false adds no tracestate entry and records no pipeline duration; the rest still works', async () => {
    config = { pipelineLatency: false };
    const headers: Record<string, unknown> = {};
    send('orders', headers, { sentAt: true });
    expect(headers.tracestate).toBeUndefined();
    consume('orders', { ...headers, tracestate: `threadline=o:${(Date.now() - 5).toString(36)}` }).end();
    expect(await points('threadline.pipeline.duration')).toEqual([]);
    expect(await points('threadline.messaging.queue.time')).toHaveLength(1);
    expect(readEnvOptions(MESSAGING_ENV_OPTIONS, { THREADLINE_PIPELINE_LATENCY: 'false' })).toEqual({ pipelineLatency: false });
  });

  test('a garbage pipeline origin is dropped with a diag message', async () => {
    consume('orders', { traceparent: `00-${VALID_TRACE_ID}-b7ad6b7169203331-01`, tracestate: 'threadline=o:ZZ-not' }).end();
    consume('orders', { traceparent: `00-${VALID_TRACE_ID}-b7ad6b7169203331-01`, tracestate: `threadline=o:${(Date.now() + 3_600_000).toString(36)}` }).end();
    expect(await points('threadline.pipeline.duration')).toEqual([]);
    expect(logs.some((log) => log.message.includes('threadline.pipeline.duration: future timestamp'))).toBe(true);
  });

  test('with a full SQS budget the context wins and threadline-sent-at is left out', () => {
    const attributes: SqsMessageAttributes = {};
    for (let index = 0; index < 8; index++) attributes[`a${index}`] = { DataType: 'String', StringValue: 'x' };
    const scope = policy.startSend({ destination: 'q' });
    scope.inject(attributes, sqsAttributesAdapter, { maxEntries: 10, sentAt: true });
    scope.end();
    expect(Object.keys(attributes)).toEqual(expect.arrayContaining(['traceparent', 'tracestate']));
    expect(attributes[SENT_AT_FIELD]).toBeUndefined();
    const roomy: SqsMessageAttributes = {};
    const second = policy.startSend({ destination: 'q' });
    second.inject(roomy, sqsAttributesAdapter, { maxEntries: 10, sentAt: true });
    second.end();
    expect(roomy[SENT_AT_FIELD]?.StringValue).toMatch(/^\d+$/);
  });

  test('a batch counts each message and records one process duration', async () => {
    const now = Date.now();
    const carriers = [{}, {}, {}];
    const scope = policy.startBatch({ destination: 'orders', operation: 'process', carriers, getter: kafkaHeadersAdapter, metrics: { consumerGroup: 'g', brokerTimes: [now - 10, now - 20, 'bad'] } });
    scope.end();
    expect((await points('messaging.client.consumed.messages'))[0].value).toBe(3);
    expect((await points('threadline.messaging.queue.time'))[0].count).toBe(2);
    expect((await points('messaging.process.duration'))[0].count).toBe(1);
  });

  test('a pull batch records the receive duration instead of a process duration', async () => {
    policy.startBatch({ destination: 'orders', operation: 'receive', carriers: [{}], getter: recordAdapter, metrics: {} }).end();
    expect(await points('messaging.process.duration')).toEqual([]);
    expect((await points('messaging.client.operation.duration'))[0].attributes['messaging.operation.name']).toBe('receive');
  });

  test('propagation-only mode still records, and a promise is waited for', async () => {
    config = { mode: 'propagation-only' };
    const scope = policy.startSend({ destination: 'orders' });
    let finish: () => void = () => {};
    const result = scope.endWith(new Promise<void>((resolve) => (finish = resolve)));
    expect(await points('messaging.client.sent.messages')).toEqual([]);
    finish();
    await result;
    await new Promise((resolve) => setImmediate(resolve));
    expect((await points('messaging.client.sent.messages'))[0].value).toBe(1);
  });

  test('consumer lag per partition: high watermark - (offset + 1), never negative', async () => {
    const metrics = policy.metrics;
    metrics.lag('orders', 'g', 0, '10', '4');
    metrics.lag('orders', 'g', 1, '5', '4');
    metrics.lag('orders', 'g', 2, '3', '7');
    metrics.lag('orders', 'g', 3, 'junk', '1');
    const lag = await points('threadline.kafka.consumer.lag');
    const byPartition = Object.fromEntries(lag.map((point) => [point.attributes['messaging.destination.partition.id'], point.value]));
    expect(byPartition).toEqual({ '0': 5, '1': 0, '2': 0 });
  });

  test('a new meter (setMeterProvider) gets new instruments', async () => {
    const old = policy.metrics;
    const next = setupInMemoryMetrics();
    meter = next.meterProvider.getMeter('@threadline/test');
    expect(policy.metrics).not.toBe(old);
    send('orders', {});
    expect((await next.collect()).some((point) => point.name === 'messaging.client.sent.messages')).toBe(true);
  });
  test('the counters keep at most 2000 attribute sets: the next one is not recorded, with a warning', async () => {
    const metrics = new MessagingMetrics(meter, 'rabbitmq');
    for (let index = 0; index <= 2000; index++) metrics.sent(`queue-${index}`, 1, metrics.start());
    metrics.sent('queue-0', 1, metrics.start());
    const sent = await points('messaging.client.sent.messages');
    expect(sent).toHaveLength(2000);
    expect(sent.some((point) => point.attributes['messaging.destination.name'] === 'queue-2000')).toBe(false);
    expect(sent.find((point) => point.attributes['messaging.destination.name'] === 'queue-0')!.value).toBe(2);
    expect(logs.filter((log) => log.message.includes('more than 2000 attribute sets'))).toHaveLength(1);
  });

  test('runTimed records the handler time once its promise settles, with error.type on a rejection, and returns its result as it is', async () => {
    const metrics = new MessagingMetrics(meter, 'rabbitmq');
    let finish!: () => void;
    const work = new Promise<void>((resolve) => (finish = resolve));
    const returned = runTimed(metrics, 'orders', () => work, { consumerGroup: 'g' });
    expect(returned).toBe(work);
    expect(await points('messaging.process.duration')).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    finish();
    await work;
    const failure = Promise.reject(new TypeError('bad'));
    await expect(runTimed(metrics, 'orders', () => failure)).rejects.toThrow('bad');
    await new Promise((resolve) => setImmediate(resolve));
    const recorded = await points('messaging.process.duration');
    expect(recorded).toHaveLength(2);
    const ok = recorded.find((point) => point.attributes['error.type'] === undefined)!;
    expect(ok).toMatchObject({ count: 1, attributes: { 'messaging.destination.name': 'orders', 'messaging.consumer.group.name': 'g' } });
    expect(ok.min).toBeGreaterThanOrEqual(0.015);
    expect(recorded.find((point) => point.attributes['error.type'] === 'TypeError')).toMatchObject({ count: 1 });
  });
});

describe('without a MeterProvider (no-op meter)', () => {
  beforeEach(() => {
    meter = createNoopMeter();
  });

  test('nothing reads a clock and the carrier is exactly as before', () => {
    expect(policy.metrics.enabled).toBe(false);
    // No spans either: the SDK's span start and end read clocks of their own.
    config = { mode: 'propagation-only' };
    const dateNow = jest.spyOn(Date, 'now');
    const perfNow = jest.spyOn(performance, 'now');
    try {
      const headers: Record<string, unknown> = {};
      const scope = policy.startSend({ destination: 'orders' });
      scope.inject(headers, amqpHeadersAdapter, { sentAt: true });
      scope.end();
      expect(Object.keys(headers)).toEqual([]);
      headers.traceparent = `00-${VALID_TRACE_ID}-b7ad6b7169203331-01`;
      const consumer = consume('orders', { ...headers, [SENT_AT_FIELD]: 'garbage' }, 'junk');
      expect(consumer.onEnd).toBeUndefined();
      consumer.end();
      policy.startBatch({ destination: 'orders', operation: 'process', carriers: [headers], getter: amqpHeadersAdapter, metrics: { brokerTimes: [1] } }).end();
      expect(dateNow).not.toHaveBeenCalled();
      expect(perfNow).not.toHaveBeenCalled();
    } finally {
      dateNow.mockRestore();
      perfNow.mockRestore();
    }
    expect(logs.filter((log) => log.message.includes('timestamp'))).toEqual([]);
  });

  test('with spans, the carrier gets the context alone: no threadline-sent-at, no tracestate entry', () => {
    const headers: Record<string, unknown> = {};
    send('orders', headers, { sentAt: true });
    expect(Object.keys(headers)).toEqual(['traceparent']);
  });

  test('runTimed with metrics off only runs the function', () => {
    const metrics = new MessagingMetrics(createNoopMeter(), 'rabbitmq');
    const now = jest.spyOn(performance, 'now');
    expect(runTimed(metrics, 'orders', () => 42)).toBe(42);
    expect(now).not.toHaveBeenCalled();
    now.mockRestore();
  });

  test('MessagingMetrics of a no-op meter is disabled and records nothing', () => {
    const metrics = new MessagingMetrics(createNoopMeter(), 'kafka');
    expect(metrics.enabled).toBe(false);
    expect(metrics.start()).toBe(0);
    expect(() => metrics.received('t', { sentAt: 'junk' })).not.toThrow();
    expect(logs).toEqual([]);
  });
});

describe('helpers', () => {
  test('parseEpochMs takes numbers, decimal strings, Buffers and Dates, and nothing else', () => {
    expect(parseEpochMs(1700000000000)).toBe(1700000000000);
    expect(parseEpochMs('1700000000000')).toBe(1700000000000);
    expect(parseEpochMs(Buffer.from('1700000000000'))).toBe(1700000000000);
    expect(parseEpochMs([Buffer.from('12')])).toBe(12);
    expect(parseEpochMs(new Date(5))).toBe(5);
    expect(parseEpochMs(undefined)).toBeUndefined();
    expect(parseEpochMs(null)).toBeUndefined();
    for (const bad of ['', ' 12', '12 ', '1e3', '0x10', 'NaN', Number.NaN, Infinity, new Date('nope'), {}, [1, 2], '9'.repeat(30)]) {
      expect(parseEpochMs(bad)).toBe('garbage');
    }
  });

  test('elapsedSeconds names every problem', () => {
    const now = 1_700_000_000_000;
    expect(elapsedSeconds(now - 1500, now)).toBe(1.5);
    expect(elapsedSeconds(now + 999, now)).toBe(0);
    expect(elapsedSeconds(now + 1001, now)).toBe('future');
    expect(elapsedSeconds(-5, now)).toBe('negative');
    expect(elapsedSeconds(now - 7 * 24 * 3600 * 1000 - 1, now)).toBe('absurd');
    expect(elapsedSeconds(undefined, now)).toBe('missing');
    expect(elapsedSeconds('garbage', now)).toBe('garbage');
  });

  test('metricDestinationName collapses generated names only', () => {
    expect(metricDestinationName('amq.gen-JzTY20BRgKO-HjmUJj0wLg')).toBe('amq.gen-*');
    expect(metricDestinationName('amq.rabbitmq.reply-to.g1h2AA5yZXBseUAyODY0NjAzMjAAAAAAAAAAAAAAAAAAAAA=')).toBe('amq.rabbitmq.reply-to');
    expect(metricDestinationName('orders')).toBe('orders');
    expect(metricDestinationName('orders.v2', { temporary: true })).toBe('(temporary)');
    expect(metricDestinationName('jobs', { kind: 'job', generateName: 'report-' })).toBe('report-');
    expect(metricDestinationName('report-x7k2p', { kind: 'job' })).toBe('report');
    expect(metricDestinationName('nightly-1701234567', { kind: 'job' })).toBe('nightly');
    expect(metricDestinationName('build-3f2a9c0d', { kind: 'job' })).toBe('build');
    // Words stay: Kubernetes' suffix alphabet has no vowels, and a hex run needs a digit.
    expect(metricDestinationName('nightly-batch', { kind: 'job' })).toBe('nightly-batch');
    expect(metricDestinationName('cleanup-decade', { kind: 'job' })).toBe('cleanup-decade');
    expect(metricDestinationName('my-collection')).toBe('my-collection');
  });

  test('withPipelineOrigin sets the entry once; pipelineOrigin reads it back', () => {
    const base = trace.setSpanContext(ROOT_CONTEXT, { traceId: VALID_TRACE_ID, spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED });
    const marked = withPipelineOrigin(base, 1_700_000_000_000);
    expect(pipelineOrigin(marked)).toBe(1_700_000_000_000);
    expect(withPipelineOrigin(marked, 5)).toBe(marked);
    expect(withPipelineOrigin(ROOT_CONTEXT)).toBe(ROOT_CONTEXT);
    expect(pipelineOrigin(base)).toBeUndefined();
  });

  test('a full tracestate (32 members, or no room in 512 characters) goes out as it came: no 33rd member', () => {
    const withState = (serialized: string) =>
      trace.setSpanContext(ROOT_CONTEXT, { traceId: VALID_TRACE_ID, spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, traceState: new TraceState(serialized) });
    const full = Array.from({ length: 32 }, (_, index) => `v${index}=x`).join(',');
    const fullContext = withState(full);
    expect(withPipelineOrigin(fullContext, 1_700_000_000_000)).toBe(fullContext);
    const long = `a=${'x'.repeat(250)},b=${'y'.repeat(240)}`; // 495 characters: the 22 of the entry would pass 512
    const longContext = withState(long);
    expect(withPipelineOrigin(longContext, 1_700_000_000_000)).toBe(longContext);
    // 31 members leave room for one.
    const roomy = withPipelineOrigin(withState(Array.from({ length: 31 }, (_, index) => `v${index}=x`).join(',')), 1_700_000_000_000);
    expect(trace.getSpanContext(roomy)!.traceState!.serialize().split(',')).toHaveLength(32);
    expect(pipelineOrigin(roomy)).toBe(1_700_000_000_000);
  });

  test('injectContext with sentAt writes the field; without it the carrier holds only the context', () => {
    const base = trace.setSpanContext(ROOT_CONTEXT, { traceId: VALID_TRACE_ID, spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED });
    const withField: Record<string, unknown> = {};
    injectContext(base, withField, recordAdapter, { sentAt: true });
    expect(withField[SENT_AT_FIELD]).toMatch(/^\d+$/);
    const without: Record<string, unknown> = {};
    injectContext(base, without, recordAdapter);
    expect(Object.keys(without)).toEqual(['traceparent']);
  });
});
