/**
 * Metrics of Jobs and Pods against the real kube-apiserver and the local job runner (tools/brokers:
 * `node tools/brokers/cli.mjs up k8s-runner`). The creator (a fixture under the register hook)
 * records `create` sends; the Job's container (`metrics-job.mjs` under the register hook) is the
 * consumer side: it records its delivery from the env the Job carries. Both export over OTLP to
 * the test's collector. Bounds come from times the processes recorded themselves (ms clocks).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  brokerAddresses,
  findSpan,
  KubeClient,
  readKubeconfig,
  registerEntry,
  runFixture,
  startCollector,
  type CollectedMetricPoint,
  type SpanCollector,
} from '@threadline/testing';
import { assertBuilt } from './built';

jest.setTimeout(90_000);

const FIXTURES = join(__dirname, 'fixtures');
const PACKAGE_DIR = join(__dirname, '..');
const REGISTER_URL = pathToFileURL(registerEntry()).href;
const KUBECONFIG = brokerAddresses().k8s.kubeconfig;
// tools/brokers' state folder holds the runner's container logs.
const JOB_LOGS = join(dirname(KUBECONFIG), '..', '..', 'logs', 'k8s-jobs');
const RUN_ID = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
const NAMESPACE = `tl-k8sm-${RUN_ID}`;
const MS = 0.001;

type EnvVar = { name: string; value?: string; valueFrom?: unknown };
type AnyBody = Record<string, any>;
interface CreatorResult {
  created?: AnyBody;
  error?: { status?: number; message: string };
  status?: 'Succeeded' | 'Failed';
  window?: { before: number; after: number };
}

let collector: SpanCollector;
let api: KubeClient;
let sequence = 0;

beforeAll(async () => {
  assertBuilt();
  try {
    api = new KubeClient(readKubeconfig(KUBECONFIG));
    await api.call('GET', '/version');
  } catch (error) {
    throw new Error(`kube-apiserver (kubeconfig ${KUBECONFIG}) is not reachable (${(error as Error).message}). Start it with: node tools/brokers/cli.mjs up k8s-runner`);
  }
  await api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
  collector = await startCollector();
});

afterAll(async () => {
  await collector?.close();
});

const unique = (prefix: string) => `${prefix}-${RUN_ID}-${++sequence}`;

/** The job container's exporter settings (the runner starts containers with PATH and HOME only). */
function otelEnv(service: string): EnvVar[] {
  return [
    { name: 'OTEL_SERVICE_NAME', value: service },
    { name: 'OTEL_TRACES_EXPORTER', value: 'otlp' },
    { name: 'OTEL_METRICS_EXPORTER', value: 'otlp' },
    { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/json' },
    { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: collector.url },
    { name: 'OTEL_BSP_SCHEDULE_DELAY', value: '50' },
    { name: 'OTEL_METRIC_EXPORT_INTERVAL', value: '200' },
    { name: 'OTEL_LOG_LEVEL', value: 'warn' },
  ];
}

function jobBody(metadata: AnyBody, service: string, extraEnv: EnvVar[] = []): AnyBody {
  const container = {
    name: 'main',
    image: 'node:20',
    workingDir: PACKAGE_DIR,
    command: [process.execPath, '--import', REGISTER_URL, join(FIXTURES, 'metrics-job.mjs')],
    env: [...extraEnv, ...otelEnv(service)],
  };
  return { apiVersion: 'batch/v1', kind: 'Job', metadata, spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [container] } } } };
}

