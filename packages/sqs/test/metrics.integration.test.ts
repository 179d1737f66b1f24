// Metrics in process, against the real @aws-sdk/client-sqs, sqs-consumer and ElasticMQ from
// tools/brokers: the SDK's own `send` and sqs-consumer's Consumer are patched through the
// instrumentation's module definitions (Jest's require does not fire the hooks), an in-memory
// MeterProvider collects, and a build-step middleware sees each request body as it goes on the wire.
import { createNoopMeter } from '@opentelemetry/api';
import {
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  DeleteMessageCommand,
  type Message,
  type ReceiveMessageCommandInput,
} from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import { setupInMemoryMetrics, setupInMemoryOtel, startCollector, type CollectedMetricPoint, type MetricPoint } from '@threadline/testing';
import { SqsInstrumentation, withMessageContext } from '../src';
import { createQueue, linkOldestVersions, NEWEST_CJS, OLDEST_ESM, requireElasticMq, runRole, SQS_ENDPOINT, SQS_REGION } from './helpers';

jest.setTimeout(60000);

const { logs, tracer, exporter } = setupInMemoryOtel();
const { meterProvider, collect } = setupInMemoryMetrics();
const instrumentation = new SqsInstrumentation({ enabled: false });
// ms clocks on both sides (Date.now here, SentTimestamp in ElasticMQ, on this host).
const MS = 0.001;

let client: SQSClient;
/** The JSON bodies the SDK put on the wire, by X-Amz-Target operation. */
let wire: Array<{ operation: string; body: Record<string, unknown> }> = [];

beforeAll(async () => {
  await requireElasticMq();
  instrumentation.setMeterProvider(meterProvider);
  instrumentation.getModuleDefinitions()[0].patch?.({ SQSClient }, '3.1169.0');
  instrumentation.getModuleDefinitions()[1].patch?.({ Consumer }, '15.0.3');
  client = new SQSClient({ endpoint: SQS_ENDPOINT, region: SQS_REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const target = request.headers?.['x-amz-target'] ?? '';
      // A string, or (newer SDKs) bytes.
      const body = typeof request.body === 'string' ? request.body : request.body instanceof Uint8Array ? Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength).toString('utf8') : undefined;
      if (body !== undefined) wire.push({ operation: target.replace('AmazonSQS.', ''), body: JSON.parse(body) });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'wireSpy' },
  );
});

afterAll(() => {
  client?.destroy();
  instrumentation.getModuleDefinitions()[0].unpatch?.({ SQSClient }, '3.1169.0');
  instrumentation.getModuleDefinitions()[1].unpatch?.({ Consumer }, '15.0.3');
});

beforeEach(() => {
  wire = [];
  instrumentation.setMeterProvider(meterProvider);
});

const queueName = (url: string) => url.slice(url.lastIndexOf('/') + 1);

/** The points of one metric whose attributes include `where`. */
async function points(name: string, where: Record<string, unknown>): Promise<MetricPoint[]> {
  const all = await collect();
  return all.filter((point) => point.name === name && Object.entries(where).every(([key, value]) => point.attributes[key] === value));
}
const total = (list: MetricPoint[], field: 'value' | 'count') => list.reduce((sum, point) => sum + (point[field] ?? 0), 0);

/** Receives until `count` messages came back (ElasticMQ may split them over several receives). */
async function receiveAll(queueUrl: string, count: number, extra: Partial<ReceiveMessageCommandInput> = {}) {
  const messages: Message[] = [];
  const windows: Array<{ before: number; after: number; count: number }> = [];
  for (let attempt = 0; attempt < 10 && messages.length < count; attempt++) {
    const before = Date.now();
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, ...extra }));
    const after = Date.now();
    if (Messages.length > 0) windows.push({ before, after, count: Messages.length });
    messages.push(...Messages);
  }
  expect(messages).toHaveLength(count);
  return { messages, windows };
}

