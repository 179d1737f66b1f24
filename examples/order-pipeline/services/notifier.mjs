// notifier: receives shipments from SQS with sqs-consumer and writes a notification into the
// MongoDB outbox `shop.outbox`. The handler runs inside the message's trace (threadline's sqs
// instrumentation), and the inserted document carries it on in its `_otel` field (threadline's
// mongodb-queue instrumentation; the collection is opted in by THREADLINE_MONGODB_QUEUE_COLLECTIONS).
import { trace } from '@opentelemetry/api';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { MongoClient } from 'mongodb';
import { Consumer } from 'sqs-consumer';

const sqs = new SQSClient({
  endpoint: process.env.SQS_ENDPOINT ?? 'http://127.0.0.1:9324',
  region: process.env.SQS_REGION ?? 'elasticmq',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'shipments' }));

const mongo = await MongoClient.connect(process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017');
const outbox = mongo.db('shop').collection('outbox');

const consumer = Consumer.create({
  queueUrl: QueueUrl,
  sqs,
  waitTimeSeconds: 1,
  handleMessage: async (message) => {
    const shipment = JSON.parse(message.Body);
    trace.getActiveSpan()?.setAttribute('order.id', shipment.orderId);
    await outbox.insertOne({
      orderId: shipment.orderId,
      type: 'order-shipped',
      text: `Your order ${shipment.orderId} is on its way with ${shipment.carrier}.`,
      status: 'pending',
      createdAt: new Date(),
    });
    console.log(`order ${shipment.orderId}: customer notification queued in shop.outbox`);
    return message;
  },
});
consumer.on('error', (error) => console.error(`sqs-consumer: ${error.message}`));
consumer.on('processing_error', (error) => console.error(`processing failed: ${error.message}`));
consumer.start();
console.log('notifier ready: receiving from SQS queue shipments');

async function shutdown() {
  consumer.stop(); // no abort: an aborted poll would be recorded as a failed receive
  await mongo.close();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
