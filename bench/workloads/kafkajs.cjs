// 1 KiB messages produced (100 per send call, inside a request span) and consumed with eachMessage.
const { Kafka, logLevel } = require('kafkajs');
const { brokerAddresses, createKafkaTopics } = require('@threadline/testing');
const { PAYLOAD, measureKafkaSends, counter, RUN_ID } = require('./common.cjs');

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
  await measureKafkaSends({ producer, topic, consumed });
  await Promise.all([producer.disconnect(), consumer.disconnect()]);
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
