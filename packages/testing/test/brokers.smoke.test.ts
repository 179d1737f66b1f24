/**
 * Smoke tests for the servers `pnpm brokers up` starts: each one is used through its real client library.
 * A server that is not up fails its test with the command that starts it (never a skip).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateQueueCommand, DeleteQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import * as amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { brokerAddresses } from '../src/addresses';
import { createKafkaTopics } from '../src/kafka-topics';

jest.setTimeout(90_000);

const a = brokerAddresses();
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const id = randomUUID().slice(0, 8);

function reachable(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: a.host, port });
    const finish = (ok: boolean): void => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(2000, () => finish(false));
    socket.on('connect', () => finish(true));
    socket.on('error', () => finish(false));
  });
}

async function requireUp(name: string, port: number): Promise<void> {
  if (!(await reachable(port))) {
    throw new Error(`${name} is not up on ${a.host}:${port}: start it with \`pnpm brokers up ${name}\` (see tools/brokers/README.md)`);
  }
}

test('kafka: kafkajs produces, then consumes the same message with its headers', async () => {
  await requireUp('kafka', a.kafka.port);
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  const kafka = new Kafka({ clientId: 'brokers-smoke', brokers: a.kafka.brokers, logLevel: logLevel.NOTHING });
  const topic = `smoke-${id}`;
  const admin = kafka.admin();
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: `smoke-${id}` });
  try {
    await admin.connect();
    await createKafkaTopics(admin, [{ topic, numPartitions: 1 }]);
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'k', value: 'hello kafka', headers: { traceparent: TRACEPARENT } }] });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<{ value: string; traceparent: string }>((done, fail) => {
      const timer = setTimeout(() => fail(new Error('no Kafka message within 60 s')), 60_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          done({ value: String(message.value), traceparent: String(message.headers?.traceparent) });
        },
      });
    });
    expect(received).toEqual({ value: 'hello kafka', traceparent: TRACEPARENT });
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
});

test('rabbitmq: amqplib publishes, then gets the message with its headers', async () => {
  await requireUp('rabbitmq', a.rabbitmq.port);
  const connection = await amqp.connect(a.rabbitmq.url);
  try {
    const channel = await connection.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true });
    channel.sendToQueue(queue, Buffer.from('hello rabbit'), { headers: { traceparent: TRACEPARENT } });
    let message: amqp.GetMessage | false = false;
    for (let i = 0; i < 50 && !message; i++) {
      message = await channel.get(queue, { noAck: true });
      if (!message) await new Promise((r) => setTimeout(r, 100));
    }
    expect(message).not.toBe(false);
    const got = message as amqp.GetMessage;
    expect(got.content.toString()).toBe('hello rabbit');
    expect(got.properties.headers?.traceparent).toBe(TRACEPARENT);
    await channel.close();
  } finally {
    await connection.close();
  }
});

test('elasticmq: @aws-sdk/client-sqs sends, then receives a message with a message attribute', async () => {
  await requireUp('elasticmq', a.elasticmq.port);
  const sqs = new SQSClient({
    endpoint: a.elasticmq.endpoint,
    region: a.elasticmq.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `smoke-${id}` }));
  try {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: 'hello sqs',
        MessageAttributes: { traceparent: { DataType: 'String', StringValue: TRACEPARENT } },
      }),
    );
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MessageAttributeNames: ['All'], MaxNumberOfMessages: 1, WaitTimeSeconds: 5 }),
    );
    expect(Messages).toHaveLength(1);
    expect(Messages?.[0]?.Body).toBe('hello sqs');
    expect(Messages?.[0]?.MessageAttributes?.traceparent).toEqual({ DataType: 'String', StringValue: TRACEPARENT });
  } finally {
    await sqs.send(new DeleteQueueCommand({ QueueUrl })).catch(() => undefined);
    sqs.destroy();
  }
});

test('mongodb: the mongodb driver inserts, claims with findOneAndUpdate, and sees a change stream event', async () => {
  await requireUp('mongodb', a.mongodb.port);
  const client = new MongoClient(a.mongodb.url, { directConnection: true, serverSelectionTimeoutMS: 10_000 });
  try {
    await client.connect();
    const jobs = client.db(`smoke_${id}`).collection<{ _id: string; state: string; context?: { traceparent: string } }>('jobs');
    const stream = jobs.watch();
    // Opens the cursor now, so the insert below is seen.
    expect(await stream.tryNext()).toBeNull();
    await jobs.insertOne({ _id: 'job-1', state: 'queued', context: { traceparent: TRACEPARENT } });
    const claimed = await jobs.findOneAndUpdate({ state: 'queued' }, { $set: { state: 'claimed' } }, { returnDocument: 'after' });
    expect(claimed).toMatchObject({ _id: 'job-1', state: 'claimed', context: { traceparent: TRACEPARENT } });
    const event = await stream.next();
    expect(event).toMatchObject({ operationType: 'insert', fullDocument: { _id: 'job-1', state: 'queued' } });
    await stream.close();
  } finally {
    await client.close();
  }
});

test('kube-apiserver + k8s-runner: @kubernetes/client-node creates a Job, watches it and reads it until it succeeded', async () => {
  await requireUp('kube-apiserver', a.k8s.port);
  await requireUp('k8s-runner', a.k8s.runnerPort);
  const dir = mkdtempSync(join(tmpdir(), 'k8s-smoke-'));
  const envFile = join(dir, 'env.json');
  // @kubernetes/client-node 1.x is ESM-only and Jest's module system cannot load it: run it in a real Node process.
  const script = `
    import * as k8s from '@kubernetes/client-node';
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(process.env.KUBECONFIG);
    const batch = kc.makeApiClient(k8s.BatchV1Api);
    const name = process.env.JOB_NAME;
    const events = [];
    const watch = await new k8s.Watch(kc).watch('/apis/batch/v1/namespaces/default/jobs', { labelSelector: 'smoke=' + name },
      (type, obj) => events.push(type + ':' + (obj.status?.succeeded ?? 0)), () => {});
    await batch.createNamespacedJob({ namespace: 'default', body: {
      apiVersion: 'batch/v1', kind: 'Job',
      metadata: { name, labels: { smoke: name } },
      spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{
        name: 'main', image: 'node:20',
        command: [process.execPath, '-e', 'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.env))', process.env.ENV_FILE],
        env: [{ name: 'TRACEPARENT', value: process.env.TRACEPARENT_VALUE }],
      }] } } },
    } });
    let job;
    for (let i = 0; i < 200; i++) {
      job = await batch.readNamespacedJob({ name, namespace: 'default' });
      if (job.status?.succeeded === 1 || job.status?.failed) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 200));
    watch.abort();
    await batch.deleteNamespacedJob({ name, namespace: 'default', propagationPolicy: 'Background' });
    process.stdout.write(JSON.stringify({ status: job.status, events }));
  `;
  try {
    const out = await new Promise<string>((done, fail) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        {
          cwd: resolve(__dirname, '..'),
          env: { ...process.env, KUBECONFIG: a.k8s.kubeconfig, JOB_NAME: `smoke-${id}`, ENV_FILE: envFile, TRACEPARENT_VALUE: TRACEPARENT },
          timeout: 60_000,
        },
        (err, stdout, stderr) => (err ? fail(new Error(`${err.message}\n${stderr}`)) : done(stdout)),
      );
    });
    const result = JSON.parse(out) as { status: { succeeded?: number; conditions?: { type: string }[] }; events: string[] };
    expect(result.status.succeeded).toBe(1);
    expect(result.status.conditions?.map((c) => c.type)).toContain('Complete');
    expect(result.events[0]).toBe('ADDED:0');
    expect(result.events).toContain('MODIFIED:1');
    expect(JSON.parse(readFileSync(envFile, 'utf8')).TRACEPARENT).toBe(TRACEPARENT);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('jaeger: OTLP/HTTP in, the query API gives the trace back with both services', async () => {
  await requireUp('jaeger', a.jaeger.queryPort);
  const traceId = randomUUID().replaceAll('-', '');
  const span = (service: string, spanId: string, parentSpanId?: string) => ({
    resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
    scopeSpans: [{ spans: [{ traceId, spanId, ...(parentSpanId ? { parentSpanId } : {}), name: `smoke ${service}`, kind: 2, startTimeUnixNano: `${Date.now()}000000`, endTimeUnixNano: `${Date.now() + 1}000000` }] }],
  });
  const response = await fetch(`${a.jaeger.otlp}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ resourceSpans: [span(`smoke-a-${id}`, '1111111111111111'), span(`smoke-b-${id}`, '2222222222222222', '1111111111111111')] }),
  });
  expect(response.status).toBe(200);
  let services: string[] = [];
  for (let i = 0; i < 40 && services.length < 2; i++) {
    const answer = (await (await fetch(`${a.jaeger.query}/api/traces/${traceId}`)).json()) as { data?: { processes: Record<string, { serviceName: string }> }[] };
    services = Object.values(answer.data?.[0]?.processes ?? {}).map((p) => p.serviceName).sort();
    if (services.length < 2) await new Promise((r) => setTimeout(r, 250));
  }
  expect(services).toEqual([`smoke-a-${id}`, `smoke-b-${id}`]);
});
