// In process, against the real amqplib and the real RabbitMQ from tools/brokers: the library's
// own files are patched through the instrumentation's module definitions (Jest's require does
// not fire the hooks).
import { SpanStatusCode } from '@opentelemetry/api';
import { brokerAddresses, setupInMemoryOtel } from '@threadline/testing';
import { AmqplibInstrumentation } from '../src';
import { requireRabbitMq, unique } from './helpers';

jest.setTimeout(30000);

const { exporter } = setupInMemoryOtel();
const instrumentation = new AmqplibInstrumentation({ enabled: false });
// eslint-disable-next-line @typescript-eslint/no-require-imports
const amqplib = require('amqplib') as { connect(url: string): Promise<AmqpConnection> };

interface AmqpChannel {
  assertQueue(queue: string, options?: object): Promise<unknown>;
  publish(exchange: string, routingKey: string, content: Buffer, options?: object): boolean;
  close(): Promise<void>;
}
interface AmqpConnection {
  createChannel(): Promise<AmqpChannel>;
  close(): Promise<void>;
}

const channelModelFile = () => {
  const file = instrumentation.getModuleDefinitions()[0].files.find((each) => each.name.endsWith('channel_model.js'));
  if (file === undefined) throw new Error('no channel_model.js definition');
  return file;
};

let connection: AmqpConnection;
let channel: AmqpChannel;
let channelModel: { Channel: unknown };

beforeAll(async () => {
  await requireRabbitMq();
  connection = await amqplib.connect(brokerAddresses().rabbitmq.url);
  channel = await connection.createChannel();
  // lib/channel_model.js's Channel as amqplib itself loaded it (the file hook receives that module).
  channelModel = { Channel: Object.getPrototypeOf(channel).constructor };
  channelModelFile().patch(channelModel, '2.0.0');
});

afterAll(async () => {
  if (channelModel !== undefined) channelModelFile().unpatch(channelModel, '2.0.0');
  await channel?.close();
  await connection?.close();
});

test('#17: a publish that throws undefined ends its send span as failed, and the caller sees the throw', async () => {
  const queue = unique('throws-undefined');
  await channel.assertQueue(queue, { autoDelete: true });
  exporter.reset();
  let reads = 0;
  // The instrumentation sizes the headers first (one read); amqplib's encoder then reads again.
  const nested = {
    get value() {
      reads++;
      if (reads >= 2) throw undefined;
      return 'v';
    },
  };
  let thrown = false;
  try {
    channel.publish('', queue, Buffer.from('x'), { headers: { nested } });
  } catch (error) {
    thrown = true;
    expect(error).toBeUndefined();
  }
  expect(thrown).toBe(true);
  const [span] = exporter.getFinishedSpans();
  expect(span.name).toBe('send amq.default');
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
});
