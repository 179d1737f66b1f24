/**
 * Against a real kube-apiserver (tools/brokers: `node tools/brokers/cli.mjs up k8s-runner`, which starts
 * etcd and kube-apiserver too) and the local job runner, which creates each Job's Pod through the API and
 * starts each container's command as a local process with the env the server stored.
 * Process A (a fixture under the register hook) creates a Job or Pod inside a span; the Job's
 * container runs `node --import @threadline/register job.mjs`, which exports its spans too.
 */
import { join } from 'node:path';
import {
  assertNoOrphans,
  assertParentChild,
  assertSingleTrace,
  findSpan,
  formatSpans,
  runFixture,
  type CollectedSpan,
} from '@threadline/testing';
import { RUN_NAME_ENV } from '../src';
import { FIXTURES, KUBECONFIG, PACKAGE_DIR, REGISTER_URL, RUN_ID, useCluster } from './cluster';

jest.setTimeout(60_000);

const CLIENT_V0 = require.resolve('k8s-client-v0');
const CLIENT_V2 = require.resolve('k8s-client-v2');
// @kubernetes/client-node 2.x loads only on Node 22+ (its undici needs zlib's zstd).
const NODE_RUNS_CLIENT_V2 = Number(process.versions.node.split('.')[0]) >= 22;
const NAMESPACE = `tl-k8s-${RUN_ID}`;

type EnvVar = { name: string; value?: string; valueFrom?: unknown };
type AnyBody = Record<string, any>;

interface CreatorResult {
  objectStyle: boolean;
  created?: AnyBody;
  error?: { status?: number; message: string };
  bodyUnchanged: boolean;
  status?: 'Succeeded' | 'Failed';
}

const cluster = useCluster(NAMESPACE);
let sequence = 0;

/** A name unique to this run, for a Job and the services of the processes involved. */
function unique(prefix: string): string {
  sequence += 1;
  return `${prefix}-${RUN_ID}-${sequence}`;
}

/** The exporter settings every job container needs: the runner starts containers with PATH and HOME only. */
function otelEnv(service: string): EnvVar[] {
  return [
    { name: 'OTEL_SERVICE_NAME', value: service },
    { name: 'OTEL_TRACES_EXPORTER', value: 'otlp' },
    { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/json' },
    { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: cluster.collector.url },
    { name: 'OTEL_BSP_SCHEDULE_DELAY', value: '50' },
  ];
}

const USER_ENV: EnvVar[] = [
  { name: 'MODE', value: 'full' },
  // apiVersion spelled out: the server defaults it, and the test compares what it stored.
  { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
  { name: 'GREETING', value: 'hello $(MODE)' },
];

function container(name: string, service: string, options: { env?: EnvVar[] | null; args?: string[]; extra?: AnyBody } = {}): AnyBody {
  const env = options.env === null ? null : [...(options.env ?? USER_ENV), ...otelEnv(service)];
  return {
    name,
    image: 'node:20',
    workingDir: PACKAGE_DIR,
    command: [process.execPath, '--import', REGISTER_URL, join(FIXTURES, 'job.mjs'), ...(options.args ?? [])],
    env,
    ...options.extra,
  };
}

function jobBody(name: string, containers: AnyBody[], initContainers?: AnyBody[]): AnyBody {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels: { suite: 'threadline' } },
    spec: {
      backoffLimit: 0,
      template: { metadata: { labels: { suite: 'threadline' } }, spec: { restartPolicy: 'Never', containers, ...(initContainers ? { initContainers } : {}) } },
    },
  };
}

type Scenario = { kind: 'Job' | 'Pod'; body: unknown; freeze?: boolean };

