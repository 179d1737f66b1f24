import { context, propagation, ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
import { injectIntoWorkload, runEnvFor, workloadIdentity, type PodEnvInjection } from '../src/pod-template';
import { K8S_JOB_NAME_ENV, K8S_NAMESPACE_ENV, K8S_POD_NAME_ENV, RUN_NAME_ENV } from '../src';
import { deepFreeze, setupInMemoryOtel as setupOtel, VALID_TRACEPARENT } from '@threadline/testing';

const { tracer } = setupOtel();

type Env = Array<{ name: string; value?: string; valueFrom?: unknown }>;
type AnyBody = Record<string, any>;

/** A context with a real span and one baggage entry. */
function activeContext(): { ctx: Context; traceparent: string } {
  const span = tracer.startSpan('create');
  span.end();
  const ctx = propagation.setBaggage(trace.setSpan(ROOT_CONTEXT, span), propagation.createBaggage({ tenant: { value: 'acme' } }));
  const { traceId, spanId } = span.spanContext();
  return { ctx, traceparent: `00-${traceId}-${spanId}-01` };
}

function injection(ctx: Context, extra: Partial<PodEnvInjection> = {}): PodEnvInjection {
  return { context: ctx, runEnv: runEnvFor('Job', 'batch', { name: 'report' }), allowLowercaseEnv: false, ...extra };
}

function jobBody(): AnyBody {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'report', namespace: 'batch', labels: { app: 'report' } },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { app: 'report' } },
        spec: {
          restartPolicy: 'Never',
          volumes: [{ name: 'scratch', emptyDir: {} }],
          initContainers: [{ name: 'migrate', image: 'node:20', command: ['node', 'migrate.js'] }],
          containers: [
            {
              name: 'main',
              image: 'node:20',
              command: ['node', 'job.js'],
              env: [
                { name: 'MODE', value: 'full' },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'GREETING', value: 'hello $(MODE)' },
              ],
            },
            {
              name: 'sidecar',
              image: 'busybox',
              command: ['sleep', '1'],
              env: null,
              envFrom: [{ configMapRef: { name: 'settings' } }],
            },
          ],
        },
      },
    },
  };
}

function podSpecOf(body: AnyBody): AnyBody {
  return body.spec.template.spec;
}

function envOf(container: AnyBody): Env {
  return container.env as Env;
}

function valueOf(env: Env, name: string): string | undefined {
  return env.find((entry) => entry.name === name)?.value;
}

