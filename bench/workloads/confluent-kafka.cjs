// The kafkajs workload on @confluentinc/kafka-javascript's KafkaJS API: 1 KiB messages produced
// (100 per send call, inside a request span) and consumed with eachMessage.
const { KafkaJS } = require('@confluentinc/kafka-javascript');
const { brokerAddresses } = require('@threadline/testing');
const { PAYLOAD, measureKafkaSends, counter, RUN_ID } = require('./common.cjs');

async function main() {
  const kafka = new KafkaJS.Kafka({ kafkaJS: { clientId: 'bench', brokers: brokerAddresses().kafka.brokers, logLevel: KafkaJS.logLevel.NOTHING } });
  const topic = `bench-confluent-${RUN_ID}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
  await admin.disconnect();
  const producer = kafka.producer({ kafkaJS: { allowAutoTopicCreation: false } });
  const consumer = kafka.consumer({ kafkaJS: { groupId: `bench-${RUN_ID}`, fromBeginning: true, sessionTimeout: 10000, heartbeatInterval: 1000 } });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topic });
  const consumed = counter();
  // No GROUP_JOIN event here: the first message (sent before measuring) tells the consumer is in.
  let joined;
  const ready = new Promise((resolve) => (joined = resolve));
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value.length !== PAYLOAD.length) {
        if (message.value.toString() === 'ready') return joined();
        throw new Error('payload changed');
      }
      consumed.add();
    },
  });
  await producer.send({ topic, messages: [{ value: 'ready' }] });
  await ready;
  await measureKafkaSends({ producer, topic, consumed });
  await Promise.all([producer.disconnect(), consumer.disconnect()]);
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
