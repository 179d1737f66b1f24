// Real processes, real brokers: api (Kafka producer) → payments (Kafka consumer, RabbitMQ
// publisher) → ledger (RabbitMQ consumer), each under the register hook, spans collected over
// OTLP/HTTP JSON. The doctor must stay silent on the healthy pipeline and name exactly the
// Kafka hop when the kafkajs instrumentation is switched off in payments.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { brokerAddresses, createKafkaTopics, runFixture, startCollector, startFixture, type CollectedSpan, type SpanCollector } from '@threadline/testing';
import { Kafka, logLevel } from 'kafkajs';
import { diagnose } from '../src/analyze';
import { latency } from '../src/latency';
import type { DoctorReport } from '../src/types';

jest.setTimeout(90_000);

const RUN_ID = `${Date.now().toString(36)}-${process.pid}`;
const ORDERS = 3;
const FIXTURES = join(__dirname, 'fixtures');
const BIN = resolve(__dirname, '../dist/cli.js');
const outDir = mkdtempSync(join(tmpdir(), 'doctor-pipeline-'));
const addresses = brokerAddresses();

function reachable(port: number, name: string, start: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: addresses.host, port, timeout: 3000 });
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`${name} is not reachable at ${addresses.host}:${port} (${why}). Start it with: node tools/brokers/cli.mjs up ${start}`));
    };
    socket.once('connect', () => {
      socket.end();
      resolvePromise();
    });
    socket.once('timeout', () => fail('timeout'));
    socket.once('error', (error) => fail(error.message));
  });
}

async function createTopic(topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'doctor-tests', brokers: addresses.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await createKafkaTopics(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }]);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Sits between the fixtures and the collector and keeps every OTLP/JSON request body as the
 * exporter sent it, so the CLI can be run on a real exporter's output.
 */
async function startRecorder(collector: SpanCollector): Promise<{ url: string; bodies: string[]; close(): Promise<void> }> {
  const bodies: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      bodies.push(body);
      fetch(`${collector.url}${request.url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        .then(async (forwarded) => response.writeHead(forwarded.status, { 'content-type': 'application/json' }).end(await forwarded.text()))
        .catch(() => response.writeHead(502).end());
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

interface PipelineRun {
  topic: string;
  spans: CollectedSpan[];
  /** The OTLP/JSON requests the exporters sent, one per line (the Collector file exporter's format). */
  otlpFile: string;
  /** The collected spans as a JSON array. */
  spansFile: string;
}

async function runPipeline(name: string, paymentsEnv: Record<string, string>): Promise<PipelineRun> {
  const topic = `threadline-doctor-${name}-${RUN_ID}`;
  await createTopic(topic);
  const collector = await startCollector();
  const recorder = await startRecorder(collector);
  const viaRecorder = { ...collector, url: recorder.url };
  const env = {
    KAFKA_BROKERS: addresses.kafka.brokers.join(','),
    ORDERS_TOPIC: topic,
    GROUP_ID: `threadline-doctor-${name}-${RUN_ID}`,
    AMQP_URL: addresses.rabbitmq.url,
    PAYMENTS_EXCHANGE: `threadline-doctor-${name}-${RUN_ID}`,
    LEDGER_QUEUE: `threadline-doctor-ledger-${name}-${RUN_ID}`,
    ORDER_COUNT: String(ORDERS),
  };
  let spans: CollectedSpan[];
  try {
    const ledger = startFixture(join(FIXTURES, 'ledger.cjs'), { collector: viaRecorder, serviceName: 'ledger', env, loader: 'require' });
    const payments = startFixture(join(FIXTURES, 'payments.mjs'), {
      collector: viaRecorder,
      serviceName: 'payments',
      env: { ...env, ...paymentsEnv },
      loader: 'import',
    });
    try {
      await ledger.waitForLine(/^ledger ready/, 20_000);
      await payments.waitForLine(/^payments ready/, 40_000);
      const api = await runFixture(join(FIXTURES, 'api.cjs'), { collector: viaRecorder, serviceName: 'api', env, loader: 'require' });
      if (api.code !== 0) throw new Error(`api exited ${api.code}\nstdout:\n${api.stdout}\nstderr:\n${api.stderr}`);
      await ledger.waitForLine(new RegExp(`^ledger booked order-${ORDERS}$`), 30_000);
      // The last spans are exported while the services still run, as in production.
      spans = await collector.waitFor(
        (all) => all.filter((span) => span.serviceName === 'ledger' && span.kind === 'CONSUMER').length >= ORDERS,
        { timeoutMs: 15_000 },
      );
    } catch (error) {
      const output = (name: string, fixture: typeof ledger) => `\n--- ${name} stdout:\n${fixture.stdout()}\n--- ${name} stderr:\n${fixture.stderr()}`;
      throw new Error(`${(error as Error).message}${output('payments', payments)}${output('ledger', ledger)}`);
    } finally {
      await Promise.all([payments.stop(), ledger.stop()]);
    }
    // Anything flushed on SIGTERM as well.
    spans = collector.spans();
  } finally {
    await recorder.close();
    await collector.close();
  }
  const otlpFile = join(outDir, `${name}.otlp.jsonl`);
  writeFileSync(otlpFile, recorder.bodies.map((body) => JSON.stringify(JSON.parse(body))).join('\n') + '\n');
  const spansFile = join(outDir, `${name}.spans.json`);
  writeFileSync(spansFile, JSON.stringify(spans));
  return { topic, spans, otlpFile, spansFile };
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run pnpm --filter @threadline/doctor build first`);
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
}

