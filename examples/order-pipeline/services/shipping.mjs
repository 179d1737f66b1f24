// shipping: consumes payments from RabbitMQ and books a shipment on the SQS queue `shipments`.
// The consume callback runs inside the message's trace (threadline's amqplib instrumentation);
// the SendMessage inside it carries the trace on in message attributes (threadline's sqs one).
import { trace } from '@opentelemetry/api';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import amqp from 'amqplib';

const sqs = new SQSClient({
  endpoint: process.env.SQS_ENDPOINT ?? 'http://127.0.0.1:9324',
  region: process.env.SQS_REGION ?? 'elasticmq',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'shipments' }));

const connection = await amqp.connect(process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const channel = await connection.createChannel();
await channel.assertExchange('payments', 'topic', { durable: true });
await channel.assertQueue('shipping', { durable: true });
await channel.bindQueue('shipping', 'payments', 'payment.captured');
await channel.prefetch(10);

await channel.consume('shipping', async (message) => {
  const payment = JSON.parse(message.content.toString());
  trace.getActiveSpan()?.setAttribute('order.id', payment.orderId);
  try {
    const shipment = { orderId: payment.orderId, carrier: 'parcel-co', bookedAt: new Date().toISOString() };
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify(shipment) }));
    channel.ack(message);
    console.log(`order ${payment.orderId} shipment booked with ${shipment.carrier}`);
  } catch (error) {
    console.error(`order ${payment.orderId}: booking failed: ${error.message}`);
    channel.nack(message);
  }
});
console.log('shipping ready: consuming RabbitMQ queue shipping (bound to exchange payments)');

async function shutdown() {
  await connection.close();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
