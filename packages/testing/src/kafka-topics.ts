// Topic set-up that survives KRaft's metadata lag. Right after CreateTopics a broker can still
// answer UNKNOWN_TOPIC_OR_PARTITION for the new topic, and kafkajs' `waitForLeaders` retries only
// LEADER_NOT_AVAILABLE, so it throws. That failed a CI run.

/** A topic to create: the fields of kafkajs' ITopicConfig the tests use. */
export interface KafkaTopicConfig {
  topic: string;
  numPartitions?: number;
  replicationFactor?: number;
  configEntries?: { name: string; value: string }[];
}

/** The part of a kafkajs Admin this needs (kafkajs stays a devDependency). */
export interface KafkaTopicAdmin {
  createTopics(options: { topics: KafkaTopicConfig[]; waitForLeaders?: boolean }): Promise<boolean>;
  fetchTopicMetadata(options: { topics: string[] }): Promise<{ topics: { name: string; partitions: { leader: number }[] }[] }>;
}

export interface CreateKafkaTopicsOptions {
  /** How long to wait for every partition to have a leader. @default 30000 */
  timeoutMs?: number;
}

// Errors a broker gives while it catches up with the controller.
const CATCHING_UP = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'NOT_LEADER_OR_FOLLOWER']);

function isCatchingUp(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type;
  return typeof type === 'string' && CATCHING_UP.has(type);
}

/**
 * Creates the topics (one partition, replication 1 unless given) and resolves once every
 * partition has a leader. An existing topic is left as it is.
 */
export async function createKafkaTopics(
  admin: KafkaTopicAdmin,
  topics: (string | KafkaTopicConfig)[],
  options: CreateKafkaTopicsOptions = {},
): Promise<void> {
  if (topics.length === 0) return;
  const configs = topics.map((topic) => (typeof topic === 'string' ? { topic } : topic));
  await admin.createTopics({
    topics: configs.map((config) => ({ numPartitions: 1, replicationFactor: 1, ...config })),
    waitForLeaders: false,
  });
  const names = configs.map((config) => config.topic);
  const timeoutMs = options.timeoutMs ?? 30000;
  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'no metadata yet';
  for (;;) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: names });
      const leaderless = names.filter((name) => {
        const topic = metadata.topics.find((candidate) => candidate.name === name);
        return topic === undefined || topic.partitions.length === 0 || topic.partitions.some((partition) => partition.leader < 0);
      });
      if (leaderless.length === 0) return;
      lastProblem = `no leader yet for ${leaderless.join(', ')}`;
    } catch (error) {
      if (!isCatchingUp(error)) throw error;
      lastProblem = (error as Error).message;
    }
    if (Date.now() >= deadline) {
      throw new Error(`Kafka topics ${names.join(', ')} were created but are not ready after ${timeoutMs} ms: ${lastProblem}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
