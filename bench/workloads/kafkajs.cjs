// 1 KiB messages produced (100 per send call, inside a request span) and consumed with eachMessage.
const { Kafka, logLevel } = require('kafkajs');
const { brokerAddresses, createKafkaTopics } = require('@threadline/testing');
const { PAYLOAD, WIRE_CONTEXT, inRequest, measure, counter, RUN_ID } = require('./common.cjs');

async function main() {
  const kafka = new Kafka({ clientId: 'bench', brokers: brokerAddresses().kafka.brokers, logLevel: logLevel.NOTHING });
  const topic = `bench-${RUN_ID}`;
  const admin = kafka.admin();
  await admin.connect();
  await createKafkaTopics(admin, [{ topic, numPartitions: 1 }]);
  await admin.disconnect();
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: `bench-${RUN_ID}`, sessionTimeout: 10000, heartbeatInterval: 1000 });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topic, fromBeginning: true });
  const consumed = counter();
  const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value.length !== PAYLOAD.length) throw new Error('payload changed');
      consumed.add();
    },
  });
  await joined;
  const headers = () => (WIRE_CONTEXT ? { app: 'bench', traceparent: WIRE_CONTEXT } : { app: 'bench' });
  await measure({
    async send(from, count) {
      for (let sent = 0; sent < count; sent += 100) {
        const batch = Array.from({ length: Math.min(100, count - sent) }, (_, i) => ({ key: String(from + sent + i), value: PAYLOAD, headers: headers() }));
        await inRequest(() => producer.send({ topic, messages: batch }));
      }
    },
    consumedAtLeast: (total) => consumed.atLeast(total),
  });
  await Promise.all([producer.disconnect(), consumer.disconnect()]);
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