const orderOf = (spans: CollectedSpan[], spanId: string): unknown => {
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  for (let span = byId.get(spanId); span !== undefined; span = span.parentSpanId ? byId.get(span.parentSpanId) : undefined) {
    if (span.attributes['order.id'] !== undefined) return span.attributes['order.id'];
  }
  return undefined;
};

afterAll(() => rmSync(outDir, { recursive: true, force: true }));

beforeAll(async () => {
  await reachable(addresses.kafka.port, 'Kafka', 'kafka');
  await reachable(addresses.rabbitmq.port, 'RabbitMQ', 'rabbitmq');
});

describe('healthy pipeline', () => {
  let run: PipelineRun;
  beforeAll(async () => {
    run = await runPipeline('healthy', {});
  });

  test('is one trace per order across the three services (the premise)', () => {
    const traces = new Map<string, Set<string>>();
    for (const span of run.spans) traces.set(span.traceId, (traces.get(span.traceId) ?? new Set()).add(`${span.serviceName}:${span.kind}:${span.name}`));
    expect(traces.size).toBe(ORDERS);
    for (const members of traces.values()) {
      expect(members).toEqual(
        new Set([
          'api:SERVER:POST /orders',
          `api:PRODUCER:send ${run.topic}`,
          `payments:CONSUMER:process ${run.topic}`,
          'payments:INTERNAL:charge order',
          `payments:PRODUCER:send threadline-doctor-healthy-${RUN_ID}`,
          `ledger:CONSUMER:process threadline-doctor-ledger-healthy-${RUN_ID}`,
        ]),
      );
    }
  });

  test('the latency view: two hops, every order in each, times equal to the spans’ own', () => {
    const report = latency(run.spans);
    expect(report.hops.map((hop) => [hop.channel.system, hop.producerService, hop.consumerService, hop.messages, hop.skewed])).toEqual([
      ['kafka', 'api', 'payments', ORDERS, 0],
      ['rabbitmq', 'payments', 'ledger', ORDERS, 0],
    ]);
    // Worked out here from each order's own spans: consumer start − send start, and the process span's length.
    const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
    // The RabbitMQ exchange has the topic's name: pick the Kafka spans.
    const byName = (name: string) => run.spans.filter((span) => span.name === name && span.attributes['messaging.system'] === 'kafka');
    const sends = new Map(byName(`send ${run.topic}`).map((span) => [span.traceId, span]));
    const consumed = byName(`process ${run.topic}`);
    const queue = sorted(consumed.map((span) => span.startTimeMs - sends.get(span.traceId)!.startTimeMs));
    const processing = sorted(consumed.map((span) => span.endTimeMs - span.startTimeMs));
    const [kafka] = report.hops;
    expect(kafka!.queueTime).toEqual({ count: ORDERS, p50: queue[1], p99: queue[2], min: queue[0], max: queue[2] });
    expect(kafka!.processing).toEqual({ count: ORDERS, p50: processing[1], p99: processing[2], min: processing[0], max: processing[2] });
    expect(queue[0]).toBeGreaterThanOrEqual(0);
    expect(report.traces).toHaveLength(ORDERS);
    // End to end: the consumer span that ended last (payments' may outlast ledger's) − the Kafka send's start.
    const endOf = (traceId: string) => Math.max(...run.spans.filter((span) => span.traceId === traceId && span.kind === 'CONSUMER').map((span) => span.endTimeMs));
    expect(report.traces.map((trace) => [trace.hops, trace.skewed, trace.endToEndMs])).toEqual(
      report.traces.map((trace) => [2, false, endOf(trace.traceId) - sends.get(trace.traceId)!.startTimeMs]),
    );
    const latencyCli = cli(['latency', run.otlpFile]);
    expect({ status: latencyCli.status, stderr: latencyCli.stderr }).toEqual({ status: 0, stderr: '' });
    expect(latencyCli.stdout).toMatch(new RegExp(`kafka topic \`${run.topic}\`: api → payments +${ORDERS} `));
  });

  test('the doctor reports nothing', () => {
    const report = diagnose(run.spans);
    expect(report).toMatchObject({ clean: true, gaps: 0, brokenHops: [], unconsumedSends: [], orphans: [], linkedHops: [], neverEndingTraces: [] });
    expect(report.rootRatios.map((row) => [row.serviceName, row.consumerSpans, row.roots])).toEqual([
      ['ledger', ORDERS, 0],
      ['payments', ORDERS, 0],
    ]);
  });

  test('the CLI exits 0 on the exporters’ own OTLP output and on the collected spans', () => {
    for (const file of [run.otlpFile, run.spansFile]) {
      const result = cli([file]);
      expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
      expect(result.stdout).toContain(`${run.spans.length} spans, ${ORDERS} traces, 3 services (api, ledger, payments)`);
      expect(result.stdout).toContain('Result: clean (exit 0)');
    }
  });
});

