// 1 KiB messages produced with @platformatic/kafka (100 per send call, inside a request span) and
// consumed from its messages stream with a 'data' listener. Needs Node 22.22+ or 24.6+.
const { Producer, Consumer } = require('@platformatic/kafka');
const { Kafka, logLevel } = require('kafkajs');
const { brokerAddresses, createKafkaTopics } = require('@threadline/testing');
const { PAYLOAD, WIRE_CONTEXT, inRequest, measure, counter, RUN_ID } = require('./common.cjs');

async function main() {
  const brokers = brokerAddresses().kafka.brokers;
  const topic = `bench-platformatic-${RUN_ID}`;
  const admin = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await createKafkaTopics(admin, [{ topic, numPartitions: 1 }]);
  await admin.disconnect();
  const producer = new Producer({ clientId: 'bench', bootstrapBrokers: brokers });
  const consumer = new Consumer({ groupId: `bench-platformatic-${RUN_ID}`, clientId: 'bench', bootstrapBrokers: brokers, maxWaitTime: 100 });
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
  const consumed = counter();
  stream.on('data', (message) => {
    if (message.value.length !== PAYLOAD.length) throw new Error('payload changed');
    consumed.add();
  });
  const APP = Buffer.from('app');
  const BENCH = Buffer.from('bench');
  const TRACEPARENT = Buffer.from('traceparent');
  const CONTEXT = WIRE_CONTEXT && Buffer.from(WIRE_CONTEXT);
  const headers = () => new Map(CONTEXT ? [[APP, BENCH], [TRACEPARENT, CONTEXT]] : [[APP, BENCH]]);
  await measure({
    async send(from, count) {
      for (let sent = 0; sent < count; sent += 100) {
        const messages = Array.from({ length: Math.min(100, count - sent) }, (_, i) => ({ topic, key: Buffer.from(String(from + sent + i)), value: PAYLOAD, headers: headers() }));
        await inRequest(() => producer.send({ messages }));
      }
    },
    consumedAtLeast: (total) => consumed.atLeast(total),
  });
  await consumer.close(true);
  await producer.close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