test('every container and initContainer carries the context; the user env comes first and is untouched', () => {
  const { ctx, traceparent } = activeContext();
  const original = jobBody();
  const snapshot = JSON.parse(JSON.stringify(original));
  const frozen = deepFreeze(original);

  const result = injectIntoWorkload('Job', frozen, injection(ctx));

  expect(result.valid).toBe(true);
  if (!result.valid) return;
  expect(result.outcomes).toEqual(['injected', 'injected', 'injected']);
  expect(JSON.parse(JSON.stringify(frozen))).toEqual(snapshot);
  const podSpec = podSpecOf(result.body as AnyBody);
  const [main, sidecar] = podSpec.containers as AnyBody[];
  const [migrate] = podSpec.initContainers as AnyBody[];
  // The user's three variables, in order and byte-identical, then ours.
  expect(envOf(main).slice(0, 3)).toEqual(snapshot.spec.template.spec.containers[0].env);
  for (const container of [main, sidecar, migrate]) {
    const env = envOf(container);
    expect(valueOf(env, 'TRACEPARENT')).toBe(traceparent);
    expect(valueOf(env, 'BAGGAGE')).toBe('tenant=acme');
    expect(valueOf(env, RUN_NAME_ENV)).toBe('report');
    expect(valueOf(env, K8S_JOB_NAME_ENV)).toBe('report');
    expect(valueOf(env, K8S_NAMESPACE_ENV)).toBe('batch');
    // Valid for the API: C identifiers, no duplicates.
    const names = env.map((entry) => entry.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
  }
  expect(sidecar.envFrom).toEqual([{ configMapRef: { name: 'settings' } }]);
  // Everything else is the caller's own objects, shared rather than copied.
  expect(podSpec.volumes).toBe(original.spec.template.spec.volumes);
  expect((result.body as AnyBody).metadata).toBe(original.metadata);
  expect(main.command).toBe(original.spec.template.spec.containers[0].command);
});

test('a propagation variable the user set wins, whether a value, a valueFrom or malformed', () => {
  const { ctx } = activeContext();
  const body = jobBody();
  const containers = podSpecOf(body).containers as AnyBody[];
  containers[0].env = [{ name: 'TRACEPARENT', value: VALID_TRACEPARENT }];
  containers[1].env = [{ name: 'TRACEPARENT', valueFrom: { secretKeyRef: { name: 'ctx', key: 'tp' } } }];
  podSpecOf(body).initContainers[0].env = [{ name: 'TRACEPARENT', value: 'garbage' }];
  deepFreeze(body);

  const result = injectIntoWorkload('Job', body, injection(ctx));

  expect(result.valid && result.outcomes).toEqual(['kept-existing', 'kept-existing', 'kept-existing']);
  const podSpec = podSpecOf(result.body as AnyBody);
  const [main, sidecar] = podSpec.containers as AnyBody[];
  expect(envOf(main).filter((entry) => entry.name === 'TRACEPARENT')).toEqual([{ name: 'TRACEPARENT', value: VALID_TRACEPARENT }]);
  expect(envOf(sidecar).filter((entry) => entry.name === 'TRACEPARENT')).toEqual([
    { name: 'TRACEPARENT', valueFrom: { secretKeyRef: { name: 'ctx', key: 'tp' } } },
  ]);
  expect(valueOf(envOf(podSpec.initContainers[0]), 'TRACEPARENT')).toBe('garbage');
  expect(valueOf(envOf(main), 'BAGGAGE')).toBeUndefined();
  // The run is still described, so the job side names its span after the Job.
  expect(valueOf(envOf(main), RUN_NAME_ENV)).toBe('report');
});

test('run-info variables the user set are kept', () => {
  const { ctx } = activeContext();
  const body = jobBody();
  (podSpecOf(body).containers as AnyBody[])[0].env = [{ name: RUN_NAME_ENV, value: 'nightly' }];
  const result = injectIntoWorkload('Job', deepFreeze(body), injection(ctx));
  const env = envOf((podSpecOf(result.body as AnyBody).containers as AnyBody[])[0]);
  expect(env.filter((entry) => entry.name === RUN_NAME_ENV)).toEqual([{ name: RUN_NAME_ENV, value: 'nightly' }]);
  expect(valueOf(env, 'TRACEPARENT')).toBeDefined();
});

test('a lowercase traceparent is not a carrier unless allowLowercaseEnv says so', () => {
  const { ctx, traceparent } = activeContext();
  const body = jobBody();
  (podSpecOf(body).containers as AnyBody[])[0].env = [{ name: 'traceparent', value: VALID_TRACEPARENT }];
  deepFreeze(body);

  const strict = injectIntoWorkload('Job', body, injection(ctx));
  const strictEnv = envOf((podSpecOf(strict.body as AnyBody).containers as AnyBody[])[0]);
  expect(valueOf(strictEnv, 'traceparent')).toBe(VALID_TRACEPARENT);
  expect(valueOf(strictEnv, 'TRACEPARENT')).toBe(traceparent);

  const lenient = injectIntoWorkload('Job', body, injection(ctx, { allowLowercaseEnv: true }));
  expect(lenient.valid && lenient.outcomes[1]).toBe('kept-existing');
  const lenientEnv = envOf((podSpecOf(lenient.body as AnyBody).containers as AnyBody[])[0]);
  expect(valueOf(lenientEnv, 'TRACEPARENT')).toBeUndefined();
});

test('missing and null env arrays get a new one; the containers are copies', () => {
  const { ctx, traceparent } = activeContext();
  const body = jobBody();
  const containers = podSpecOf(body).containers as AnyBody[];
  delete containers[0].env;
  deepFreeze(body);
  const result = injectIntoWorkload('Job', body, injection(ctx));
  const [main, sidecar] = podSpecOf(result.body as AnyBody).containers as AnyBody[];
  expect(valueOf(envOf(main), 'TRACEPARENT')).toBe(traceparent);
  expect(valueOf(envOf(sidecar), 'TRACEPARENT')).toBe(traceparent);
  expect(containers[0].env).toBeUndefined();
  expect(containers[1].env).toBeNull();
});

test('without an active span nothing changes: the same body object goes through', () => {
  const body = deepFreeze(jobBody());
  const result = injectIntoWorkload('Job', body, injection(ROOT_CONTEXT));
  expect(result.valid && result.outcomes).toEqual(['none', 'none', 'none']);
  expect(result.body).toBe(body);
});

test('a Pod body: spec.containers carry the context', () => {
  const { ctx, traceparent } = activeContext();
  const pod = deepFreeze({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'one-off' },
    spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'node:20', command: ['node', 'job.js'] }] },
  });
  const result = injectIntoWorkload('Pod', pod, { context: ctx, runEnv: runEnvFor('Pod', 'default', workloadIdentity(pod)), allowLowercaseEnv: false });
  const env = envOf((result.body as AnyBody).spec.containers[0]);
  expect(valueOf(env, 'TRACEPARENT')).toBe(traceparent);
  expect(valueOf(env, K8S_POD_NAME_ENV)).toBe('one-off');
  expect(valueOf(env, RUN_NAME_ENV)).toBe('one-off');
  expect(valueOf(env, K8S_JOB_NAME_ENV)).toBeUndefined();
});

