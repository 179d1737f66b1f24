import { createKafkaTopics, type KafkaTopicAdmin, type KafkaTopicConfig } from '../src/kafka-topics';

class ProtocolError extends Error {
  constructor(readonly type: string) {
    super(type === 'UNKNOWN_TOPIC_OR_PARTITION' ? 'This server does not host this topic-partition' : type);
  }
}

/** An admin whose metadata answers follow a script: an error to throw, or a leader per topic. */
function scriptedAdmin(answers: (Error | number)[]) {
  const created: KafkaTopicConfig[][] = [];
  let metadataCalls = 0;
  const admin: KafkaTopicAdmin = {
    createTopics({ topics }) {
      created.push(topics);
      return Promise.resolve(true);
    },
    fetchTopicMetadata({ topics }) {
      const answer = answers[Math.min(metadataCalls++, answers.length - 1)];
      if (answer instanceof Error) return Promise.reject(answer);
      return Promise.resolve({ topics: topics.map((name) => ({ name, partitions: [{ leader: answer }] })) });
    },
  };
  return { admin, created, metadataCalls: () => metadataCalls };
}

test('waits through the broker catching up (the error kafkajs waitForLeaders throws on)', async () => {
  const { admin, created, metadataCalls } = scriptedAdmin([new ProtocolError('UNKNOWN_TOPIC_OR_PARTITION'), -1, 1]);
  await createKafkaTopics(admin, ['a', { topic: 'b', configEntries: [{ name: 'max.message.bytes', value: '4096' }] }]);
  expect(metadataCalls()).toBe(3);
  expect(created).toEqual([
    [
      { topic: 'a', numPartitions: 1, replicationFactor: 1 },
      { topic: 'b', numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '4096' }] },
    ],
  ]);
});

test('any other error is thrown at once', async () => {
  const { admin, metadataCalls } = scriptedAdmin([new ProtocolError('TOPIC_AUTHORIZATION_FAILED')]);
  await expect(createKafkaTopics(admin, ['a'])).rejects.toThrow('TOPIC_AUTHORIZATION_FAILED');
  expect(metadataCalls()).toBe(1);
});

test('gives up with the topic names and the last problem once the time is over', async () => {
  const { admin } = scriptedAdmin([-1]);
  await expect(createKafkaTopics(admin, ['a'], { timeoutMs: 250 })).rejects.toThrow(
    'Kafka topics a were created but are not ready after 250 ms: no leader yet for a',
  );
});

test('no topics: nothing is asked of the broker', async () => {
  const { admin, created, metadataCalls } = scriptedAdmin([1]);
  await createKafkaTopics(admin, []);
  expect(created).toEqual([]);
  expect(metadataCalls()).toBe(0);
});
