import { configFromEnv, INSTRUMENTATIONS, selectInstrumentations } from '../src/instrumentations';

test('every transport has a short name, and the names are the documented ones', () => {
  expect(INSTRUMENTATIONS.map((entry) => entry.short)).toEqual(['kafkajs', 'amqplib', 'sqs', 'mongodb-queue', 'k8s-job', 'child-process']);
});

test('OTEL_NODE_ENABLED_INSTRUMENTATIONS keeps only the named ones', () => {
  const names = selectInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'kafkajs, sqs' }).map((entry) => entry.short);
  expect(names).toEqual(['kafkajs', 'sqs']);
});

test('OTEL_NODE_DISABLED_INSTRUMENTATIONS removes the named ones, and unknown names are reported', () => {
  const unknown: string[] = [];
  const names = selectInstrumentations({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'amqplib,child-process,redis' }, (name) => unknown.push(name)).map((e) => e.short);
  expect(names).toEqual(['kafkajs', 'sqs', 'mongodb-queue', 'k8s-job']);
  expect(unknown).toEqual(['redis']);
});

test("contrib's names select threadline's transports for the same libraries", () => {
  const unknown: string[] = [];
  // What a user of @opentelemetry/auto-instrumentations-node writes: before, this turned sqs and mongodb-queue off.
  const enabled = selectInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'kafkajs,amqplib,aws-sdk,mongodb,http' }, (name) => unknown.push(name));
  expect(enabled.map((entry) => entry.short)).toEqual(['kafkajs', 'amqplib', 'sqs', 'mongodb-queue']);
  expect(unknown).toEqual(['http']);
  const disabled = selectInstrumentations({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'aws-sdk,mongodb' }).map((entry) => entry.short);
  expect(disabled).toEqual(['kafkajs', 'amqplib', 'k8s-job', 'child-process']);
});

test('mode and useLinks come from THREADLINE_MODE and THREADLINE_USE_LINKS; bad values are ignored', () => {
  expect(configFromEnv({ THREADLINE_MODE: 'propagation-only', THREADLINE_USE_LINKS: 'true' })).toEqual({ mode: 'propagation-only', useLinks: true });
  expect(configFromEnv({ THREADLINE_MODE: 'fast' })).toEqual({});
});
