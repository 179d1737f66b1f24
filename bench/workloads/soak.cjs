// Memory soak: BENCH_N messages through amqplib with threadline on, in chunks; RSS after GC is
// measured once the first chunk has warmed everything up, and again at the end.
const amqp = require('amqplib');
const { brokerAddresses } = require('@threadline/testing');
const { PAYLOAD, inRequest, now, rssAfterGc, N, RUN_ID } = require('./common.cjs');

const CHUNK = Math.min(10000, N);

async function main() {
  const connection = await amqp.connect(brokerAddresses().rabbitmq.url);
  const publisher = await connection.createChannel();
  const consumerChannel = await connection.createChannel();
  const queue = `soak-${RUN_ID}`;
  await publisher.assertQueue(queue, { durable: false, autoDelete: true });
  await consumerChannel.prefetch(500);
  let consumed = 0;
  let wake = () => {};
  await consumerChannel.consume(queue, (message) => {
    consumerChannel.ack(message);
    consumed++;
    wake();
  });
  const started = now();
  let baselineMb;
  for (let sent = 0; sent < N; sent += CHUNK) {
    await inRequest(async () => {
      for (let i = sent; i < Math.min(sent + CHUNK, N); i++) {
        if (!publisher.sendToQueue(queue, PAYLOAD)) await new Promise((resolve) => publisher.once('drain', resolve));
      }
    });
    const target = Math.min(sent + CHUNK, N);
    while (consumed < target) await new Promise((resolve) => (wake = resolve));
    await globalThis.__benchFlush();
    if (baselineMb === undefined) baselineMb = await rssAfterGc();
  }
  const endMb = await rssAfterGc();
  process.stdout.write(`${JSON.stringify({ messages: N, seconds: now() - started, baselineRssMb: baselineMb, endRssMb: endMb, growthMb: endMb - baselineMb, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
  await connection.close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