async function create(body: AnyBody, service: string, metrics: boolean): Promise<CreatorResult> {
  const result = await runFixture(join(FIXTURES, 'create.mjs'), {
    collector,
    metrics,
    serviceName: service,
    env: { SCENARIOS: JSON.stringify([{ namespace: NAMESPACE, kind: 'Job', body }]), KUBECONFIG, RECORD_WINDOW: '1' },
    timeoutMs: 60_000,
  });
  const line = result.stdout.split('\n').find((candidate) => candidate.startsWith('RESULT '));
  if (line === undefined) throw new Error(`create.mjs printed no RESULT (exit ${result.code})\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return JSON.parse(line.slice('RESULT '.length)) as CreatorResult;
}

const of = (service: string, name: string) => (point: CollectedMetricPoint) => point.serviceName === service && point.name === name;
const storedEnv = (result: CreatorResult): EnvVar[] => result.created?.spec.template.spec.containers[0].env as EnvVar[];
const envValue = (env: EnvVar[], name: string) => env.find((entry) => entry.name === name)?.value;

test('the creator counts the create; the Job counts its delivery, with queue time, pipeline and process duration from the env it got', async () => {
  const jobName = `report-${RUN_ID}x${++sequence}`.slice(0, 40);
  const [creator, jobService] = [unique('creator'), unique('job')];
  const result = await create(jobBody({ name: jobName }, jobService), creator, true);
  expect(result.error).toBeUndefined();
  expect(result.status).toBe('Succeeded');
  const { before, after } = result.window!;

  // What the server stored: the context with the pipeline origin, and the create's send time.
  const env = storedEnv(result);
  const sentAt = Number(envValue(env, 'THREADLINE_SENT_AT'));
  expect(sentAt).toBeGreaterThanOrEqual(before);
  expect(sentAt).toBeLessThanOrEqual(after);
  expect(envValue(env, 'TRACESTATE')).toMatch(/^threadline=o:[0-9a-z]+$/);

  const points = await collector.waitForMetrics(
    (all) => all.some(of(creator, 'messaging.client.sent.messages')) && all.some(of(jobService, 'messaging.process.duration')),
    { timeoutMs: 30_000 },
  );
  // A fixed name has no generated suffix to drop: the destination is the name.
  const base = { 'messaging.system': 'kubernetes', 'messaging.destination.name': jobName };
  const sent = points.find(of(creator, 'messaging.client.sent.messages'))!;
  expect(sent.attributes).toEqual({ ...base, 'messaging.operation.name': 'create' });
  expect(sent.value).toBe(1);
  expect(sent.scope).toBe('@threadline/k8s-job');
  const createDuration = points.find(of(creator, 'messaging.client.operation.duration'))!;
  expect(createDuration.count).toBe(1);
  expect(createDuration.max!).toBeLessThanOrEqual((after - before) / 1000 + MS);

  const consumed = points.find(of(jobService, 'messaging.client.consumed.messages'))!;
  expect(consumed.attributes).toEqual({ ...base, 'messaging.operation.name': 'process' });
  expect(consumed.value).toBe(1);
  const spans = await collector.waitFor((all) => all.some((span) => span.serviceName === jobService && span.name === 'work'));
  const work = findSpan(spans, { name: 'work', service: jobService }).attributes as Record<string, number>;
  // Delivered when the job's process came up: after its time origin, before its script ran.
  const queueTime = points.find(of(jobService, 'threadline.messaging.queue.time'))!;
  expect(queueTime.attributes).toEqual({ ...base, 'threadline.time.source': 'carried' });
  expect(queueTime.count).toBe(1);
  expect(queueTime.min!).toBeGreaterThanOrEqual((work['fixture.time_origin'] - after) / 1000 - MS);
  expect(queueTime.max!).toBeLessThanOrEqual((work['fixture.started'] - before) / 1000 + MS);
  const pipeline = points.find(of(jobService, 'threadline.pipeline.duration'))!;
  expect(pipeline.count).toBe(1);
  expect(pipeline.min!).toBeGreaterThanOrEqual((work['fixture.time_origin'] - after) / 1000 - MS);
  expect(pipeline.max!).toBeLessThanOrEqual((work['fixture.started'] - before) / 1000 + MS);
  // The whole run: at least the script's work, and not much past its end.
  const processed = points.find(of(jobService, 'messaging.process.duration'))!;
  expect(processed.count).toBe(1);
  expect(processed.min!).toBeGreaterThanOrEqual((work['fixture.ended'] - work['fixture.started']) / 1000 - MS);
  expect(processed.max!).toBeLessThanOrEqual((work['fixture.ended'] - work['fixture.time_origin']) / 1000 + 0.2);
  expect(processed.scope).toBe('@threadline/register');
});

test('generateName Jobs: both sides name the metrics after the generateName stem', async () => {
  const stem = `nightly-${RUN_ID}`;
  const [creator, jobService] = [unique('creator'), unique('job')];
  const result = await create(jobBody({ generateName: `${stem}-` }, jobService), creator, true);
  expect(result.status).toBe('Succeeded');
  expect(result.created?.metadata.name).toMatch(new RegExp(`^${stem}-[a-z0-9]{5}$`));
  const points = await collector.waitForMetrics((all) => all.some(of(creator, 'messaging.client.sent.messages')) && all.some(of(jobService, 'messaging.process.duration')), { timeoutMs: 30_000 });
  expect(points.find(of(creator, 'messaging.client.sent.messages'))?.attributes['messaging.destination.name']).toBe(stem);
  expect(points.find(of(jobService, 'messaging.client.consumed.messages'))?.attributes['messaging.destination.name']).toBe(stem);
});

test('a create the API refuses is counted sent-failed with its HTTP status as error.type', async () => {
  const creator = unique('creator');
  const result = await create(jobBody({ name: `Not_A_Name-${RUN_ID}` }, unique('job')), creator, true);
  expect(result.error?.status).toBe(422);
  const points = await collector.waitForMetrics((all) => all.some(of(creator, 'messaging.client.sent.messages')), { timeoutMs: 30_000 });
  const sent = points.find(of(creator, 'messaging.client.sent.messages'))!;
  expect(sent.attributes['error.type']).toBe('422');
  expect(sent.value).toBe(1);
});

test('a garbage or future THREADLINE_SENT_AT is dropped with a diag message; the Job runs with its env unaltered', async () => {
  for (const [label, value] of [['garbage', 'soon'], ['future', String(Date.now() + 3_600_000)]] as const) {
    const jobName = unique(`bad-${label}`);
    const [creator, jobService] = [unique('creator'), unique('job')];
    // The caller's own variable wins over threadline's (never overwritten): what a wrong clock or a bad template gives.
    const result = await create(jobBody({ name: jobName }, jobService, [{ name: 'THREADLINE_SENT_AT', value }]), creator, true);
    expect(result.status).toBe('Succeeded');
    expect(storedEnv(result).filter((entry) => entry.name === 'THREADLINE_SENT_AT')).toEqual([{ name: 'THREADLINE_SENT_AT', value }]);
    const points = await collector.waitForMetrics((all) => all.some(of(jobService, 'messaging.process.duration')), { timeoutMs: 30_000 });
    expect(points.find(of(jobService, 'messaging.client.consumed.messages'))?.value).toBe(1);
    expect(points.filter(of(jobService, 'threadline.messaging.queue.time'))).toEqual([]);
    const spans = await collector.waitFor((all) => all.some((span) => span.serviceName === jobService && span.name === 'work'));
    expect(findSpan(spans, { name: 'work', service: jobService }).attributes['fixture.env.THREADLINE_SENT_AT']).toBe(value);
    const logs = readdirSync(JOB_LOGS).filter((file) => file.startsWith(`${NAMESPACE}_${jobName}-`));
    expect(logs).toHaveLength(1);
    expect(readFileSync(join(JOB_LOGS, logs[0]), 'utf8')).toContain(`threadline.messaging.queue.time: ${label} timestamp, value dropped`);
  }
});

test('metrics off in the creator: the Job gets exactly the env it got before metrics existed, and records nothing', async () => {
  const jobName = unique('quiet');
  const [creator, jobService] = [unique('creator'), unique('job')];
  const result = await create(jobBody({ name: jobName }, jobService), creator, false);
  expect(result.status).toBe('Succeeded');
  const added = storedEnv(result).map((entry) => entry.name).filter((name) => !name.startsWith('OTEL_'));
  expect(added).toEqual(['TRACEPARENT', 'THREADLINE_RUN_NAME', 'THREADLINE_K8S_NAMESPACE', 'THREADLINE_K8S_JOB_NAME']);
  await collector.waitFor((all) => all.some((span) => span.serviceName === jobService && span.name === 'work'));
  // The job exports its metrics at exit: give them the time the others took to arrive.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(collector.latestMetrics().filter((point) => point.serviceName === creator || (point.serviceName === jobService && point.name.startsWith('messaging.')))).toEqual([]);
});

test('why the queue time is carried: a pod cannot read its creationTimestamp through the downward API (the real server refuses it)', async () => {
  const body = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: unique('probe') },
    spec: { containers: [{ name: 'c', image: 'node:20', command: ['true'], env: [{ name: 'CREATED', valueFrom: { fieldRef: { fieldPath: 'metadata.creationTimestamp' } } }] }] },
  };
  await expect(api.call('POST', `/api/v1/namespaces/${NAMESPACE}/pods`, body)).rejects.toMatchObject({ status: 422 });
});