describe('kafkajs instrumentation disabled in payments', () => {
  let run: PipelineRun;
  let report: DoctorReport;
  beforeAll(async () => {
    run = await runPipeline('broken', { OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'kafkajs' });
    report = diagnose(run.spans);
  });

  test('payments has no Kafka consumer span and starts a new trace per order (the premise)', () => {
    expect(run.spans.filter((span) => span.serviceName === 'payments' && span.kind === 'CONSUMER')).toEqual([]);
    const charges = run.spans.filter((span) => span.name === 'charge order');
    expect(charges).toHaveLength(ORDERS);
    for (const charge of charges) expect(charge.parentSpanId).toBeUndefined();
    // The RabbitMQ hop downstream is still whole.
    for (const consume of run.spans.filter((span) => span.serviceName === 'ledger' && span.kind === 'CONSUMER')) {
      const parent = run.spans.find((span) => span.spanId === consume.parentSpanId);
      expect(parent).toMatchObject({ serviceName: 'payments', kind: 'PRODUCER', traceId: consume.traceId });
    }
  });

  test('the doctor names exactly the Kafka hop api → payments', () => {
    expect(report.brokenHops.map((hop) => hop.message)).toEqual([
      `trace breaks at kafka topic \`${run.topic}\` between service \`api\` (send) and service \`payments\` (process): ${ORDERS} of ${ORDERS} messages.`,
    ]);
    expect(report.brokenHops[0]).toMatchObject({
      channel: { type: 'messaging', system: 'kafka', destination: run.topic },
      producerService: 'api',
      consumerService: 'payments',
      evidence: 'no-consumer-span',
    });
    // Nothing else is wrong: the only gap is that hop.
    expect(report.gaps).toBe(1);
    expect(report).toMatchObject({ orphans: [], linkedHops: [], neverEndingTraces: [], unconsumedSends: [] });
  });

  test('each example pairs an order’s send with the new trace that same order started', () => {
    const examples = report.brokenHops[0]!.examples;
    expect(examples).toHaveLength(ORDERS);
    for (const { producer, consumer } of examples) {
      expect(producer.name).toBe(`send ${run.topic}`);
      expect(consumer.name).toBe('charge order');
      expect(orderOf(run.spans, consumer.spanId)).toBe(orderOf(run.spans, producer.spanId));
    }
    expect(examples.map((example) => orderOf(run.spans, example.consumer.spanId))).toEqual(['order-1', 'order-2', 'order-3']);
  });

  test('the CLI, as a child process on a file, exits 1 and names the hop', () => {
    for (const file of [run.otlpFile, run.spansFile]) {
      const table = cli([file]);
      expect(table.status).toBe(1);
      expect(table.stdout).toContain(`✗ trace breaks at kafka topic \`${run.topic}\` between service \`api\` (send) and service \`payments\` (process): ${ORDERS} of ${ORDERS} messages.`);
      expect(table.stdout).toContain('Result: 1 gap found (exit 1)');
    }
    const json = cli(['--json', run.otlpFile]);
    expect(json.status).toBe(1);
    expect((JSON.parse(json.stdout) as DoctorReport).brokenHops.map((hop) => [hop.producerService, hop.consumerService, hop.channel.destination])).toEqual([
      ['api', 'payments', run.topic],
    ]);
  });
});

describe('payments joins by link (THREADLINE_USE_LINKS=true)', () => {
  test('the hop is reported as joined by link, not as a break, and the run is clean', async () => {
    const run = await runPipeline('links', { THREADLINE_USE_LINKS: 'true' });
    const report = diagnose(run.spans);
    expect(report.brokenHops).toEqual([]);
    expect(report.linkedHops).toEqual([
      expect.objectContaining({ producerService: 'api', consumerService: 'payments', messages: ORDERS, consumerSpans: ORDERS }),
    ]);
    expect(report.linkedHops[0]!.channel).toMatchObject({ system: 'kafka', destination: run.topic });
    expect(report.rootRatios.find((row) => row.serviceName === 'payments')).toMatchObject({ roots: 0, linkedRoots: ORDERS, flagged: false });
    expect(report.clean).toBe(true);
    expect(cli([run.spansFile]).status).toBe(0);
  });
});
