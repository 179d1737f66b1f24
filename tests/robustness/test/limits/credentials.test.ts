// Credentials in connection URLs and client configs, and message bodies, never reach a span:
// real connections to RabbitMQ (amqp://guest:guest@…), MongoDB (mongodb://user:password@…,
// SASL PLAIN), SQS (an access key pair) and Kafka; every string of every exported span is scanned.
import { startCollector, type CollectedSpan } from '@threadline/testing';
import { run, unique } from './support';

const SECRETS = {
  mongoUser: 'threadline-db-user',
  mongoPassword: 's3cr3t-Pa55w0rd',
  awsKeyId: 'AKIATHREADLINESECRET',
  awsSecret: 'threadline-aws-secret-key',
  body: 'BODY-jane.doe@example.com-4111111111111111',
  kafkaKey: 'customer-42-jane.doe@example.com',
};

/** Everything a span carries, as text: name, attributes, events, links, status, resource service. */
const spanText = (span: CollectedSpan) => JSON.stringify(span);

test('no credential, message body or message key in any span of any transport', async () => {
  const collector = await startCollector();
  try {
    const service = `limits-credentials-${unique('svc')}`;
    await run('limits-credentials.cjs', {
      collector,
      serviceName: service,
      env: {
        SECRETS: JSON.stringify(SECRETS),
        DESTINATION: unique('cred'),
        THREADLINE_MONGODB_QUEUE_COLLECTIONS: 'threadline_limits.*',
      },
    });
    const spans = (
      await collector.waitFor(
        (all) => ['rabbitmq', 'mongodb', 'aws_sqs', 'kafka'].every((system) => all.some((span) => span.serviceName === service && span.attributes['messaging.system'] === system && span.kind === 'CONSUMER')),
        { timeoutMs: 20_000 },
      )
    ).filter((span) => span.serviceName === service);
    // Spans of every transport, sends and receives, each naming its server by host and port.
    for (const system of ['rabbitmq', 'mongodb', 'aws_sqs', 'kafka']) {
      const mine = spans.filter((span) => span.attributes['messaging.system'] === system);
      expect([system, mine.some((span) => span.kind === 'PRODUCER'), mine.some((span) => span.kind === 'CONSUMER')]).toEqual([system, true, true]);
      expect([system, mine.every((span) => span.attributes['server.address'] === '127.0.0.1')]).toEqual([system, true]);
    }
    const leaks = spans.flatMap((span) =>
      ['guest', ...Object.values(SECRETS), 'jane.doe', '4111111111111111'].filter((secret) => spanText(span).includes(secret)).map((secret) => `${span.name}: ${secret}`),
    );
    expect(leaks).toEqual([]);
  } finally {
    await collector.close();
  }
});
