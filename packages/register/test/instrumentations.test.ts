import { configFromEnv, INSTRUMENTATIONS, selectInstrumentations } from '../src/instrumentations';

test('every transport has a short name, and the names are the documented ones', () => {
  expect(INSTRUMENTATIONS.map((entry) => entry.short)).toEqual(['kafkajs', 'platformatic-kafka', 'confluent-kafka', 'amqplib', 'sqs', 'mongodb-queue', 'k8s-job', 'child-process']);
});

test('platformatic-kafka is selected only on the Node versions @platformatic/kafka runs on, and dropped silently elsewhere', () => {
  const unknown: string[] = [];
  const env = { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'platformatic-kafka,kafkajs' };
  const on = (version: string) => selectInstrumentations(env, (name) => unknown.push(name), version).map((entry) => entry.short);
  for (const version of ['22.22.0', '22.23.5', '24.6.0', '24.22.3']) expect(on(version)).toEqual(['kafkajs', 'platformatic-kafka']);
  for (const version of ['20.20.2', '22.21.1', '23.11.0', '24.5.0', '25.0.0']) expect(on(version)).toEqual(['kafkajs']);
  expect(unknown).toEqual([]);
  // Nothing to intercept: it is turned on when @platformatic/kafka is installed, not when a module loads.
  const entry = INSTRUMENTATIONS.find((candidate) => candidate.short === 'platformatic-kafka')!;
  expect(entry).toMatchObject({ package: '@threadline/platformatic-kafka', export: 'PlatformaticKafkaInstrumentation', modules: [], library: '@platformatic/kafka' });
});

test('OTEL_NODE_ENABLED_INSTRUMENTATIONS keeps only the named ones', () => {
  const names = selectInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'kafkajs, sqs' }).map((entry) => entry.short);
  expect(names).toEqual(['kafkajs', 'sqs']);
});

test('OTEL_NODE_DISABLED_INSTRUMENTATIONS removes the named ones, and unknown names are reported', () => {
  const unknown: string[] = [];
  const names = selectInstrumentations({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'amqplib,child-process,redis' }, (name) => unknown.push(name), '22.23.5').map((e) => e.short);
  expect(names).toEqual(['kafkajs', 'platformatic-kafka', 'confluent-kafka', 'sqs', 'mongodb-queue', 'k8s-job']);
  expect(unknown).toEqual(['redis']);
});

test("contrib's names select threadline's transports for the same libraries", () => {
  const unknown: string[] = [];
  // What a user of @opentelemetry/auto-instrumentations-node writes: before, this turned sqs and mongodb-queue off.
  const enabled = selectInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'kafkajs,amqplib,aws-sdk,mongodb,http' }, (name) => unknown.push(name));
  expect(enabled.map((entry) => entry.short)).toEqual(['kafkajs', 'amqplib', 'sqs', 'mongodb-queue']);
  expect(unknown).toEqual(['http']);
  const disabled = selectInstrumentations({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'aws-sdk,mongodb' }, undefined, '20.20.2').map((entry) => entry.short);
  expect(disabled).toEqual(['kafkajs', 'confluent-kafka', 'amqplib', 'k8s-job', 'child-process']);
});

test('mode and useLinks come from THREADLINE_MODE and THREADLINE_USE_LINKS; bad values are ignored', () => {
  expect(configFromEnv({ THREADLINE_MODE: 'propagation-only', THREADLINE_USE_LINKS: 'true' })).toEqual({ mode: 'propagation-only', useLinks: true });
  expect(configFromEnv({ THREADLINE_MODE: 'fast' })).toEqual({});
});

describe("contrib's instrumentation names", () => {
  test('aws-sdk and mongodb select sqs and mongodb-queue; kafkajs and amqplib are the same names', () => {
    const { selectInstrumentations: select } = jest.requireActual('../src/instrumentations') as typeof import('../src/instrumentations');
    const unknown: string[] = [];
    const enabled = select({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'kafkajs, amqplib,aws-sdk,mongodb' }, (name) => unknown.push(name));
    expect(enabled.map((entry) => entry.short).sort()).toEqual(['amqplib', 'kafkajs', 'mongodb-queue', 'sqs']);
    expect(unknown).toEqual([]);
    const left = select({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'aws-sdk,mongodb,nope' }, (name) => unknown.push(name));
    expect(left.map((entry) => entry.short)).not.toContain('sqs');
    expect(left.map((entry) => entry.short)).not.toContain('mongodb-queue');
    expect(unknown).toEqual(['nope']);
  });

  test('an unknown name is one stderr line without OTEL_LOG_LEVEL, and silent with OTEL_LOG_LEVEL=none', () => {
    const entry = require.resolve('../dist/index.js');
    const { spawnSync } = jest.requireActual('node:child_process') as typeof import('node:child_process');
    const spawn = (extra: Record<string, string>) =>
      spawnSync(process.execPath, ['--require', entry, '-e', '0'], {
        env: { PATH: process.env.PATH, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'kafkajz', ...extra },
        encoding: 'utf8',
      });
    const plain = spawn({});
    expect(plain.stderr.match(/unknown instrumentation name "kafkajz"/g)).toHaveLength(1);
    expect(spawn({ OTEL_LOG_LEVEL: 'none' }).stderr).not.toContain('kafkajz');
  });
});