test('sent and consumed counts match the messages; queue time and pipeline duration are right within the ms clock', async () => {
  const queueUrl = await createQueue('metrics-counts');
  const destination = queueName(queueUrl);
  const sends: Array<{ before: number; after: number }> = [];
  await tracer.startActiveSpan('order', async (span) => {
    sends.push({ before: Date.now(), after: 0 });
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'one' }));
    sends[0].after = Date.now();
    sends.push({ before: Date.now(), after: 0 });
    await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'a', MessageBody: 'two' }, { Id: 'b', MessageBody: 'three' }] }));
    sends[1].after = Date.now();
    span.end();
  });
  // The pipeline's origin travels in tracestate; SentTimestamp is asked for on the wire and never shown.
  const sentBodies = wire.filter((each) => each.operation.startsWith('SendMessage'));
  expect(JSON.stringify(sentBodies)).toMatch(/threadline=o:[0-9a-z]+/);
  const { messages, windows } = await receiveAll(queueUrl, 3);
  const receiveBodies = wire.filter((each) => each.operation === 'ReceiveMessage');
  for (const { body } of receiveBodies) expect(body.AttributeNames).toEqual(['SentTimestamp']);
  for (const message of messages) expect(message.Attributes).toBeUndefined();
  expect(messages.map((message) => message.Body).sort()).toEqual(['one', 'three', 'two']);

  const base = { 'messaging.system': 'aws_sqs', 'messaging.destination.name': destination };
  expect(total(await points('messaging.client.sent.messages', { ...base, 'messaging.operation.name': 'send' }), 'value')).toBe(3);
  expect(total(await points('messaging.client.consumed.messages', base), 'value')).toBe(3);
  expect(total(await points('messaging.client.operation.duration', { ...base, 'messaging.operation.name': 'send' }), 'count')).toBe(2);
  expect(total(await points('messaging.client.operation.duration', { ...base, 'messaging.operation.name': 'receive' }), 'count')).toBeGreaterThanOrEqual(windows.length);

  // Each message: sent inside its send call's window, received inside its receive's window.
  const earliestSend = Math.min(...sends.map((each) => each.before));
  const latestSend = Math.max(...sends.map((each) => each.after));
  const firstReceive = Math.min(...windows.map((each) => each.before));
  const lastReceive = Math.max(...windows.map((each) => each.after));
  const [queueTime] = await points('threadline.messaging.queue.time', { ...base, 'threadline.time.source': 'broker' });
  expect(queueTime.count).toBe(3);
  expect(queueTime.min!).toBeGreaterThanOrEqual((firstReceive - latestSend) / 1000 - MS);
  expect(queueTime.max!).toBeLessThanOrEqual((lastReceive - earliestSend) / 1000 + MS);
  const [pipeline] = await points('threadline.pipeline.duration', base);
  expect(pipeline.count).toBe(3);
  expect(pipeline.min!).toBeGreaterThanOrEqual((firstReceive - latestSend) / 1000 - MS);
  expect(pipeline.max!).toBeLessThanOrEqual((lastReceive - earliestSend) / 1000);
  expect(logs.filter((log) => log.message.includes('timestamp, value dropped'))).toEqual([]);
});

test('a second hop: its queue time is its own, its pipeline duration counts from the first send', async () => {
  const [first, second] = [await createQueue('metrics-hop1'), await createQueue('metrics-hop2')];
  const origin = { before: Date.now(), after: 0 };
  await tracer.startActiveSpan('order', async (span) => {
    await client.send(new SendMessageCommand({ QueueUrl: first, MessageBody: 'hop' }));
    span.end();
  });
  origin.after = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const { messages } = await receiveAll(first, 1);
  const forward = { before: Date.now(), after: 0 };
  await withMessageContext(messages[0], () => client.send(new SendMessageCommand({ QueueUrl: second, MessageBody: 'hop' })));
  forward.after = Date.now();
  const { windows } = await receiveAll(second, 1);
  const [{ before, after }] = windows;
  const hop2 = { 'messaging.destination.name': queueName(second) };
  const [queueTime] = await points('threadline.messaging.queue.time', hop2);
  expect(queueTime.count).toBe(1);
  expect(queueTime.min!).toBeGreaterThanOrEqual((before - forward.after) / 1000 - MS);
  expect(queueTime.max!).toBeLessThanOrEqual((after - forward.before) / 1000 + MS);
  const [pipeline] = await points('threadline.pipeline.duration', hop2);
  expect(pipeline.count).toBe(1);
  // At least the 300 ms the first hop waited: the origin is the first send, carried on.
  expect(pipeline.min!).toBeGreaterThanOrEqual((before - origin.after) / 1000);
  expect(pipeline.max!).toBeLessThanOrEqual((after - origin.before) / 1000);
  expect(pipeline.min!).toBeGreaterThan(queueTime.max! + 0.25);
});

