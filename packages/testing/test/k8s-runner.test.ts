/**
 * The local job runner (tools/brokers' k8s-runner) against the real kube-apiserver, only through the API:
 * what a kubelet and the Job controller would do here: run containers with the stored env, write status.
 * Needs `node tools/brokers/cli.mjs up k8s-runner` (it starts etcd and kube-apiserver too).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerAddresses } from '../src/addresses';
import { KubeApiError, KubeClient, readKubeconfig } from '../src/k8s-api/kube-client';

jest.setTimeout(60_000);

type Json = Record<string, any>;

const a = brokerAddresses();
const NS = `tl-runner-${Date.now().toString(36)}`;
let api: KubeClient;
let dir: string;
let seq = 0;

beforeAll(async () => {
  try {
    api = new KubeClient(readKubeconfig(a.k8s.kubeconfig));
    await api.call('GET', '/version');
    const health = await fetch(`http://${a.host}:${a.k8s.runnerPort}/healthz`).then((r) => r.json() as Promise<Json>);
    if (health.watching !== true) throw new Error('runner not watching');
  } catch (error) {
    throw new Error(`kube-apiserver or the k8s-runner is not up (${(error as Error).message}): node tools/brokers/cli.mjs up k8s-runner`);
  }
  await api.call('POST', '/api/v1/namespaces', { metadata: { name: NS } });
  dir = mkdtempSync(join(tmpdir(), 'k8s-runner-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const name = (base: string) => `${base}-${++seq}`;
const node = (script: string, ...args: string[]): Json => ({ command: [process.execPath, '-e', script, ...args] });
const jobs = `/apis/batch/v1/namespaces/${NS}/jobs`;
const pods = `/api/v1/namespaces/${NS}/pods`;

function job(jobName: string, containers: Json[], extra: { spec?: Json; initContainers?: Json[] } = {}): Json {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: jobName, labels: { team: 'tl' } },
    spec: {
      backoffLimit: 0,
      ...extra.spec,
      template: {
        metadata: { labels: { team: 'tl' }, annotations: { note: 'hi' } },
        spec: { restartPolicy: 'Never', containers: containers.map((c, i) => ({ name: `c${i}`, image: 'node:20', ...c })), ...(extra.initContainers ? { initContainers: extra.initContainers } : {}) },
      },
    },
  };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const finished = (jobName: string) =>
  until(`job ${jobName} to finish`, async () => {
    const j = await api.call('GET', `${jobs}/${jobName}`);
    return (j.status as Json)?.conditions?.some((c: Json) => ['Complete', 'Failed'].includes(c.type)) ? (j as Json) : undefined;
  });
const podsOf = async (jobName: string) => (await api.call('GET', `${pods}?labelSelector=job-name%3D${jobName}`)).items as Json[];
const types = (j: Json) => (j.status.conditions as Json[]).map((c) => `${c.type}:${c.reason}`);

test('env as a kubelet gives it: fieldRef from the stored Pod, $(VAR) expansion, HOSTNAME; nothing of the runner\'s own env', async () => {
  const jobName = name('env');
  const out = join(dir, `${jobName}.json`);
  const env = [
    { name: 'A', value: 'one' },
    { name: 'B', value: '$(A)-two $$(A) $(MISSING)' },
    { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
    { name: 'TEAM', valueFrom: { fieldRef: { fieldPath: "metadata.labels['team']" } } },
    { name: 'NOTE', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['note']" } } },
  ];
  await api.call('POST', jobs, job(jobName, [{ ...node('require("fs").writeFileSync(process.argv[1], JSON.stringify(process.env))', out), env }]));
  const done = await finished(jobName);
  expect(types(done)).toEqual(['SuccessCriteriaMet:CompletionsReached', 'Complete:CompletionsReached']);
  const [pod] = await podsOf(jobName);
  const seen = JSON.parse(readFileSync(out, 'utf8'));
  expect(seen).toMatchObject({ A: 'one', B: 'one-two $(A) $(MISSING)', POD: pod.metadata.name, NS, UID: pod.metadata.uid, TEAM: 'tl', NOTE: 'hi', HOSTNAME: pod.metadata.name });
  expect(pod.metadata.name).toMatch(new RegExp(`^${jobName}-[a-z0-9]{5}$`));
  expect(Object.keys(seen).filter((k) => !['PATH', 'HOME', 'HOSTNAME', ...env.map((e) => e.name)].includes(k))).toEqual([]);
});

test('initContainers run one by one before the containers; a failing one stops the pod and fails the Job', async () => {
  const ok = name('init-ok');
  const log = join(dir, `${ok}.log`);
  const append = (what: string) => node(`require("fs").appendFileSync(process.argv[1], "${what}\\n")`, log);
  await api.call('POST', jobs, job(ok, [append('main')], { initContainers: [{ name: 'i1', image: 'x', ...append('i1') }, { name: 'i2', image: 'x', ...append('i2') }] }));
  expect(types(await finished(ok))).toContain('Complete:CompletionsReached');
  expect(readFileSync(log, 'utf8')).toBe('i1\ni2\nmain\n');

  const bad = name('init-bad');
  const marker = join(dir, `${bad}.ran`);
  await api.call('POST', jobs, job(bad, [node('require("fs").writeFileSync(process.argv[1], "x")', marker)], { initContainers: [{ name: 'i1', image: 'x', ...node('process.exit(4)') }] }));
  expect(types(await finished(bad))).toEqual(['FailureTarget:BackoffLimitExceeded', 'Failed:BackoffLimitExceeded']);
  const [pod] = await podsOf(bad);
  expect(pod.status.phase).toBe('Failed');
  expect(pod.status.initContainerStatuses[0].state.terminated.exitCode).toBe(4);
  expect(existsSync(marker)).toBe(false);
});

test('backoffLimit: a new Pod per retry, then failed = backoffLimit + 1', async () => {
  const jobName = name('retry');
  await api.call('POST', jobs, job(jobName, [node('process.exit(2)')], { spec: { backoffLimit: 2 } }));
  const done = await finished(jobName);
  expect(done.status.failed).toBe(3);
  expect(done.status.succeeded).toBeUndefined();
  expect(done.status.active).toBeUndefined();
  expect(await podsOf(jobName)).toHaveLength(3);
});

test('activeDeadlineSeconds: the running process is killed and the Job fails with DeadlineExceeded', async () => {
  const jobName = name('deadline');
  await api.call('POST', jobs, job(jobName, [node('setTimeout(() => {}, 60000)')], { spec: { activeDeadlineSeconds: 1 } }));
  const started = Date.now();
  const done = await finished(jobName);
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(types(done)).toEqual(['FailureTarget:DeadlineExceeded', 'Failed:DeadlineExceeded']);
});

test('a Pod created directly runs once; its status has the exit code; a missing executable is StartError 128', async () => {
  const pod = (podName: string, command: string[]) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: podName }, spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'x', command }] } });
  const exit3 = name('pod');
  const missing = name('pod');
  await api.call('POST', pods, pod(exit3, [process.execPath, '-e', 'process.exit(3)']));
  await api.call('POST', pods, pod(missing, ['/nonexistent/binary']));
  const phase = (podName: string) =>
    until(`pod ${podName}`, async () => {
      const p = await api.call('GET', `${pods}/${podName}`);
      return ['Succeeded', 'Failed'].includes((p.status as Json)?.phase) ? p : undefined;
    });
  const p3 = await phase(exit3);
  expect(p3.status).toMatchObject({ phase: 'Failed', containerStatuses: [{ name: 'main', state: { terminated: { exitCode: 3, reason: 'Error' } } }] });
  const pm = await phase(missing);
  expect(pm.status).toMatchObject({ phase: 'Failed', containerStatuses: [{ state: { terminated: { exitCode: 128, reason: 'StartError' } } }] });
});

test('deleting a running Job kills its process group', async () => {
  const jobName = name('delete');
  const pidFile = join(dir, `${jobName}.pid`);
  await api.call('POST', jobs, job(jobName, [node('require("fs").writeFileSync(process.argv[1], String(process.pid)); setTimeout(() => {}, 60000)', pidFile)]));
  const pid = await until('the pid file', async () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined));
  await api.call('DELETE', `${jobs}/${jobName}`, { propagationPolicy: 'Background' });
  await until(`pid ${pid} gone`, async () => {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  }, 10_000);
  await expect(api.call('GET', `${jobs}/${jobName}`)).rejects.toMatchObject({ status: 404 } satisfies Partial<KubeApiError>);
});
