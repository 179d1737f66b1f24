// In process, against the real @aws-sdk/client-sqs and ElasticMQ from tools/brokers: the SDK's own
// `send` is wrapped through the instrumentation's module definition (Jest's require does not fire
// the hooks), with a spy under it to see the promise the SDK returned.
import { SpanStatusCode } from '@opentelemetry/api';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { setupInMemoryOtel } from '@threadline/testing';
import { SqsInstrumentation } from '../src';
import { createQueue, requireElasticMq, SQS_ENDPOINT, SQS_REGION } from './helpers';

jest.setTimeout(30000);

const { exporter } = setupInMemoryOtel();
const instrumentation = new SqsInstrumentation({ enabled: false });
type Send = (this: unknown, ...args: unknown[]) => unknown;

let fromSdk: unknown[] = [];
const realSend = SQSClient.prototype.send as unknown as Send;
const Spied = function () {} as unknown as { prototype: Record<string, unknown> };
Spied.prototype.send = function (this: unknown, ...args: unknown[]) {
  const returned = realSend.apply(this, args);
  fromSdk.push(returned);
  return returned;
};

let client: SQSClient;
beforeAll(async () => {
  await requireElasticMq();
  client = new SQSClient({ endpoint: SQS_ENDPOINT, region: SQS_REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  instrumentation.getModuleDefinitions()[0].patch?.({ SQSClient: Spied }, '3.1169.0');
});

afterAll(() => client?.destroy());

beforeEach(() => {
  exporter.reset();
  fromSdk = [];
});

test('#17: SendMessage and ReceiveMessage hand back the very promise the SDK returned', async () => {
  const send = Spied.prototype.send as Send;
  const queueUrl = await createQueue('same-promise');
  const sent = send.call(client, new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'hello' }));
  expect(fromSdk).toHaveLength(1);
  expect(sent).toBe(fromSdk[0]);
  await sent;
  const received = send.call(client, new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
  expect(received).toBe(fromSdk[1]);
  await received;
  await new Promise((resolve) => setImmediate(resolve));
  const span = exporter.getFinishedSpans().find((each) => each.name.startsWith('send '));
  expect(span?.status.code).toBe(SpanStatusCode.UNSET);
});

test('#17: a rejected send ends its span failed, and the caller gets the SDK\'s own rejected promise', async () => {
  const send = Spied.prototype.send as Send;
  const sent = send.call(client, new SendMessageCommand({ QueueUrl: `${SQS_ENDPOINT}/000000000000/does-not-exist`, MessageBody: 'x' }));
  expect(sent).toBe(fromSdk[0]);
  await expect(sent).rejects.toBeDefined();
  await new Promise((resolve) => setImmediate(resolve));
  expect(exporter.getFinishedSpans()[0].status.code).toBe(SpanStatusCode.ERROR);
});