test('a SentTimestamp the caller asks for stays; one it did not is removed, whatever else it asked for', async () => {
  const queueUrl = await createQueue('metrics-asked');
  for (const body of ['a', 'b', 'c']) await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
  const all = await receiveAll(queueUrl, 1, { AttributeNames: ['All'], MaxNumberOfMessages: 1 });
  expect(wire.filter((each) => each.operation === 'ReceiveMessage').at(-1)?.body.AttributeNames).toEqual(['All']);
  expect(Number(all.messages[0].Attributes?.SentTimestamp)).toBeGreaterThan(0);
  expect(all.messages[0].Attributes?.ApproximateReceiveCount).toBe('1');
  const other = await receiveAll(queueUrl, 1, { AttributeNames: ['ApproximateReceiveCount' as never], MaxNumberOfMessages: 1 });
  expect(wire.filter((each) => each.operation === 'ReceiveMessage').at(-1)?.body.AttributeNames).toEqual(['ApproximateReceiveCount', 'SentTimestamp']);
  expect(other.messages[0].Attributes).toEqual({ ApproximateReceiveCount: '1' });
  const system = await receiveAll(queueUrl, 1, { MessageSystemAttributeNames: ['ApproximateReceiveCount'], MaxNumberOfMessages: 1 });
  const lastBody = wire.filter((each) => each.operation === 'ReceiveMessage').at(-1)?.body;
  expect(lastBody?.MessageSystemAttributeNames).toEqual(['ApproximateReceiveCount', 'SentTimestamp']);
  expect(lastBody?.AttributeNames).toBeUndefined();
  expect(system.messages[0].Attributes).toEqual({ ApproximateReceiveCount: '1' });
  const [queueTime] = await points('threadline.messaging.queue.time', { 'messaging.destination.name': queueName(queueUrl) });
  expect(queueTime.count).toBe(3);
});

test('a batch send counts the entries SQS refused under their error code', async () => {
  const queueUrl = await createQueue('metrics-refused');
  const output = await client.send(
    new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'ok', MessageBody: 'fine' }, { Id: 'late', MessageBody: 'x', DelaySeconds: 1000 }] }),
  );
  expect(output.Failed?.map((entry) => entry.Code)).toEqual(['InvalidParameterValue']);
  const base = { 'messaging.destination.name': queueName(queueUrl), 'messaging.operation.name': 'send' };
  const sent = await points('messaging.client.sent.messages', base);
  expect(sent.find((point) => point.attributes['error.type'] === undefined)?.value).toBe(1);
  expect(sent.find((point) => point.attributes['error.type'] === 'InvalidParameterValue')?.value).toBe(1);
  // One call, one duration.
  expect(total(await points('messaging.client.operation.duration', base), 'count')).toBe(1);
  // A call that fails outright counts every entry failed.
  const missing = queueUrl.replace(/[^/]+$/, `${queueName(queueUrl)}-missing`);
  await expect(client.send(new SendMessageCommand({ QueueUrl: missing, MessageBody: 'x' }))).rejects.toBeDefined();
  const failed = await points('messaging.client.sent.messages', { 'messaging.destination.name': queueName(missing) });
  expect(failed).toHaveLength(1);
  expect(failed[0].value).toBe(1);
  expect(typeof failed[0].attributes['error.type']).toBe('string');
});

test('garbage, future and missing SentTimestamps are dropped with a diag message; the messages reach the caller unaltered', async () => {
  const queueUrl = await createQueue('metrics-bad-time');
  for (const body of ['garbage', 'future', 'missing', 'good']) await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
  // What a host with a wrong clock, or a broken proxy, would hand back: set below threadline, on the response.
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const messages = (result.output as { Messages?: Message[] }).Messages ?? [];
      for (const message of messages) {
        if (message.Body === 'garbage') message.Attributes = { ...message.Attributes, SentTimestamp: '12ab' };
        if (message.Body === 'future') message.Attributes = { ...message.Attributes, SentTimestamp: String(Date.now() + 60_000) };
        if (message.Body === 'missing') delete message.Attributes;
      }
      return result;
    },
    { step: 'initialize', name: 'tamper', priority: 'low' },
  );
  logs.length = 0;
  const { messages } = await receiveAll(queueUrl, 4);
  client.middlewareStack.remove('tamper');
  expect(messages.map((message) => message.Body).sort()).toEqual(['future', 'garbage', 'good', 'missing']);
  for (const message of messages) {
    // No Attributes (none asked for); the context attributes only (tracestate holds the pipeline origin).
    expect(Object.keys(message).sort()).toEqual(['Body', 'MD5OfBody', 'MD5OfMessageAttributes', 'MessageAttributes', 'MessageId', 'ReceiptHandle']);
    expect(Object.keys(message.MessageAttributes!)).toEqual(['traceparent', 'tracestate']);
  }
  const [queueTime] = await points('threadline.messaging.queue.time', { 'messaging.destination.name': queueName(queueUrl) });
  expect(queueTime.count).toBe(1);
  expect(queueTime.min!).toBeGreaterThanOrEqual(0);
  expect(total(await points('messaging.client.consumed.messages', { 'messaging.destination.name': queueName(queueUrl) }), 'value')).toBe(4);
  const dropped = logs.filter((log) => log.message.includes('threadline.messaging.queue.time'));
  for (const problem of ['garbage', 'future', 'missing']) expect(dropped.some((log) => log.message.includes(`${problem} timestamp`))).toBe(true);
});

