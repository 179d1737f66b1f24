// 1 KiB messages published (one publish per message, inside a request span per 100) on a
// ConfirmChannel-free channel and consumed with consume + ack.
const amqp = require('amqplib');
const { brokerAddresses } = require('@threadline/testing');
const { PAYLOAD, WIRE_CONTEXT, inRequest, measure, counter, RUN_ID } = require('./common.cjs');

async function main() {
  const connection = await amqp.connect(brokerAddresses().rabbitmq.url);
  const publisher = await connection.createChannel();
  const consumerChannel = await connection.createChannel();
  const queue = `bench-${RUN_ID}`;
  await publisher.assertQueue(queue, { durable: false, autoDelete: true });
  await consumerChannel.prefetch(500);
  const consumed = counter();
  await consumerChannel.consume(queue, (message) => {
    if (message.content.length !== PAYLOAD.length) throw new Error('payload changed');
    consumerChannel.ack(message);
    consumed.add();
  });
  const headers = () => (WIRE_CONTEXT ? { app: 'bench', traceparent: WIRE_CONTEXT } : { app: 'bench' });
  await measure({
    async send(from, count) {
      for (let sent = 0; sent < count; sent += 100) {
        await inRequest(async () => {
          for (let i = sent; i < Math.min(sent + 100, count); i++) {
            if (!publisher.sendToQueue(queue, PAYLOAD, { headers: headers() })) {
              await new Promise((resolve) => publisher.once('drain', resolve));
            }
          }
        });
      }
    },
    consumedAtLeast: (total) => consumed.atLeast(total),
  });
  await connection.close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
