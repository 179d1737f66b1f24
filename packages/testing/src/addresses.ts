/**
 * The one source of broker addresses for tests, the demo and tools/brokers.
 * Every port can be overridden through the environment variable named here.
 */
import { join, resolve } from 'node:path';

const HOST = '127.0.0.1';
// tools/brokers' state folder (THREADLINE_BROKERS_DIR, default <repo>/.brokers): the kubeconfig it writes lives there.
const stateDir = (): string => resolve(process.env.THREADLINE_BROKERS_DIR || join(__dirname, '..', '..', '..', '.brokers'));

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
  /** The real kube-apiserver (TLS, static token): clients load `kubeconfig`, written by `brokers up kube-apiserver`. */
  k8s: { port: number; server: string; kubeconfig: string; etcdPort: number; etcdPeerPort: number; runnerPort: number };
  /** Jaeger v2: OTLP/HTTP receiver (`otlp` is what OTEL_EXPORTER_OTLP_ENDPOINT takes) and the query API. */
  jaeger: { otlpPort: number; otlp: string; queryPort: number; query: string; queryGrpcPort: number };
}

/** Reads the addresses afresh, so a test can change the env before calling. */
export function brokerAddresses(): BrokerAddresses {
  const kafkaPort = port('KAFKA_PORT', 9092);
  const rabbitPort = port('RABBITMQ_PORT', 5672);
  const sqsPort = port('ELASTICMQ_PORT', 9324);
  const mongoPort = port('MONGODB_PORT', 27017);
  const k8sPort = port('K8S_APISERVER_PORT', 6443);
  const otlpPort = port('JAEGER_OTLP_PORT', 14318);
  const queryPort = port('JAEGER_QUERY_PORT', 16686);
  return {
    host: HOST,
    kafka: { port: kafkaPort, controllerPort: port('KAFKA_CONTROLLER_PORT', 9093), brokers: [`${HOST}:${kafkaPort}`] },
    rabbitmq: { port: rabbitPort, url: `amqp://guest:guest@${HOST}:${rabbitPort}` },
    elasticmq: { port: sqsPort, endpoint: `http://${HOST}:${sqsPort}`, region: 'elasticmq' },
    mongodb: { port: mongoPort, url: `mongodb://${HOST}:${mongoPort}` },
    k8s: {
      port: k8sPort,
      server: `https://${HOST}:${k8sPort}`,
      kubeconfig: join(stateDir(), 'conf', 'kube-apiserver', 'kubeconfig'),
      etcdPort: port('ETCD_PORT', 2379),
      etcdPeerPort: port('ETCD_PEER_PORT', 2380),
      runnerPort: port('K8S_RUNNER_PORT', 6444),
    },
    jaeger: {
      otlpPort,
      otlp: `http://${HOST}:${otlpPort}`,
      queryPort,
      query: `http://${HOST}:${queryPort}`,
      queryGrpcPort: port('JAEGER_QUERY_GRPC_PORT', 16685),
    },
  };
}