test('sqs-consumer: counted at the handler, whose run is the process duration; the handler sees no SentTimestamp', async () => {
  const queueUrl = await createQueue('metrics-consumer');
  for (const body of ['x', 'y']) await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
  const runs: Array<{ ms: number; attributes: unknown }> = [];
  await new Promise<void>((resolve, reject) => {
    const consumer = Consumer.create({
      queueUrl,
      sqs: client,
      batchSize: 10,
      waitTimeSeconds: 1,
      pollingWaitTimeMs: 10,
      handleMessage: async (message) => {
        const start = performance.now();
        await new Promise((done) => setTimeout(done, 40));
        runs.push({ ms: performance.now() - start, attributes: message.Attributes });
        return message;
      },
    });
    let processed = 0;
    // After its delete: sqs-consumer deletes a message once the handler returned it.
    consumer.on('message_processed', () => {
      processed += 1;
      if (processed === 2) consumer.stop();
    });
    consumer.on('stopped', () => resolve());
    consumer.on('error', reject);
    consumer.start();
  });
  expect(runs.map((run) => run.attributes)).toEqual([undefined, undefined]);
  const base = { 'messaging.destination.name': queueName(queueUrl) };
  expect(total(await points('messaging.client.consumed.messages', { ...base, 'messaging.operation.name': 'process' }), 'value')).toBe(2);
  const [processed] = await points('messaging.process.duration', base);
  expect(processed.count).toBe(2);
  // The wrapper's span of time holds the handler's own.
  expect(processed.min!).toBeGreaterThanOrEqual(Math.min(...runs.map((run) => run.ms)) / 1000);
  expect(processed.max!).toBeLessThan(Math.max(...runs.map((run) => run.ms)) / 1000 + 0.05);
  const [queueTime] = await points('threadline.messaging.queue.time', base);
  expect(queueTime.count).toBe(2);
  // sqs-consumer's polls are timed as receives, and its deletes as settles.
  expect(total(await points('messaging.client.operation.duration', { ...base, 'messaging.operation.name': 'receive' }), 'count')).toBeGreaterThanOrEqual(1);
  expect(total(await points('messaging.client.operation.duration', { ...base, 'messaging.operation.name': 'delete' }), 'count')).toBeGreaterThanOrEqual(1);
});

test('temporary queues collapse to one destination name in the metrics; spans keep the name', async () => {
  instrumentation.setConfig({ temporaryQueuePattern: /^reply-/ });
  try {
    const requester = await createQueue('x');
    const temporaryUrls = [requester.replace(/[^/]+$/, `__RequesterClientQueues__${Date.now()}`), requester.replace(/[^/]+$/, `reply-${Date.now()}`)];
    for (const url of temporaryUrls) {
      await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })).catch(() => undefined);
    }
    const sent = await points('messaging.client.sent.messages', { 'messaging.destination.name': '(temporary)' });
    expect(total(sent, 'value')).toBe(2);
    for (const url of temporaryUrls) expect(await points('messaging.client.sent.messages', { 'messaging.destination.name': queueName(url) })).toEqual([]);
    const spanNames = exporter.getFinishedSpans().map((span) => span.name);
    for (const url of temporaryUrls) expect(spanNames).toContain(`send ${queueName(url)}`);
  } finally {
    instrumentation.setConfig({});
  }
});

