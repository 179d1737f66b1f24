// payments: consumes `orders` from Kafka, charges the order and publishes the payment to the
// RabbitMQ exchange `payments`. eachMessage runs inside the message's trace (threadline's kafkajs
// instrumentation), and the publish inside it carries that trace on (threadline's amqplib one).
import { trace } from '@opentelemetry/api';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';

const kafka = new Kafka({
  clientId: 'payments',
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  logLevel: logLevel.WARN,
});
// A shorter session than the 30 s default: a payments process that died without leaving the
// group holds up the next one's join only this long.
const consumer = kafka.consumer({ groupId: 'payments', sessionTimeout: 10000 });

// Whichever of api and payments starts first creates the topic; the other finds it there.
const admin = kafka.admin();
await admin.connect();
if (!(await admin.listTopics()).includes('orders')) await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 1 }] });
await admin.disconnect();

const connection = await amqp.connect(process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const channel = await connection.createChannel();
await channel.assertExchange('payments', 'topic', { durable: true });

await consumer.connect();
await consumer.subscribe({ topic: 'orders' });
consumer.on(consumer.events.GROUP_JOIN, () => console.log('payments ready: consuming Kafka topic orders'));

await consumer.run({
  eachMessage: async ({ message }) => {
    const order = JSON.parse(message.value.toString());
    trace.getActiveSpan()?.setAttribute('order.id', order.id);
    const payment = { orderId: order.id, amount: 12.5 * (order.quantity ?? 1), currency: 'EUR', paidAt: new Date().toISOString() };
    channel.publish('payments', 'payment.captured', Buffer.from(JSON.stringify(payment)), {
      contentType: 'application/json',
      persistent: true,
    });
    console.log(`order ${order.id} paid: ${payment.amount} ${payment.currency}`);
  },
});

async function shutdown() {
  await consumer.disconnect();
  await connection.close();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
