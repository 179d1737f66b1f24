// 1 KiB messages sent with SendMessageBatch (10 per call, inside a request span), then received
// with ReceiveMessage (10 at a time) + DeleteMessageBatch.
const { SQSClient, CreateQueueCommand, DeleteQueueCommand, SendMessageBatchCommand, ReceiveMessageCommand, DeleteMessageBatchCommand } = require('@aws-sdk/client-sqs');
const { brokerAddresses } = require('@threadline/testing');
const { PAYLOAD, WIRE_CONTEXT, inRequest, measure, RUN_ID } = require('./common.cjs');

async function main() {
  const { endpoint, region } = brokerAddresses().elasticmq;
  const client = new SQSClient({ endpoint, region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: `bench-${RUN_ID}` }));
  const body = PAYLOAD.toString('utf8');
  // Received after the sends, not alongside them: a poll racing the sender returns fewer messages
  // per call, and the calls per message (most of the client's CPU) would vary from run to run.
  let consumed = 0;
  async function receive(total) {
    while (consumed < total) {
      const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      for (const message of Messages) if (message.Body.length !== body.length) throw new Error('payload changed');
      if (Messages.length > 0) {
        await client.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
      }
      consumed += Messages.length;
    }
  }
  await measure({
    async send(from, count) {
      for (let sent = 0; sent < count; sent += 10) {
        const entries = Array.from({ length: Math.min(10, count - sent) }, (_, i) => ({
          Id: String(i),
          MessageBody: body,
          MessageAttributes: WIRE_CONTEXT
            ? { app: { DataType: 'String', StringValue: 'bench' }, traceparent: { DataType: 'String', StringValue: WIRE_CONTEXT } }
            : { app: { DataType: 'String', StringValue: 'bench' } },
        }));
        await inRequest(() => client.send(new SendMessageBatchCommand({ QueueUrl, Entries: entries })));
      }
    },
    consumedAtLeast: receive,
  });
  // Every run makes its own queue; ElasticMQ keeps them in memory.
  await client.send(new DeleteQueueCommand({ QueueUrl }));
  client.destroy();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