test('metrics off (no MeterProvider): the wire is what it was without metrics, and nothing is recorded', async () => {
  instrumentation.setMeterProvider({ getMeter: () => createNoopMeter() });
  const queueUrl = await createQueue('metrics-off');
  const before = (await collect()).length;
  await tracer.startActiveSpan('order', async (span) => {
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'plain', MessageAttributes: { color: { DataType: 'String', StringValue: 'blue' } } }));
    span.end();
  });
  const { messages } = await receiveAll(queueUrl, 1);
  const [send, receive] = [wire.find((each) => each.operation === 'SendMessage'), wire.find((each) => each.operation === 'ReceiveMessage')];
  // Only the context, as before: no tracestate entry, no extra attribute, no SentTimestamp asked for.
  expect(Object.keys(send!.body.MessageAttributes as object).sort()).toEqual(['color', 'traceparent']);
  expect(Object.keys(receive!.body).sort()).toEqual(['MaxNumberOfMessages', 'MessageAttributeNames', 'QueueUrl', 'WaitTimeSeconds']);
  expect(messages[0].Attributes).toBeUndefined();
  expect((await collect()).length).toBe(before);
  await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: messages[0].ReceiptHandle }));
  expect((await collect()).length).toBe(before);
});

test('the oldest SDK (3.447.0), which sends only AttributeNames: SentTimestamp is asked for there, timed and removed', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const oldest = require('client-sqs-oldest') as typeof import('@aws-sdk/client-sqs');
  instrumentation.getModuleDefinitions()[0].patch?.({ SQSClient: oldest.SQSClient }, '3.447.0');
  const old = new oldest.SQSClient({ endpoint: SQS_ENDPOINT, region: SQS_REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  try {
    const queueUrl = await createQueue('metrics-oldest');
    const before = Date.now();
    await old.send(new oldest.SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'old' }));
    const { Messages = [] } = await old.send(new oldest.ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
    const after = Date.now();
    expect(Messages.map((message) => [message.Body, message.Attributes])).toEqual([['old', undefined]]);
    const [queueTime] = await points('threadline.messaging.queue.time', { 'messaging.destination.name': queueName(queueUrl) });
    expect(queueTime.count).toBe(1);
    expect(queueTime.max!).toBeLessThanOrEqual((after - before) / 1000 + MS);
  } finally {
    old.destroy();
    instrumentation.getModuleDefinitions()[0].unpatch?.({ SQSClient: oldest.SQSClient }, '3.447.0');
  }
});

test('under the register hook, three processes (CommonJS and ESM, newest and oldest SDK): each hop exports its own metrics over OTLP', async () => {
  linkOldestVersions();
  const collector = await startCollector();
  try {
    const [first, second] = [await createQueue('metrics-hook1'), await createQueue('metrics-hook2')];
    const prefix = `sqs-metrics-${Date.now().toString(36)}`;
    const common = { collector, metrics: true };
    await runRole(NEWEST_CJS, 'send', { ...common, serviceName: `${prefix}-a`, env: { QUEUE_URL: first } });
    const relay = await runRole(OLDEST_ESM, 'receive', { ...common, serviceName: `${prefix}-b`, env: { QUEUE_URL: first, NEXT_QUEUE_URL: second } });
    const last = await runRole(NEWEST_CJS, 'receive', { ...common, serviceName: `${prefix}-c`, env: { QUEUE_URL: second } });
    // What the apps saw: their messages, and no SentTimestamp (they print only MessageAttributes, which hold the context).
    expect(relay.messages.map((message: { body: string }) => message.body)).toEqual(['hello']);
    expect(last.messages.map((message: { body: string }) => message.body)).toEqual(['relayed hello']);
    const at = (service: string, name: string, queue: string) => (point: CollectedMetricPoint) =>
      point.serviceName === `${prefix}-${service}` && point.name === name && point.attributes['messaging.destination.name'] === queueName(queue);
    const points = await collector.waitForMetrics((all) => all.some(at('c', 'threadline.pipeline.duration', second)), { timeoutMs: 20_000 });
    expect(points.find(at('a', 'messaging.client.sent.messages', first))?.value).toBe(1);
    expect(points.find(at('b', 'messaging.client.consumed.messages', first))?.value).toBe(1);
    expect(points.find(at('b', 'messaging.client.sent.messages', second))?.value).toBe(1);
    expect(points.find(at('c', 'messaging.client.consumed.messages', second))?.value).toBe(1);
    expect(points.find(at('b', 'threadline.messaging.queue.time', first))?.attributes['threadline.time.source']).toBe('broker');
    // The last hop's pipeline spans both hops: at least its own queue time plus the first hop's.
    const lastQueue = points.find(at('c', 'threadline.messaging.queue.time', second))!;
    const firstQueue = points.find(at('b', 'threadline.messaging.queue.time', first))!;
    const pipeline = points.find(at('c', 'threadline.pipeline.duration', second))!;
    expect(pipeline.count).toBe(1);
    expect(pipeline.sum!).toBeGreaterThanOrEqual(lastQueue.sum! + firstQueue.sum! - MS);
  } finally {
    await collector.close();
  }
});
