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

test('mode and useLinks come from THREADLINE_MODE and THREADLINE_USE_LINKS; bad values are ignored', () => {
  expect(configFromEnv({ THREADLINE_MODE: 'propagation-only', THREADLINE_USE_LINKS: 'true' })).toEqual({ mode: 'propagation-only', useLinks: true });
  expect(configFromEnv({ THREADLINE_MODE: 'fast' })).toEqual({});
});
