import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startK8sApiStandIn, type K8sApiStandIn } from '../src/k8s-api/server';

jest.setTimeout(30_000);

type Json = Record<string, any>;

let api: K8sApiStandIn;
let dir: string;
let seq = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'k8s-standin-'));
  api = await startK8sApiStandIn({ port: 0, logDir: join(dir, 'logs'), retryDelayMs: 10 });
});

afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const uniqueName = (base: string): string => `${base}-${++seq}`;

function job(name: string, container: Json, extra: { spec?: Json; metadata?: Json; template?: Json } = {}): Json {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, ...extra.metadata },
    spec: {
      backoffLimit: 0,
      ...extra.spec,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'node:20', ...container }], ...extra.template } },
    },
  };
}

const node = (script: string, ...args: string[]): Json => ({ command: [process.execPath, '-e', script, ...args] });

const jobPath = (name = '', ns = 'default'): string => `/apis/batch/v1/namespaces/${ns}/jobs${name ? `/${name}` : ''}`;

async function waitForJob(name: string, field: 'succeeded' | 'failed', ns = 'default'): Promise<Json> {
  return until(`job ${name} ${field}`, async () => {
    const { body } = await call('GET', `${jobPath(name, ns)}/status`);
    return body.status?.[field] ? body : undefined;
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('Jobs: create, read, run', () => {
  it('creates a Job with the real object shape and runs it until it succeeds', async () => {
    const name = uniqueName('hello');
    const created = await call('POST', jobPath(), job(name, node('process.exit(0)')));
    expect(created.status).toBe(201);
    const m = created.body.metadata;
    expect(created.body).toMatchObject({ kind: 'Job', apiVersion: 'batch/v1' });
    expect(m).toMatchObject({ name, namespace: 'default', generation: 1 });
    expect(m.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(m.creationTimestamp)).not.toBeNaN();
    expect(Number(m.resourceVersion)).toBeGreaterThan(0);
    expect(m.labels).toMatchObject({ 'job-name': name, 'batch.kubernetes.io/job-name': name, 'controller-uid': m.uid });
    expect(created.body.spec).toMatchObject({ backoffLimit: 0, completions: 1, parallelism: 1, selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': m.uid } } });

    const done = await waitForJob(name, 'succeeded');
    expect(done.status).toMatchObject({ succeeded: 1 });
    expect(done.status.active).toBeUndefined();
    expect(Date.parse(done.status.startTime)).not.toBeNaN();
    expect(Date.parse(done.status.completionTime)).not.toBeNaN();
    expect(done.status.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Complete', status: 'True' })]));

    const read = await call('GET', jobPath(name));
    expect(read.status).toBe(200);
    expect(read.body.metadata.uid).toBe(m.uid);
    expect(Number(read.body.metadata.resourceVersion)).toBeGreaterThan(Number(m.resourceVersion));

    const pods = await call('GET', `/api/v1/namespaces/default/pods?labelSelector=job-name%3D${name}`);
    expect(pods.body.kind).toBe('PodList');
    expect(pods.body.items).toHaveLength(1);
    expect(pods.body.items[0].status.phase).toBe('Succeeded');
    expect(pods.body.items[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'Job', name, uid: m.uid });
  });

  it('shows active=1 while the container runs', async () => {
    const name = uniqueName('active');
    await call('POST', jobPath(), job(name, node('setTimeout(() => {}, 1500)')));
    const running = await until('active', async () => {
      const { body } = await call('GET', `${jobPath(name)}/status`);
      return body.status?.active === 1 ? body : undefined;
    });
    expect(running.status.succeeded).toBeUndefined();
    await waitForJob(name, 'succeeded');
  });

  it('passes the container env through verbatim, with fieldRef values resolved and NODE_OPTIONS left out', async () => {
    const name = uniqueName('env');
    const out = join(dir, `${name}.json`);
    const env = [
      { name: 'TRACEPARENT', value: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      { name: 'TRACESTATE', value: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' },
      { name: 'WEIRD.name-ok', value: ' spaces, "quotes", ünïcödé, = and ; ' },
      { name: 'EMPTY', value: '' },
      { name: 'DUP', value: 'first' },
      { name: 'DUP', value: 'second' },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
    ];
    const previous = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = '--max-old-space-size=100';
    try {
      const res = await call('POST', jobPath('', 'team-a'), job(name, { ...node('require("fs").writeFileSync(process.argv[1], JSON.stringify(process.env))', out), env }));
      expect(res.status).toBe(201);
      await waitForJob(name, 'succeeded', 'team-a');
    } finally {
      if (previous === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = previous;
    }
    const seen = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
    const pods = await call('GET', `/api/v1/namespaces/team-a/pods?labelSelector=job-name%3D${name}`);
    const podName = pods.body.items[0].metadata.name as string;
    expect(seen).toMatchObject({
      TRACEPARENT: env[0]!.value,
      TRACESTATE: env[1]!.value,
      'WEIRD.name-ok': env[2]!.value,
      EMPTY: '',
      DUP: 'second',
      POD_NAME: podName,
      POD_NAMESPACE: 'team-a',
      HOSTNAME: podName,
    });
    expect(seen.NODE_OPTIONS).toBeUndefined();
    expect(seen.FROM_SECRET).toBeUndefined();
    expect(Object.keys(seen).sort()).toEqual(
      ['DUP', 'EMPTY', 'HOME', 'HOSTNAME', 'PATH', 'POD_NAME', 'POD_NAMESPACE', 'TRACEPARENT', 'TRACESTATE', 'WEIRD.name-ok'].filter(
        (k) => k !== 'HOME' || process.env.HOME !== undefined,
      ),
    );
  });

  it('expands $(VAR) references the way Kubernetes does', async () => {
    const name = uniqueName('expand');
    const out = join(dir, `${name}.json`);
    const env = [
      { name: 'A', value: 'x' },
      { name: 'B', value: '$(A)-y' },
      { name: 'C', value: '$$(A)' },
      { name: 'D', value: '$(NOT_DEFINED) $(PATH)' },
    ];
    const script = 'const e = process.env; require("fs").writeFileSync(process.argv[1], JSON.stringify({ A: e.A, B: e.B, C: e.C, D: e.D, arg: process.argv[2] }))';
    await call('POST', jobPath(), job(name, { ...node(script, out, '$(B)'), env }));
    await waitForJob(name, 'succeeded');
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ A: 'x', B: 'x-y', C: '$(A)', D: '$(NOT_DEFINED) $(PATH)', arg: 'x-y' });
  });

  it('runs init containers first, in order, honouring workingDir and args', async () => {
    const name = uniqueName('init');
    const out = join(dir, `${name}.txt`);
    const append = (text: string): Json => node(`require("fs").appendFileSync(${JSON.stringify(out)}, process.argv[1] + ":" + process.cwd() + "\\n")`, text);
    const body = job(name, append('main'), {
      template: { initContainers: [{ name: 'first', image: 'x:1', ...append('init1'), workingDir: dir }, { name: 'second', image: 'x:1', ...append('init2') }] },
    });
    expect((await call('POST', jobPath(), body)).status).toBe(201);
    await waitForJob(name, 'succeeded');
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual(['init1', 'init2', 'main']);
    expect(lines[0]).toBe(`init1:${dir}`);
  });

  it('marks a Job failed when its command exits non-zero, with the real Failed condition', async () => {
    const name = uniqueName('fails');
    await call('POST', jobPath(), job(name, node('process.exit(3)')));
    const failed = await waitForJob(name, 'failed');
    expect(failed.status.failed).toBe(1);
    expect(failed.status.succeeded).toBeUndefined();
    expect(failed.status.completionTime).toBeUndefined();
    expect(failed.status.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' })]),
    );
    const pods = await call('GET', `/api/v1/namespaces/default/pods?labelSelector=job-name%3D${name}`);
    expect(pods.body.items[0].status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
  });

  it('retries up to backoffLimit with a new pod each time', async () => {
    const name = uniqueName('retry');
    await call('POST', jobPath(), job(name, node('process.exit(1)'), { spec: { backoffLimit: 2 } }));
    const done = await until('three failures', async () => {
      const { body } = await call('GET', jobPath(name));
      return body.status?.conditions?.some((c: Json) => c.type === 'Failed') ? body : undefined;
    });
    expect(done.status.failed).toBe(3);
    const pods = await call('GET', `/api/v1/namespaces/default/pods?labelSelector=job-name%3D${name}`);
    expect(pods.body.items).toHaveLength(3);
  });

  it('a missing executable fails the Job instead of crashing the server', async () => {
    const name = uniqueName('enoent');
    await call('POST', jobPath(), job(name, { command: ['/nonexistent/binary-xyz'] }));
    await waitForJob(name, 'failed');
    const pods = await call('GET', `/api/v1/namespaces/default/pods?labelSelector=job-name%3D${name}`);
    expect(pods.body.items[0].status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 128, reason: 'StartError' });
  });

  it('fails a Job that runs past activeDeadlineSeconds', async () => {
    const name = uniqueName('deadline');
    await call('POST', jobPath(), job(name, node('setTimeout(() => {}, 60000)'), { spec: { activeDeadlineSeconds: 1 } }));
    const done = await until('deadline', async () => {
      const { body } = await call('GET', jobPath(name));
      return body.status?.conditions?.some((c: Json) => c.type === 'Failed') ? body : undefined;
    });
    expect(done.status.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Failed', reason: 'DeadlineExceeded' })]));
  });

  it('serves a pod log', async () => {
    const name = uniqueName('logs');
    await call('POST', jobPath(), job(name, node('console.log("hello from the job"); console.error("and stderr")')));
    await waitForJob(name, 'succeeded');
    const pods = await call('GET', `/api/v1/namespaces/default/pods?labelSelector=job-name%3D${name}`);
    const pod = pods.body.items[0].metadata.name;
    const res = await fetch(`${api.url}/api/v1/namespaces/default/pods/${pod}/log`);
    expect(await res.text()).toContain('hello from the job');
    expect(existsSync(join(dir, 'logs', `default_${pod}_main.log`))).toBe(true);
  });
});

describe('Jobs: validation and errors', () => {
  const expectInvalid = async (body: Json, field: string, reason = 'FieldValueInvalid'): Promise<Json> => {
    const res = await call('POST', jobPath(), body);
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Invalid', code: 422 });
    expect(res.body.details).toMatchObject({ group: 'batch', kind: 'Job' });
    expect(res.body.details.causes).toEqual(expect.arrayContaining([expect.objectContaining({ field, reason })]));
    expect(res.body.message).toContain('is invalid');
    return res.body;
  };
  const ok = node('0');

  it.each([['Upper_Case'], ['-leading'], ['trailing-'], ['has space'], ['a'.repeat(254)]])('rejects the name %j', async (name) => {
    await expectInvalid(job(name, ok), 'metadata.name');
  });

  it('rejects a Job name longer than 63 characters (it must fit a label value)', async () => {
    const body = await expectInvalid(job('a'.repeat(64), ok), 'metadata.name');
    expect(body.message).toContain('must be no more than 63 characters');
  });

  it('requires a name or generateName, and fills the name from generateName', async () => {
    await expectInvalid(job('', ok), 'metadata.name', 'FieldValueRequired');
    const res = await call('POST', jobPath(), { ...job('', ok), metadata: { generateName: 'gen-' } });
    expect(res.status).toBe(201);
    expect(res.body.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });

  it.each([['1STARTS_WITH_DIGIT'], ['has space'], ['has=equals'], [''], ['..dots']])('rejects the env var name %j', async (envName) => {
    const field = 'spec.template.spec.containers[0].env[0].name';
    await expectInvalid(job(uniqueName('env'), { ...ok, env: [{ name: envName, value: 'x' }] }), field, envName === '' ? 'FieldValueRequired' : 'FieldValueInvalid');
  });

  it('accepts env var names the real API accepts, and duplicate names', async () => {
    const env = ['_X', 'a.b-c', 'TRACEPARENT', 'lower', 'X1'].map((n) => ({ name: n, value: '1' }));
    const res = await call('POST', jobPath(), job(uniqueName('envok'), { ...ok, env: [...env, { name: 'X1', value: '2' }] }));
    expect(res.status).toBe(201);
  });

  it('rejects an env var with both value and valueFrom', async () => {
    await expectInvalid(
      job(uniqueName('both'), { ...ok, env: [{ name: 'A', value: 'x', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }),
      'spec.template.spec.containers[0].env[0].valueFrom',
    );
  });

  it('accepts envFrom entries and rejects an empty one', async () => {
    const good = await call('POST', jobPath(), job(uniqueName('envfrom'), { ...ok, envFrom: [{ configMapRef: { name: 'cm' } }, { secretRef: { name: 's' }, prefix: 'S_' }] }));
    expect(good.status).toBe(201);
    await expectInvalid(job(uniqueName('envfrom'), { ...ok, envFrom: [{}] }), 'spec.template.spec.containers[0].envFrom[0]');
  });

  it('requires containers', async () => {
    const body = job(uniqueName('nocontainers'), ok);
    body.spec.template.spec.containers = [];
    await expectInvalid(body, 'spec.template.spec.containers', 'FieldValueRequired');
    delete body.spec.template.spec.containers;
    await expectInvalid(body, 'spec.template.spec.containers', 'FieldValueRequired');
    delete body.spec.template;
    await expectInvalid(body, 'spec.template.spec.containers', 'FieldValueRequired');
  });

  it('rejects duplicate container names, across init containers too', async () => {
    const body = job(uniqueName('dup'), ok);
    body.spec.template.spec.containers.push({ name: 'main', image: 'x', ...ok });
    await expectInvalid(body, 'spec.template.spec.containers[1].name', 'FieldValueDuplicate');
    const withInit = job(uniqueName('dup'), ok, { template: { initContainers: [{ name: 'main', image: 'x', ...ok }] } });
    await expectInvalid(withInit, 'spec.template.spec.containers[0].name', 'FieldValueDuplicate');
  });

  it('rejects a bad container name and a missing image', async () => {
    await expectInvalid(job(uniqueName('cname'), { ...ok, name: 'Main_Container' }), 'spec.template.spec.containers[0].name');
    const noImage = job(uniqueName('noimage'), ok);
    delete noImage.spec.template.spec.containers[0].image;
    await expectInvalid(noImage, 'spec.template.spec.containers[0].image', 'FieldValueRequired');
  });

  it.each([['Always'], [undefined], ['Sometimes']])('rejects restartPolicy %j for a Job template', async (policy) => {
    const body = job(uniqueName('policy'), ok);
    if (policy === undefined) delete body.spec.template.spec.restartPolicy;
    else body.spec.template.spec.restartPolicy = policy;
    const status = await expectInvalid(body, 'spec.template.spec.restartPolicy', 'FieldValueNotSupported');
    expect(status.message).toContain('supported values: "OnFailure", "Never"');
  });

  it('accepts restartPolicy OnFailure', async () => {
    const body = job(uniqueName('onfailure'), ok);
    body.spec.template.spec.restartPolicy = 'OnFailure';
    expect((await call('POST', jobPath(), body)).status).toBe(201);
  });

  it('lists every cause of an invalid body', async () => {
    const body = job('Bad_Name', { name: 'Bad', env: [{ name: '9', value: '' }] });
    delete body.spec.template.spec.containers[0].image;
    const res = await call('POST', jobPath(), body);
    expect(res.status).toBe(422);
    expect(res.body.details.causes.map((c: Json) => c.field)).toEqual(
      expect.arrayContaining([
        'metadata.name',
        'spec.template.spec.containers[0].name',
        'spec.template.spec.containers[0].image',
        'spec.template.spec.containers[0].env[0].name',
      ]),
    );
    expect(res.body.message).toMatch(/^Job\.batch "Bad_Name" is invalid: \[/);
  });

  it('answers 400 for a kind or apiVersion that does not match, bad JSON, and wrong JSON types', async () => {
    expect((await call('POST', jobPath(), { ...job(uniqueName('k'), ok), kind: 'Pod' })).status).toBe(400);
    expect((await call('POST', jobPath(), { ...job(uniqueName('k'), ok), apiVersion: 'v1' })).status).toBe(400);
    const bad = await call('POST', jobPath(), '{"not json');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    expect((await call('POST', jobPath(), job(uniqueName('t'), { command: 'not-an-array' }))).status).toBe(400);
    expect((await call('POST', jobPath('', 'other'), { ...job(uniqueName('ns'), ok), metadata: { name: 'x', namespace: 'default' } })).status).toBe(400);
  });

  it('answers 409 AlreadyExists for a duplicate name', async () => {
    const name = uniqueName('twice');
    expect((await call('POST', jobPath(), job(name, ok))).status).toBe(201);
    const again = await call('POST', jobPath(), job(name, ok));
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'AlreadyExists',
      code: 409,
      message: `jobs.batch "${name}" already exists`,
      details: { name, group: 'batch', kind: 'jobs' },
    });
    // Same name in another namespace is a different Job.
    expect((await call('POST', jobPath('', 'elsewhere'), job(name, ok))).status).toBe(201);
  });

  it('answers 404 NotFound for unknown Jobs and paths', async () => {
    for (const [method, path] of [
      ['GET', jobPath('missing')],
      ['GET', `${jobPath('missing')}/status`],
      ['DELETE', jobPath('missing')],
    ] as const) {
      const res = await call(method, path);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: 'jobs.batch "missing" not found' });
    }
    expect((await call('GET', '/apis/batch/v2/whatever')).status).toBe(404);
  });
});

describe('Jobs: list, watch, delete', () => {
  it('lists Jobs per namespace and across namespaces, with label selectors', async () => {
    const ns = uniqueName('list');
    const ok = node('0');
    await call('POST', jobPath('', ns), job('one', ok, { metadata: { labels: { app: 'a', tier: 'x' } } }));
    await call('POST', jobPath('', ns), job('two', ok, { metadata: { labels: { app: 'b' } } }));
    const names = async (path: string): Promise<string[]> => {
      const res = await call('GET', path);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ kind: 'JobList', apiVersion: 'batch/v1' });
      return (res.body.items as Json[]).filter((j) => j.metadata.namespace === ns).map((j) => j.metadata.name).sort();
    };
    expect(await names(jobPath('', ns))).toEqual(['one', 'two']);
    expect(await names('/apis/batch/v1/jobs')).toEqual(['one', 'two']);
    expect(await names(`${jobPath('', ns)}?labelSelector=${encodeURIComponent('app=a')}`)).toEqual(['one']);
    expect(await names(`${jobPath('', ns)}?labelSelector=${encodeURIComponent('app==b')}`)).toEqual(['two']);
    expect(await names(`${jobPath('', ns)}?labelSelector=${encodeURIComponent('app!=a')}`)).toEqual(['two']);
    expect(await names(`${jobPath('', ns)}?labelSelector=${encodeURIComponent('app=a,tier=x')}`)).toEqual(['one']);
    expect(await names(`${jobPath('', ns)}?labelSelector=${encodeURIComponent('app in (a,b)')}`)).toEqual(['one', 'two']);
    expect(await names(`${jobPath('', ns)}?labelSelector=tier`)).toEqual(['one']);
    expect(await names(`/apis/batch/v1/jobs?labelSelector=${encodeURIComponent('app=nope')}`)).toEqual([]);
    expect((await call('GET', `${jobPath('', ns)}?labelSelector=${encodeURIComponent('a=(')}`)).status).toBe(400);
  });

  it('streams ADDED and MODIFIED watch events as newline-delimited JSON', async () => {
    const ns = uniqueName('watch');
    const controller = new AbortController();
    const res = await fetch(`${api.url}${jobPath('', ns)}?watch=true`, { signal: controller.signal });
    expect(res.status).toBe(200);
    const events: Json[] = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buffered = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffered += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            events.push(JSON.parse(buffered.slice(0, nl)));
            buffered = buffered.slice(nl + 1);
          }
        }
      } catch {
        // aborted
      }
    })();
    await call('POST', jobPath('', ns), job('watched', node('0')));
    await until('a MODIFIED event with succeeded=1', async () =>
      events.find((e) => e.type === 'MODIFIED' && e.object.status?.succeeded === 1) ? true : undefined,
    );
    await call('DELETE', jobPath('watched', ns));
    await until('DELETED', async () => (events.some((e) => e.type === 'DELETED') ? true : undefined));
    controller.abort();
    await reading;
    expect(events[0]).toMatchObject({ type: 'ADDED', object: { kind: 'Job', apiVersion: 'batch/v1', metadata: { name: 'watched', namespace: ns } } });
    const versions = events.map((e) => Number(e.object.metadata.resourceVersion));
    expect([...versions].sort((a, b) => a - b)).toEqual(versions);
  });

  it('replays events after a resourceVersion, as a list-then-watch client expects', async () => {
    const ns = uniqueName('rv');
    const list = await call('GET', jobPath('', ns));
    await call('POST', jobPath('', ns), job('later', node('0')));
    await waitForJob('later', 'succeeded', ns);
    const controller = new AbortController();
    const res = await fetch(`${api.url}${jobPath('', ns)}?watch=1&resourceVersion=${list.body.metadata.resourceVersion}&timeoutSeconds=1`, {
      signal: controller.signal,
    });
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0].type).toBe('ADDED');
    expect(lines.some((e) => e.type === 'MODIFIED' && e.object.status.succeeded === 1)).toBe(true);
  });

  it('deleting a running Job kills its process', async () => {
    const name = uniqueName('victim');
    const pidFile = join(dir, `${name}.pid`);
    await call('POST', jobPath(), job(name, node('require("fs").writeFileSync(process.argv[1], String(process.pid)); setInterval(() => {}, 1000)', pidFile)));
    const pid = await until('pid file', async () => (existsSync(pidFile) && readFileSync(pidFile, 'utf8') ? Number(readFileSync(pidFile, 'utf8')) : undefined));
    expect(alive(pid)).toBe(true);
    const res = await call('DELETE', `${jobPath(name)}?propagationPolicy=Background`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ kind: 'Status', status: 'Success', details: { name, group: 'batch', kind: 'jobs' } });
    await until('process gone', async () => (alive(pid) ? undefined : true), 5000);
    expect((await call('GET', jobPath(name))).status).toBe(404);
    const pods = await call('GET', `/api/v1/namespaces/default/pods?labelSelector=job-name%3D${name}`);
    expect(pods.body.items).toHaveLength(0);
  });

  it('close() kills every running container process', async () => {
    const other = await startK8sApiStandIn({ port: 0 });
    const pidFile = join(dir, 'close.pid');
    await fetch(`${other.url}${jobPath()}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(job('long', node('require("fs").writeFileSync(process.argv[1], String(process.pid)); setInterval(() => {}, 1000)', pidFile))),
    });
    const pid = await until('pid file', async () => (existsSync(pidFile) && readFileSync(pidFile, 'utf8') ? Number(readFileSync(pidFile, 'utf8')) : undefined));
    await other.close();
    await until('process gone', async () => (alive(pid) ? undefined : true), 5000);
  });
});

describe('Pods and discovery', () => {
  it('creates a Pod (CoreV1Api.createNamespacedPod) that runs its container', async () => {
    const name = uniqueName('pod');
    const res = await call('POST', '/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', ...node('console.log("pod ran")') }] },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ kind: 'Pod', apiVersion: 'v1', metadata: { name } });
    const pod = await until('pod succeeded', async () => {
      const { body } = await call('GET', `/api/v1/namespaces/default/pods/${name}`);
      return body.status?.phase === 'Succeeded' ? body : undefined;
    });
    expect(pod.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    const log = await fetch(`${api.url}/api/v1/namespaces/default/pods/${name}/log`);
    expect(await log.text()).toBe('pod ran\n');
    const bad = await call('POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'Bad' }, spec: { containers: [] } });
    expect(bad.status).toBe(422);
    expect(bad.body.details).toMatchObject({ kind: 'Pod', name: 'Bad' });
    expect((await call('DELETE', `/api/v1/namespaces/default/pods/${name}`)).status).toBe(200);
    expect((await call('GET', `/api/v1/namespaces/default/pods/${name}`)).body.message).toBe(`pods "${name}" not found`);
  });

  it('answers discovery', async () => {
    expect((await call('GET', '/api')).body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    expect((await call('GET', '/apis')).body.groups[0]).toMatchObject({ name: 'batch', preferredVersion: { groupVersion: 'batch/v1' } });
    expect((await call('GET', '/apis/batch/v1')).body.resources[0]).toMatchObject({ name: 'jobs', kind: 'Job', namespaced: true });
  });

  it('validates a dry run without creating anything', async () => {
    const name = uniqueName('dry');
    expect((await call('POST', `${jobPath()}?dryRun=All`, job(name, node('0')))).status).toBe(201);
    expect((await call('GET', jobPath(name))).status).toBe(404);
  });
});