test.each([
  ['undefined', undefined, 'the body is not an object'],
  ['null', null, 'the body is not an object'],
  ['a string', 'apiVersion: batch/v1', 'the body is not an object'],
  ['an array', [jobBody()], 'the body is not an object'],
  ['a CronJob', { kind: 'CronJob', spec: { schedule: '* * * * *', jobTemplate: jobBody().spec } }, 'body.kind is "CronJob", not Job'],
  ['a CronJob spec without kind', { spec: { schedule: '* * * * *', jobTemplate: jobBody().spec } }, 'spec.template is missing'],
  ['no spec', { metadata: { name: 'x' } }, 'spec is missing'],
  ['a template without spec', { spec: { template: { metadata: {} } } }, 'spec.template.spec is missing'],
  ['containers not an array', { spec: { template: { spec: { containers: { name: 'main' } } } } }, 'spec.template.spec.containers is not an array'],
  ['no containers', { spec: { template: { spec: { containers: [] } } } }, 'spec.template.spec.containers is empty'],
  ['a container that is not an object', { spec: { template: { spec: { containers: ['main'] } } } }, 'spec.template.spec.containers[0] is not an object'],
  ['env that is not an array', { spec: { template: { spec: { containers: [{ name: 'm', env: { A: '1' } }] } } } }, 'spec.template.spec.containers[0].env is not an array'],
  ['an env entry without a name', { spec: { template: { spec: { containers: [{ name: 'm', env: [{ value: '1' }] }] } } } }, 'spec.template.spec.containers[0].env holds an entry without a string name'],
  ['initContainers not an array', { spec: { template: { spec: { containers: [{ name: 'm' }], initContainers: 'x' } } } }, 'spec.template.spec.initContainers is not an array'],
])('not a Job (%s): the body comes back unchanged, with the reason', (_label, body, reason) => {
  const { ctx } = activeContext();
  const frozen = deepFreeze(body);
  const result = injectIntoWorkload('Job', frozen, injection(ctx));
  expect(result.valid).toBe(false);
  expect(result.body).toBe(frozen);
  if (!result.valid) expect(result.reason).toBe(reason);
});

test('generated model classes keep their prototype; the original instances are not touched', () => {
  class V1Container {
    name = 'main';
    command = ['node', 'job.js'];
    env?: Env;
  }
  class V1Job {
    metadata = { name: 'typed' };
    spec = { template: { spec: { containers: [new V1Container()] } } };
  }
  const { ctx } = activeContext();
  const job = deepFreeze(new V1Job());
  const result = injectIntoWorkload('Job', job, injection(ctx));
  expect(result.body).toBeInstanceOf(V1Job);
  const container = (result.body as V1Job).spec.template.spec.containers[0];
  expect(container).toBeInstanceOf(V1Container);
  expect(container.env?.some((entry) => entry.name === 'TRACEPARENT')).toBe(true);
  expect(job.spec.template.spec.containers[0].env).toBeUndefined();
});

test('an own __proto__ key is copied as data and pollutes nothing', () => {
  const { ctx } = activeContext();
  const body = JSON.parse(
    '{"__proto__":{"polluted":true},"spec":{"template":{"spec":{"__proto__":{"polluted":true},"containers":[{"name":"m","__proto__":{"polluted":true}}]}}}}',
  );
  const result = injectIntoWorkload('Job', deepFreeze(body), injection(ctx));
  expect(result.valid).toBe(true);
  const container = (result.body as AnyBody).spec.template.spec.containers[0];
  expect(Object.getPrototypeOf(container)).toBe(Object.prototype);
  expect(Object.prototype.hasOwnProperty.call(container, '__proto__')).toBe(true);
  expect(({} as AnyBody).polluted).toBeUndefined();
  expect(container.polluted).toBeUndefined();
});

test('run-info variables: literal names when known, the downward API when the server picks the name', () => {
  expect(runEnvFor('Job', 'batch', { name: 'report' })).toEqual([
    { name: RUN_NAME_ENV, value: 'report' },
    { name: K8S_NAMESPACE_ENV, value: 'batch' },
    { name: K8S_JOB_NAME_ENV, value: 'report' },
  ]);
  expect(runEnvFor('Job', 'batch', workloadIdentity({ metadata: { generateName: 'report-' } }))).toEqual([
    { name: RUN_NAME_ENV, value: 'report' },
    { name: K8S_NAMESPACE_ENV, value: 'batch' },
    { name: K8S_JOB_NAME_ENV, valueFrom: { fieldRef: { fieldPath: "metadata.labels['job-name']" } } },
  ]);
  expect(runEnvFor('Pod', 'default', {})).toEqual([
    { name: K8S_NAMESPACE_ENV, value: 'default' },
    { name: K8S_POD_NAME_ENV, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  ]);
  expect(workloadIdentity({ metadata: { name: 42 } })).toEqual({ name: undefined, generateName: undefined });
});

test('the active context is not what is injected: the context passed in is', () => {
  const { ctx, traceparent } = activeContext();
  const other = tracer.startSpan('unrelated');
  const result = context.with(trace.setSpan(ROOT_CONTEXT, other), () => injectIntoWorkload('Job', jobBody(), injection(ctx)));
  other.end();
  expect(valueOf(envOf(podSpecOf(result.body as AnyBody).containers[0]), 'TRACEPARENT')).toBe(traceparent);
});
