// The pull shapes: the consumer fetches messages in its own loop, and the user's work after the
// fetch (a span per message) is where following shows. BENCH_TRANSPORT picks the shape:
//   kafkajs  eachBatch, a for...of over batch.messages
//   amqplib  `await channel.get()` in a loop, then ack
//   sqs      a raw ReceiveMessage loop (10 at a time), then DeleteMessageBatch
//   mongodb  a findOneAndUpdate claim loop
// Every message carries the trace id of the request that produced it in a user field, and the
// work counts how often it ran in that trace: the proof that a variant followed the work.
const { context, trace } = require('@opentelemetry/api');
const { brokerAddresses, createKafkaTopics } = require('@threadline/testing');
const { PAYLOAD, inRequest, measure, counter, RUN_ID } = require('./common.cjs');

const tracer = trace.getTracer('bench-work');
let followed = 0;

/** The user's own work for one message: a span, in whatever context the code is in. */
function work(producerTraceId) {
  tracer.startActiveSpan('work', (span) => {
    if (span.spanContext().traceId === producerTraceId) followed++;
    span.end();
  });
}

const requestTraceId = () => trace.getSpan(context.active())?.spanContext().traceId ?? '';

async function kafkajsEachBatch() {
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({ clientId: 'bench-pull', brokers: brokerAddresses().kafka.brokers, logLevel: logLevel.NOTHING });
  const topic = `bench-pull-${RUN_ID}`;
  const admin = kafka.admin();
  await admin.connect();
  await createKafkaTopics(admin, [topic]);
  await admin.disconnect();
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: `bench-pull-${RUN_ID}`, sessionTimeout: 10000, heartbeatInterval: 1000 });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topic, fromBeginning: true });
  const consumed = counter();
  const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
  await consumer.run({
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        if (message.value.length !== PAYLOAD.length) throw new Error('payload changed');
        work(message.headers['x-request-trace'].toString());
      }
      consumed.add(batch.messages.length);
    },
  });
  await joined;
  return {
    async send(from, count) {
      for (let sent = 0; sent < count; sent += 100) {
        await inRequest(() => {
          const headers = { 'x-request-trace': requestTraceId() };
          const messages = Array.from({ length: Math.min(100, count - sent) }, (_, i) => ({ key: String(from + sent + i), value: PAYLOAD, headers: { ...headers } }));
          return producer.send({ topic, messages });
        });
      }
    },
    consumedAtLeast: (total) => consumed.atLeast(total),
    close: () => Promise.all([producer.disconnect(), consumer.disconnect()]),
  };
}

async function amqplibGet() {
  const amqp = require('amqplib');
  // noDelay: a get loop is one small request per message, and with Nagle each waits out the
  // broker's delayed ACK (about 40 ms), in every variant alike.
  const connection = await amqp.connect(brokerAddresses().rabbitmq.url, { noDelay: true });
  const publisher = await connection.createChannel();
  const channel = await connection.createChannel();
  const queue = `bench-pull-${RUN_ID}`;
  await publisher.assertQueue(queue, { durable: false, autoDelete: false });
  let consumed = 0;
  return {
    async send(from, count) {
      for (let sent = 0; sent < count; sent += 100) {
        await inRequest(async () => {
          const headers = { 'x-request-trace': requestTraceId() };
          for (let i = sent; i < Math.min(sent + 100, count); i++) {
            if (!publisher.sendToQueue(queue, PAYLOAD, { headers: { ...headers } })) await new Promise((resolve) => publisher.once('drain', resolve));
          }
        });
      }
    },
    async consumedAtLeast(total) {
      while (consumed < total) {
        const message = await channel.get(queue);
        if (message === false) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          continue;
        }
        if (message.content.length !== PAYLOAD.length) throw new Error('payload changed');
        work(message.properties.headers['x-request-trace']);
        channel.ack(message);
        consumed++;
      }
    },
    async close() {
      await channel.deleteQueue(queue);
      await connection.close();
    },
  };
}

async function sqsReceive() {
  const { SQSClient, CreateQueueCommand, DeleteQueueCommand, SendMessageBatchCommand, ReceiveMessageCommand, DeleteMessageBatchCommand } = require('@aws-sdk/client-sqs');
  const { endpoint, region } = brokerAddresses().elasticmq;
  const client = new SQSClient({ endpoint, region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: `bench-pull-${RUN_ID}` }));
  const body = PAYLOAD.toString('utf8');
  let consumed = 0;
  return {
    async send(from, count) {
      for (let sent = 0; sent < count; sent += 10) {
        await inRequest(() => {
          const trace = { DataType: 'String', StringValue: requestTraceId() };
          const Entries = Array.from({ length: Math.min(10, count - sent) }, (_, i) => ({ Id: String(i), MessageBody: body, MessageAttributes: { 'x-request-trace': trace } }));
          return client.send(new SendMessageBatchCommand({ QueueUrl, Entries }));
        });
      }
    },
    async consumedAtLeast(total) {
      while (consumed < total) {
        const { Messages = [] } = await client.send(
          new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['x-request-trace'] }),
        );
        for (const message of Messages) {
          if (message.Body.length !== body.length) throw new Error('payload changed');
          work(message.MessageAttributes['x-request-trace'].StringValue);
        }
        if (Messages.length > 0) {
          await client.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
        }
        consumed += Messages.length;
      }
    },
    async close() {
      await client.send(new DeleteQueueCommand({ QueueUrl }));
      client.destroy();
    },
  };
}

async function mongodbClaim() {
  const { MongoClient } = require('mongodb');
  const client = new MongoClient(brokerAddresses().mongodb.url);
  await client.connect();
  // bench.queue is the collection preload.cjs opts in.
  const queue = client.db('bench').collection('queue');
  const body = PAYLOAD.toString('utf8');
  const run = `pull-${RUN_ID}`;
  let claimed = 0;
  return {
    async send(from, count) {
      for (let sent = 0; sent < count; sent += 100) {
        await inRequest(() => {
          const requestTrace = requestTraceId();
          return queue.insertMany(Array.from({ length: Math.min(100, count - sent) }, () => ({ run, state: 'new', body, requestTrace })));
        });
      }
    },
    async consumedAtLeast(total) {
      while (claimed < total) {
        const document = await queue.findOneAndUpdate({ run, state: 'new' }, { $set: { state: 'done' } }, { returnDocument: 'after' });
        if (!document) throw new Error(`queue ran dry after ${claimed} claims`);
        if (document.body.length !== body.length) throw new Error('payload changed');
        work(document.requestTrace);
        claimed++;
      }
    },
    async close() {
      await queue.deleteMany({ run });
      await client.close();
    },
  };
}

const SHAPES = { kafkajs: kafkajsEachBatch, amqplib: amqplibGet, sqs: sqsReceive, mongodb: mongodbClaim };

async function main() {
  const shape = SHAPES[process.env.BENCH_TRANSPORT];
  if (shape === undefined) throw new Error(`no pull shape for BENCH_TRANSPORT=${process.env.BENCH_TRANSPORT}`);
  const { close, ...workload } = await shape();
  let measuredFrom = 0;
  await measure({
    ...workload,
    async send(from, count) {
      // The warm-up's work is not counted: `followed` covers the measured messages only.
      if (from > 0 && measuredFrom === 0) {
        measuredFrom = from;
        followed = 0;
      }
      await workload.send(from, count);
    },
    extra: () => ({ followed }),
  });
  await close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