/** Runs process A once for all `scenarios`, in order; one result each. */
async function createAll(
  fixture: 'create.mjs' | 'create.cjs',
  scenarios: Scenario[],
  options: { service: string; client?: string; loader?: 'import' | 'require' | 'none' },
): Promise<CreatorResult[]> {
  const result = await runFixture(join(FIXTURES, fixture), {
    collector: cluster.collector,
    serviceName: options.service,
    loader: options.loader ?? (fixture.endsWith('.cjs') ? 'require' : 'import'),
    env: {
      SCENARIOS: JSON.stringify(scenarios.map((scenario) => ({ namespace: NAMESPACE, ...scenario }))),
      KUBECONFIG,
      K8S_CLIENT: options.client,
    },
    timeoutMs: 50_000,
  });
  const lines = result.stdout.split('\n').filter((candidate) => candidate.startsWith('RESULT '));
  if (lines.length !== scenarios.length) {
    throw new Error(`${fixture} printed ${lines.length} of ${scenarios.length} RESULT lines (exit ${result.code})\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
  return lines.map((line) => JSON.parse(line.slice('RESULT '.length)) as CreatorResult);
}

async function create(fixture: 'create.mjs' | 'create.cjs', scenario: Scenario, options: { service: string; client?: string }): Promise<CreatorResult> {
  const [result] = await createAll(fixture, [scenario], options);
  return result;
}

/** Waits for spans of the given services until `done` holds, and returns those services' spans. */
async function spansOf(services: string[], done: (spans: CollectedSpan[]) => boolean): Promise<CollectedSpan[]> {
  const mine = (spans: CollectedSpan[]) => spans.filter((span) => services.includes(span.serviceName));
  try {
    return mine(await cluster.collector.waitFor((spans) => done(mine(spans)), { timeoutMs: 20_000 }));
  } catch (error) {
    throw new Error(`${(error as Error).message}\nspans so far:\n${formatSpans(mine(cluster.collector.spans()))}`);
  }
}

const named = (name: string, service?: string) => (span: CollectedSpan) => span.name === name && (service === undefined || span.serviceName === service);

function envValue(env: EnvVar[], name: string): string | undefined {
  return env.find((entry) => entry.name === name)?.value;
}

type ClientCase = readonly [label: string, fixture: 'create.mjs' | 'create.cjs', client: string | undefined, objectStyle: boolean];
const CLIENT_V2_CASES: ClientCase[] = [
  ['ESM app, client 2.0.1, required by path', 'create.mjs', CLIENT_V2, true],
  ['CommonJS app, client 2.0.1, required by path (require of ESM)', 'create.cjs', CLIENT_V2, true],
];
const CLIENT_CASES: ClientCase[] = [
  ['ESM app, client 1.4.0 (object API), imported by name', 'create.mjs', undefined, true],
  ['CommonJS app, client 0.22.3 (positional API), required by path', 'create.cjs', CLIENT_V0, false],
  ['CommonJS app, client 1.4.0 required by name (require of ESM)', 'create.cjs', undefined, true],
  ...(NODE_RUNS_CLIENT_V2 ? CLIENT_V2_CASES : []),
];
if (!NODE_RUNS_CLIENT_V2) {
  describe.skip.each(CLIENT_V2_CASES)(`Job trace (client 2.x needs Node 22+, this is ${process.versions.node}): %s`, () => {
    test('not run on this Node line', () => undefined);
  });
}

describe.each(CLIENT_CASES)('Job trace: %s', (_label, fixture, client, objectStyle) => {
  test('the job process and every span it makes are in the creator\'s trace, under the create span; the env survives', async () => {
    const jobName = unique('report');
    const creator = unique('creator');
    const jobService = unique('job');
    const body = jobBody(jobName, [container('main', jobService)]);

    const result = await create(fixture, { kind: 'Job', body }, { service: creator, client });

    expect(result.error).toBeUndefined();
    expect(result.objectStyle).toBe(objectStyle);
    expect(result.bodyUnchanged).toBe(true);
    expect(result.status).toBe('Succeeded');
    const spans = await spansOf([creator, jobService], (all) => all.some(named('write')) && all.some(named(`run ${jobName}`)) && all.some(named('enqueue')));
    assertSingleTrace(spans);
    assertNoOrphans(spans);
    const createSpan = findSpan(spans, { name: `create job ${NAMESPACE}`, kind: 'PRODUCER', service: creator });
    expect(createSpan.scope).toBe('@threadline/k8s-job');
    const runSpan = findSpan(spans, { name: `run ${jobName}`, kind: 'CONSUMER', service: jobService });
    assertParentChild(spans, 'enqueue', `create job ${NAMESPACE}`);
    assertParentChild(spans, `create job ${NAMESPACE}`, `run ${jobName}`);
    assertParentChild(spans, `run ${jobName}`, 'compute');
    assertParentChild(spans, 'compute', 'write');
    expect(createSpan.attributes).toMatchObject({
      'k8s.namespace.name': NAMESPACE,
      'k8s.job.name': jobName,
      'k8s.job.uid': result.created?.metadata.uid,
    });
    expect(runSpan.attributes).toMatchObject({ 'k8s.job.name': jobName, 'k8s.namespace.name': NAMESPACE });
    expect(runSpan.status.code).toBe('UNSET');

    // The env the user set arrived, resolved by the "kubelet" as a real one would.
    const compute = findSpan(spans, 'compute');
    expect(compute.attributes['fixture.env.MODE']).toBe('full');
    expect(compute.attributes['fixture.env.GREETING']).toBe('hello full');
    expect(String(compute.attributes['fixture.env.POD_NAME'])).toMatch(new RegExp(`^${jobName}-`));

    // What the server stored: the user's entries first and unchanged, then the context.
    const storedEnv = result.created?.spec.template.spec.containers[0].env as EnvVar[];
    expect(storedEnv.slice(0, USER_ENV.length + 5)).toEqual([...USER_ENV, ...otelEnv(jobService)]);
    expect(envValue(storedEnv, 'TRACEPARENT')).toBe(`00-${createSpan.traceId}-${createSpan.spanId}-01`);
    expect(envValue(storedEnv, RUN_NAME_ENV)).toBe(jobName);
    const names = storedEnv.map((entry) => entry.name);
    expect(new Set(names).size).toBe(names.length);
  });
});

test('every container and initContainer joins: null env arrays and envFrom containers included', async () => {
  const jobName = unique('multi');
  const creator = unique('creator');
  const jobService = unique('job');
  const sidecar = container('side', jobService, { extra: { envFrom: [{ configMapRef: { name: 'settings', optional: true } }] } });
  // No env at all: this container is not under the hook; it fails unless it was started with a context.
  const bare = { ...container('bare', jobService, { env: null }), command: [process.execPath, '-e', 'process.exit(/^00-[0-9a-f]{32}-/.test(process.env.TRACEPARENT) ? 0 : 7)'] };
  const body = jobBody(jobName, [container('main', jobService), sidecar, bare], [container('init', jobService)]);

  const result = await create('create.mjs', { kind: 'Job', body }, { service: creator });

  expect(result.error).toBeUndefined();
  expect(result.bodyUnchanged).toBe(true);
  expect(result.status).toBe('Succeeded');
  const stored = result.created?.spec.template.spec as AnyBody;
  expect(envValue(stored.containers[2].env, 'TRACEPARENT')).toMatch(/^00-/);
  expect(stored.containers[1].envFrom).toEqual([{ configMapRef: { name: 'settings', optional: true } }]);
  const spans = await spansOf([creator, jobService], (all) => all.filter(named(`run ${jobName}`)).length === 3 && all.filter(named('write')).length === 3);
  assertSingleTrace(spans);
  assertNoOrphans(spans);
  const createSpan = findSpan(spans, `create job ${NAMESPACE}`);
  const runs = spans.filter(named(`run ${jobName}`));
  expect(runs.map((span) => span.parentSpanId)).toEqual([createSpan.spanId, createSpan.spanId, createSpan.spanId]);
  // The Pod the runner created through the API: the initContainer finished (exit 0) before any container started.
  const [pod] = (await cluster.api.call('GET', `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=job-name%3D${jobName}`)).items as AnyBody[];
  const init = pod.status.initContainerStatuses[0].state.terminated;
  expect(init.exitCode).toBe(0);
  for (const status of pod.status.containerStatuses) {
    expect(status.state.terminated.exitCode).toBe(0);
    expect(Date.parse(status.state.terminated.startedAt)).toBeGreaterThanOrEqual(Date.parse(init.finishedAt));
  }
});

test('failure recorded: a job whose process crashes still exports its run span, with error status', async () => {
  const jobName = unique('crash');
  const creator = unique('creator');
  const jobService = unique('job');
  const body = jobBody(jobName, [container('main', jobService, { args: ['--crash'] })]);

  const result = await create('create.cjs', { kind: 'Job', body }, { service: creator, client: CLIENT_V0 });

  expect(result.status).toBe('Failed');
  const spans = await spansOf([creator, jobService], (all) => all.some(named(`run ${jobName}`)) && all.some(named('enqueue')));
  assertSingleTrace(spans);
  const runSpan = findSpan(spans, `run ${jobName}`);
  assertParentChild(spans, `create job ${NAMESPACE}`, `run ${jobName}`);
  expect(runSpan.status.code).toBe('ERROR');
  expect(runSpan.status.message).toContain('job crashed on purpose');
  expect(runSpan.events.some((event) => event.name === 'exception')).toBe(true);
  // The work done before the crash is there too.
  assertParentChild(spans, `run ${jobName}`, 'compute');
});

test('a Pod created with CoreV1Api.createNamespacedPod joins the same way', async () => {
  const podName = unique('pod');
  const creator = unique('creator');
  const jobService = unique('job');
  const body = { apiVersion: 'v1', kind: 'Pod', metadata: { name: podName }, spec: { restartPolicy: 'Never', containers: [container('main', jobService)] } };

  const result = await create('create.mjs', { kind: 'Pod', body }, { service: creator });

  expect(result.error).toBeUndefined();
  expect(result.bodyUnchanged).toBe(true);
  expect(result.status).toBe('Succeeded');
  const spans = await spansOf([creator, jobService], (all) => all.some(named('write')) && all.some(named('enqueue')));
  assertSingleTrace(spans);
  assertParentChild(spans, { name: `create pod ${NAMESPACE}`, kind: 'PRODUCER' }, { name: `run ${podName}`, kind: 'CONSUMER' });
  expect(findSpan(spans, `run ${podName}`).attributes).toMatchObject({ 'k8s.pod.name': podName, 'k8s.namespace.name': NAMESPACE });
  expect(findSpan(spans, `create pod ${NAMESPACE}`).attributes['k8s.pod.uid']).toBe(result.created?.metadata.uid);
});

test('a Job named by the server (generateName): the run span learns the real name through the downward API', async () => {
  const prefix = unique('gen');
  const creator = unique('creator');
  const jobService = unique('job');
  const body = jobBody('unused', [container('main', jobService)]);
  body.metadata = { generateName: `${prefix}-` };

  const result = await create('create.mjs', { kind: 'Job', body }, { service: creator });

  const realName = result.created?.metadata.name as string;
  expect(realName).toMatch(new RegExp(`^${prefix}-`));
  const spans = await spansOf([creator, jobService], (all) => all.some(named('write')) && all.some(named('enqueue')));
  assertSingleTrace(spans);
  const runSpan = findSpan(spans, `run ${prefix}`);
  expect(runSpan.attributes['k8s.job.name']).toBe(realName);
  expect(findSpan(spans, `create job ${NAMESPACE}`).attributes['k8s.job.name']).toBe(realName);
});

describe('bad input: nothing crashes and the job still runs', () => {
  test('a malformed TRACEPARENT the user set is kept (that container runs in a trace of its own); a lowercase traceparent is not a carrier', async () => {
    const jobName = unique('bad-env');
    const creator = unique('creator');
    const jobService = unique('job');
    const foreign = '00-11111111111111111111111111111111-2222222222222222-01';
    const body = jobBody(jobName, [
      container('malformed', jobService, { env: [...USER_ENV, { name: 'TRACEPARENT', value: '00-not-a-trace-context' }] }),
      container('lower', jobService, { env: [...USER_ENV, { name: 'traceparent', value: foreign }] }),
    ]);

    const result = await create('create.mjs', { kind: 'Job', body }, { service: creator });

    expect(result.status).toBe('Succeeded');
    expect(result.bodyUnchanged).toBe(true);
    const spans = await spansOf([creator, jobService], (all) => all.filter(named('write')).length === 2 && all.some(named(`run ${jobName}`)) && all.some(named('enqueue')));
    const enqueue = findSpan(spans, 'enqueue');
    const computes = spans.filter(named('compute'));
    const malformed = findSpan(computes, (span) => span.attributes['fixture.env.TRACEPARENT'] === '00-not-a-trace-context');
    const lower = findSpan(computes, (span) => span.attributes['fixture.env.traceparent'] === foreign);
    // The user's malformed value wins over ours; the job side ignores it and starts fresh.
    expect(malformed.parentSpanId).toBeUndefined();
    expect(malformed.traceId).not.toBe(enqueue.traceId);
    // The lowercase one is left in place and ours is added: that container joins the creator's trace.
    const run = findSpan(spans, `run ${jobName}`);
    expect(lower.parentSpanId).toBe(run.spanId);
    expect(run.parentSpanId).toBe(findSpan(spans, `create job ${NAMESPACE}`).spanId);
    expect(run.traceId).toBe(enqueue.traceId);
  });

  test('bodies that are not a Job reach the server unchanged: the same answers as without instrumentation', async () => {
    const bodies: Scenario[] = [
      { kind: 'Job', body: { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly' }, spec: { schedule: '0 3 * * *', jobTemplate: { spec: {} } } } },
      { kind: 'Job', body: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'no-template' }, spec: {} } },
      { kind: 'Job', body: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'no-containers' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [] } } } } },
      // A Job the instrumentation does inject into, that the server's validation refuses (422).
      { kind: 'Job', body: jobBody('bad-name', [{ ...container('Not_A_Label', 'unused'), env: [{ name: 'A=B', value: 'x' }] }]) },
    ];
    const creator = unique('creator');
    const instrumented = await createAll('create.mjs', bodies, { service: creator });
    const plain = await createAll('create.mjs', bodies, { service: unique('plain'), loader: 'none' });

    expect(instrumented).toEqual(plain);
    // The server's own 422, unchanged: the same message with and without the instrumentation.
    expect(instrumented[3].error?.status).toBe(422);
    expect(plain[3].error?.message).toContain('spec.template.spec.containers[0].name');
    for (const result of instrumented) {
      expect(result.error?.status).toBeGreaterThanOrEqual(400);
      expect(result.bodyUnchanged).toBe(true);
    }
    const spans = await spansOf([creator], (all) => all.filter(named(`create job ${NAMESPACE}`)).length === bodies.length);
    const createSpans = spans.filter(named(`create job ${NAMESPACE}`));
    expect(createSpans.map((span) => [span.status.code, span.attributes['error.type']])).toEqual(
      instrumented.map((result) => ['ERROR', String(result.error?.status)]),
    );
  });
});

test('what only a real server shows: its defaults on the stored Job, the Pod it stored for the runner, the merged env as the process saw it', async () => {
  const jobName = unique('defaults');
  const creator = unique('creator');
  const jobService = unique('job');
  // fieldRef without apiVersion: the server fills in v1.
  const env: EnvVar[] = [...USER_ENV, { name: 'POD_UID_NO_VERSION', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } }];
  const body = jobBody(jobName, [container('main', jobService, { env })]);

  const result = await create('create.mjs', { kind: 'Job', body }, { service: creator });

  expect(result.error).toBeUndefined();
  expect(result.status).toBe('Succeeded');
  const job = result.created as AnyBody;
  const uid = job.metadata.uid as string;
  expect(job.spec).toMatchObject({
    completions: 1,
    parallelism: 1,
    backoffLimit: 0,
    completionMode: 'NonIndexed',
    suspend: false,
    manualSelector: false,
    selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } },
  });
  expect(job.spec.template.metadata.labels).toMatchObject({ 'batch.kubernetes.io/job-name': jobName, 'controller-uid': uid, suite: 'threadline' });
  expect(job.spec.template.spec).toMatchObject({ dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 30 });
  const stored = job.spec.template.spec.containers[0];
  expect(stored).toMatchObject({ imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' });
  // The user's entries first, in order, as the server stored them (defaults filled in), then the context.
  expect(stored.env.slice(0, env.length)).toEqual([...USER_ENV, { name: 'POD_UID_NO_VERSION', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.uid' } } }]);
  expect(stored.env.slice(env.length + 5).map((entry: EnvVar) => entry.name)).toEqual(expect.arrayContaining(['TRACEPARENT', RUN_NAME_ENV]));

  // Read back: the status the runner wrote passed the server's validation; the Pod is owned by the Job.
  const readBack = await cluster.api.call('GET', `/apis/batch/v1/namespaces/${NAMESPACE}/jobs/${jobName}`);
  expect(readBack.status).toMatchObject({ succeeded: 1, startTime: expect.any(String), completionTime: expect.any(String) });
  expect((readBack.status as AnyBody).conditions.map((c: AnyBody) => `${c.type}=${c.status}`)).toEqual(['SuccessCriteriaMet=True', 'Complete=True']);
  expect((readBack.spec as AnyBody).template.spec.containers[0].env).toEqual(stored.env);
  const pods = (await cluster.api.call('GET', `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=job-name%3D${jobName}`)).items as AnyBody[];
  expect(pods).toHaveLength(1);
  expect(pods[0].metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Job', name: jobName, uid, controller: true })]);
  expect(pods[0].status.phase).toBe('Succeeded');

  // The process saw the Pod's real name (downward API, resolved by the runner as a kubelet would).
  const spans = await spansOf([creator, jobService], (all) => all.some(named('write')) && all.some(named('enqueue')));
  assertSingleTrace(spans);
  expect(findSpan(spans, 'compute').attributes['fixture.env.POD_NAME']).toBe(pods[0].metadata.name);
  expect(findSpan(spans, `create job ${NAMESPACE}`).attributes['k8s.job.uid']).toBe(uid);
});
