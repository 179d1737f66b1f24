// N messages of 1 KiB published (one publish per message, inside a request span per 100) on a
// ConfirmChannel-free channel and consumed with consume + ack.
const amqp = require('amqplib');
const { brokerAddresses } = require('@threadline/testing');
const { PAYLOAD, inRequest, report, now, rssAfterGc, N, RUN_ID } = require('./common.cjs');

async function main() {
  const connection = await amqp.connect(brokerAddresses().rabbitmq.url);
  const publisher = await connection.createChannel();
  const consumerChannel = await connection.createChannel();
  const queue = `bench-${RUN_ID}`;
  await publisher.assertQueue(queue, { durable: false, autoDelete: true });
  await consumerChannel.prefetch(500);
  let consumed = 0;
  let done;
  const allConsumed = new Promise((resolve) => (done = resolve));
  await consumerChannel.consume(queue, (message) => {
    if (message.content.length !== PAYLOAD.length) throw new Error('payload changed');
    consumerChannel.ack(message);
    if (++consumed === N) done();
  });
  const cpuStart = process.cpuUsage();
  const started = now();
  for (let sent = 0; sent < N; sent += 100) {
    await inRequest(async () => {
      for (let i = sent; i < Math.min(sent + 100, N); i++) {
        if (!publisher.sendToQueue(queue, PAYLOAD, { headers: { app: 'bench' } })) {
          await new Promise((resolve) => publisher.once('drain', resolve));
        }
      }
    });
  }
  await allConsumed;
  const seconds = now() - started;
  await globalThis.__benchFlush();
  const rssAfterGcMb = await rssAfterGc();
  report({ messages: N, seconds, cpuStart, rssAfterGcMb });
  await connection.close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
