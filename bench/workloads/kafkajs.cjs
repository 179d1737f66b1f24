// N messages of 1 KiB produced (100 per send call, inside a request span) and consumed with eachMessage.
const { Kafka, logLevel } = require('kafkajs');
const { brokerAddresses } = require('@threadline/testing');
const { PAYLOAD, inRequest, report, now, rssAfterGc, N, RUN_ID } = require('./common.cjs');

async function main() {
  const kafka = new Kafka({ clientId: 'bench', brokers: brokerAddresses().kafka.brokers, logLevel: logLevel.NOTHING });
  const topic = `bench-${RUN_ID}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: `bench-${RUN_ID}`, sessionTimeout: 10000, heartbeatInterval: 1000 });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topic, fromBeginning: true });
  let consumed = 0;
  let done;
  const allConsumed = new Promise((resolve) => (done = resolve));
  const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value.length !== PAYLOAD.length) throw new Error('payload changed');
      if (++consumed === N) done();
    },
  });
  await joined;
  const cpuStart = process.cpuUsage();
  const started = now();
  for (let sent = 0; sent < N; sent += 100) {
    const batch = Array.from({ length: Math.min(100, N - sent) }, (_, i) => ({ key: String(sent + i), value: PAYLOAD, headers: { app: 'bench' } }));
    await inRequest(() => producer.send({ topic, messages: batch }));
  }
  await allConsumed;
  const seconds = now() - started;
  await globalThis.__benchFlush();
  const rssAfterGcMb = await rssAfterGc();
  report({ messages: N, seconds, cpuStart, rssAfterGcMb });
  await Promise.all([producer.disconnect(), consumer.disconnect()]);
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
