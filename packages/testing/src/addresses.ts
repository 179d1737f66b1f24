/**
 * The one source of broker addresses for tests, the demo and tools/brokers.
 * Every port can be overridden through the environment variable named here.
 */
const HOST = '127.0.0.1';

function port(envName: string, fallback: number): number {
  const raw = process.env[envName];
  if (raw === undefined || raw === '') return fallback;
  const parsed = Number(raw);
  if (!Number.isInteger(parsed) || parsed <= 0 || parsed > 65535) {
    throw new Error(`${envName}=${raw} is not a TCP port (1-65535)`);
  }
  return parsed;
}

export interface BrokerAddresses {
  host: string;
  kafka: { port: number; controllerPort: number; brokers: string[] };
  rabbitmq: { port: number; url: string };
  elasticmq: { port: number; endpoint: string; region: string };
  mongodb: { port: number; url: string };
  k8s: { port: number; server: string };
}

/** Reads the addresses afresh, so a test can change the env before calling. */
export function brokerAddresses(): BrokerAddresses {
  const kafkaPort = port('KAFKA_PORT', 9092);
  const rabbitPort = port('RABBITMQ_PORT', 5672);
  const sqsPort = port('ELASTICMQ_PORT', 9324);
  const mongoPort = port('MONGODB_PORT', 27017);
  const k8sPort = port('K8S_API_PORT', 8001);
  return {
    host: HOST,
    kafka: { port: kafkaPort, controllerPort: port('KAFKA_CONTROLLER_PORT', 9093), brokers: [`${HOST}:${kafkaPort}`] },
    rabbitmq: { port: rabbitPort, url: `amqp://guest:guest@${HOST}:${rabbitPort}` },
    elasticmq: { port: sqsPort, endpoint: `http://${HOST}:${sqsPort}`, region: 'elasticmq' },
    mongodb: { port: mongoPort, url: `mongodb://${HOST}:${mongoPort}` },
    k8s: { port: k8sPort, server: `http://${HOST}:${k8sPort}` },
  };
}
