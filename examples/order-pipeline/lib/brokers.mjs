// A quick reachability check of every server the pipeline needs, so a missing broker is a clear
// message within a second or two instead of a client library retrying for minutes.
import { connect } from 'node:net';

/** What the pipeline needs, from @threadline/testing's brokerAddresses(). */
export function requiredBrokers(addresses) {
  return [
    { name: 'kafka', label: 'Kafka', host: addresses.host, port: addresses.kafka.port },
    { name: 'rabbitmq', label: 'RabbitMQ', host: addresses.host, port: addresses.rabbitmq.port },
    { name: 'elasticmq', label: 'ElasticMQ (SQS)', host: addresses.host, port: addresses.elasticmq.port },
    { name: 'mongodb', label: 'MongoDB', host: addresses.host, port: addresses.mongodb.port },
    { name: 'kube-apiserver', label: 'kube-apiserver', host: addresses.host, port: addresses.k8s.port },
    { name: 'k8s-runner', label: 'the local Kubernetes job runner', host: addresses.host, port: addresses.k8s.runnerPort },
  ];
}

/** True when Jaeger's query API answers: the demo then sends it a copy of every span. Never rejects. */
export async function jaegerUp(addresses, timeoutMs = 1500) {
  try {
    const response = await fetch(`${addresses.jaeger.query}/api/services`, { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok;
  } catch {
    return false;
  }
}

/** Resolves with `undefined` when a TCP connection opens, else with the reason. Never rejects. */
export function probe(host, port, timeoutMs = 1500) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (reason) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => done(undefined));
    socket.once('error', (error) => done(error.code ?? error.message));
  });
}

/** Checks all brokers in parallel: `[{ ...broker, error? }]`. */
export async function checkBrokers(brokers, timeoutMs) {
  return Promise.all(brokers.map(async (broker) => ({ ...broker, error: await probe(broker.host, broker.port, timeoutMs) })));
}
