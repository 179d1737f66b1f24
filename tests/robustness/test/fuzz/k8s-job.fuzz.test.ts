// Kubernetes Job and child_process transport paths, fuzzed in process: the instrumentations'
// wrappers (createWrapper / wrapperFor, as @threadline/k8s-job's own tests call them) around
// stand-ins that record what the API client or Node would have been given; the same bodies sent to
// the real kube-apiserver (dryRun, nothing stored) with and without the wrapper; and the job side's
// extract path (the environment read by @threadline/register) through the carrier adapters.
import { context, ROOT_CONTEXT, trace, type Context, type SpanContext } from '@opentelemetry/api';
import { carriedSpanContext, envAdapter, k8sEnvVarAdapter } from '@threadline/carrier';
import { ChildProcessInstrumentation, KubernetesJobInstrumentation } from '@threadline/k8s-job';
import { brokerAddresses, KubeApiError, KubeClient, readKubeconfig, setupInMemoryOtel } from '@threadline/testing';
import fc from 'fast-check';
import {
  assertNoPollution,
  assertValidOrAbsent,
  contextText,
  describe as show,
  freezeAll,
  hostileKey,
  hostileMap,
  hostileValue,
  longString,
  numRuns,
  ownEntries,
  sameEntries,
  spanContextArb,
  structurallyEqual,
  traceparentOf,
} from './hostile';

const { exporter } = setupInMemoryOtel();
type AnyRecord = Record<string, any>;

const ADDED_ENV = new Set(['TRACEPARENT', 'TRACESTATE', 'BAGGAGE', 'THREADLINE_RUN_NAME', 'THREADLINE_K8S_NAMESPACE', 'THREADLINE_K8S_JOB_NAME', 'THREADLINE_K8S_POD_NAME']);
const envName = fc.oneof(
  { weight: 3, arbitrary: hostileKey },
  { weight: 2, arbitrary: fc.constantFrom('TRACEPARENT', 'traceparent', 'TRACESTATE', 'BAGGAGE', 'THREADLINE_RUN_NAME', 'THREADLINE_K8S_JOB_NAME', 'PATH') },
);
const envEntry = fc.oneof(
  { weight: 10, arbitrary: fc.record({ name: envName, value: fc.oneof(fc.string(), contextText, longString, hostileValue) }, { requiredKeys: ['name'] }) },
  { weight: 3, arbitrary: fc.record({ name: envName, valueFrom: fc.oneof(fc.record({ fieldRef: fc.record({ fieldPath: fc.string() }) }), hostileValue) }) },
  { weight: 1, arbitrary: hostileValue },
);
const container = fc.record(
  {
    name: fc.string({ maxLength: 10 }),
    image: fc.string({ maxLength: 10 }),
    command: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
    env: fc.oneof({ weight: 8, arbitrary: fc.array(envEntry, { maxLength: 6 }) }, { weight: 1, arbitrary: fc.constantFrom(null, undefined) }, { weight: 1, arbitrary: hostileValue }),
    envFrom: fc.array(fc.record({ secretRef: fc.record({ name: fc.string() }) }), { maxLength: 1 }),
  },
  { requiredKeys: ['name'] },
);
const podSpec = fc.record({
  containers: fc.oneof({ weight: 9, arbitrary: fc.array(container, { minLength: 1, maxLength: 3 }) }, { weight: 1, arbitrary: hostileValue }),
  initContainers: fc.option(fc.array(container, { maxLength: 2 }), { nil: undefined }),
  restartPolicy: fc.constantFrom('Never', 'OnFailure', undefined),
});
const jobBody = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.record(
      {
        apiVersion: fc.constant('batch/v1'),
        kind: fc.constantFrom('Job', undefined, 'CronJob'),
        metadata: fc.oneof(fc.record({ name: fc.string({ maxLength: 12 }), generateName: fc.string({ maxLength: 12 }), labels: hostileMap(fc.string()) }, { requiredKeys: [] }), hostileValue),
        spec: fc.oneof({ weight: 9, arbitrary: fc.record({ template: fc.record({ metadata: fc.record({ labels: hostileMap(fc.string()) }), spec: podSpec }) }) }, { weight: 1, arbitrary: hostileValue }),
      },
      { requiredKeys: ['spec'] },
    ),
  },
  { weight: 1, arbitrary: hostileValue },
);

/** A copy of `body` from which every env entry the instrumentation may add (at the end of an env array, past `userLengths`) is removed. */
function withoutAdded(sent: unknown, original: unknown, where: { toString(): string }): unknown {
  if (Array.isArray(original)) {
    if (!Array.isArray(sent)) return sent;
    const isEnv = original.length <= sent.length && original.every((entry, index) => sent[index] === entry || structurallyEqual(sent[index], entry));
    if (isEnv && sent.length > original.length && sent.slice(original.length).every((entry) => typeof entry === 'object' && entry !== null && ADDED_ENV.has(entry.name))) {
      const addedNames = sent.slice(original.length).map((entry) => entry.name as string);
      for (const name of addedNames) {
        if (original.some((entry) => typeof entry === 'object' && entry !== null && (entry as AnyRecord).name === name)) throw new Error(`${name} added beside the caller's own; ${where}`);
      }
      return sent.slice(0, original.length);
    }
    return sent.map((item, index) => withoutAdded(item, original[index], where));
  }
  if (typeof original === 'object' && original !== null && typeof sent === 'object' && sent !== null && sent !== original) {
    const proto = Object.getPrototypeOf(original);
    // A Buffer, Date, Map… where the API expects a plain JSON object: the API refuses it either way.
    if (proto !== Object.prototype && proto !== null) return original;
    const copy: AnyRecord = Object.create(Object.getPrototypeOf(sent));
    for (const key of Object.keys(sent)) {
      const descriptor = Object.getOwnPropertyDescriptor(sent, key)!;
      // A container without env gets one holding only the added variables.
      const addedEnv = Array.isArray(descriptor.value) && descriptor.value.every((entry: unknown) => typeof entry === 'object' && entry !== null && ADDED_ENV.has((entry as AnyRecord).name));
      if (key === 'env' && addedEnv && (original as AnyRecord).env == null) {
        if ((original as AnyRecord).env === null || Object.prototype.hasOwnProperty.call(original, 'env')) descriptor.value = (original as AnyRecord).env;
        else continue;
      }
      const originalValue = Object.getOwnPropertyDescriptor(original, key)?.value;
      if ('value' in descriptor) descriptor.value = withoutAdded(descriptor.value, originalValue, where);
      Object.defineProperty(copy, key, descriptor);
    }
    return copy;
  }
  return sent;
}

type AnyFunction = (...args: unknown[]) => unknown;

// The wrappers are private: reach them as the require hook does, by letting the instrumentation's
// module definition patch a stand-in for the module's exports.
function jobWrapper(instrumentation: KubernetesJobInstrumentation, original: AnyFunction): AnyFunction {
  const BatchV1Api = Object.assign(function BatchV1Api() {}, { prototype: { createNamespacedJob: original } as Record<string, unknown> });
  instrumentation.getModuleDefinitions()[0].patch?.({ BatchV1Api }, '1.0.0');
  return BatchV1Api.prototype.createNamespacedJob as AnyFunction;
}

function childProcessWrapper(instrumentation: ChildProcessInstrumentation, method: string, original: AnyFunction): AnyFunction {
  const childProcess: Record<string, unknown> = { [method]: original };
  instrumentation.getModuleDefinitions()[0].patch?.(childProcess, '1.0.0');
  return childProcess[method] as AnyFunction;
}

beforeEach(() => exporter.reset());
afterEach(() => assertNoPollution());

test('createNamespacedJob: the caller\'s (frozen) body untouched; the body sent is the caller\'s plus context env entries, never beside the caller\'s own', async () => {
  const instrumentation = new KubernetesJobInstrumentation({ enabled: false });
  let injected = 0;
  await fc.assert(
    fc.asyncProperty(jobBody, fc.boolean(), fc.option(spanContextArb), fc.boolean(), async (body, objectStyle, parent, allowLowercaseEnv) => {
      instrumentation.setConfig({ enabled: false, allowLowercaseEnv });
      let sentArgs: unknown[] = [];
      const answer = { metadata: { name: 'job', uid: 'u' } };
      const create = jobWrapper(instrumentation, (...args: unknown[]) => {
        sentArgs = args;
        return Promise.resolve(answer);
      });
      const before = show(body);
      const frozen = freezeAll(body);
      const args = objectStyle ? [{ namespace: 'ns', body: frozen }] : ['ns', frozen];
      const active = parent === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: false });
      const result = await context.with(active, () => create(...args));
      const where = { toString: () => `body=${before}` };
      if (result !== answer) throw new Error(`result not passed through; ${where}`);
      if (show(frozen) !== before) throw new Error(`caller's body changed; ${where}`);
      const sentBody = objectStyle ? (sentArgs[0] as AnyRecord).body : sentArgs[1];
      if (sentBody !== frozen) {
        injected += 1;
        if (!structurallyEqual(withoutAdded(sentBody, frozen, where), frozen)) throw new Error(`body differs beyond added env entries; ${where}`);
      }
      for (const span of exporter.getFinishedSpans()) assertValidOrAbsent(span.spanContext(), 'create span');
      exporter.reset();
    }),
    { numRuns },
  );
  expect(injected).toBeGreaterThan(numRuns / 10);
});

test('createNamespacedJob against the real kube-apiserver (dryRun=All): the server\'s verdict is the same with and without the instrumentation, a refusal reaches the caller with the same status and causes', async () => {
  let api: KubeClient;
  try {
    api = new KubeClient(readKubeconfig(brokerAddresses().k8s.kubeconfig));
    await api.call('GET', '/version');
  } catch (error) {
    throw new Error(`kube-apiserver is not up (${(error as Error).message}): node tools/brokers/cli.mjs up kube-apiserver`);
  }
  const post = (body: unknown) => api.call('POST', '/apis/batch/v1/namespaces/default/jobs?dryRun=All', body);
  // Status code and the server's causes, as a set: a `__proto__` label key is copied to the front of its
  // map by the instrumentation's clone, so the server lists the same causes in another order. A
  // generateName gets a random 5-character suffix per request; it shows in the name and job-name labels.
  const verdict = (outcome: PromiseSettledResult<unknown>, body: unknown) => {
    if (outcome.status === 'fulfilled') return 'created';
    const prefix = (body as AnyRecord)?.metadata?.generateName;
    // The server quotes the name in its messages (Go's %q), so a `"` or `\` in the prefix shows escaped
    // there; for the printable ASCII fast-check generates, that is the same as JSON's escaping.
    const forms = typeof prefix === 'string' ? [...new Set([prefix, JSON.stringify(prefix).slice(1, -1)])] : [];
    const generated = forms.length ? new RegExp(`(?:${forms.map((form) => form.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})[a-z0-9]{5}`, 'g') : undefined;
    const scrub = (text: string) => (generated ? text.replace(generated, '<generated>') : text);
    if (!(outcome.reason instanceof KubeApiError)) return `threw ${String(outcome.reason)}`;
    const status = outcome.reason.body as AnyRecord;
    const causes = (status?.details?.causes ?? []) as AnyRecord[];
    return `${outcome.reason.status} ${causes.length ? JSON.stringify(causes.map((c) => scrub(`${c.field}|${c.reason}|${c.message}`)).sort()) : scrub(outcome.reason.message)}`;
  };
  const instrumentation = new KubernetesJobInstrumentation({ enabled: false });
  const seen = new Set<string>();
  let injected = 0;
  // Mostly the hostile bodies above; a quarter valid Jobs with fuzzed env, which the server stores.
  const validJob = fc
    .tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/), fc.array(fc.record({ name: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,8}$/), value: fc.oneof(fc.string(), contextText) }), { maxLength: 4 }))
    .map(([name, env]) => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'x', env }] } } } }));
  await fc.assert(
    fc.asyncProperty(fc.oneof({ weight: 3, arbitrary: jobBody }, { weight: 1, arbitrary: validJob }), spanContextArb, async (generated, parent) => {
      // Only what a client could send: the JSON the body serializes to.
      let body: unknown;
      try {
        body = JSON.parse(JSON.stringify(generated) ?? 'null');
      } catch {
        return;
      }
      const plain = await Promise.allSettled([post(body)]).then(([r]) => r);
      let sent: unknown;
      const create = jobWrapper(instrumentation, (...args: unknown[]) => {
        sent = (args[0] as AnyRecord).body;
        return post(sent);
      });
      const active = trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: false });
      const instrumented = await Promise.allSettled([context.with(active, () => create({ namespace: 'default', body }))]).then(([r]) => r);
      const where = `body=${show(body)}`;
      if (sent !== body) injected += 1;
      if (verdict(plain, body) !== verdict(instrumented, body)) throw new Error(`plain: ${verdict(plain, body)}\ninstrumented: ${verdict(instrumented, body)}\n${where}`);
      seen.add(verdict(plain, body).slice(0, 3));
      exporter.reset();
    }),
    {
      numRuns: Math.min(numRuns, 60),
      // A CI failure, kept: the server quoted the prefix's backslash, so the raw prefix did not match.
      examples: [' \\', 'a"b\\'].map((generateName) => [{ metadata: { generateName }, spec: Buffer.from([255, 254, 253]) }, { traceId: '00000000000000000000000000000003', spanId: '000000000000000a', traceFlags: 0, isRemote: true }] as [unknown, SpanContext]),
    },
  );
  // The property met both a body the server stored (dry run) and one it refused.
  expect([...seen].sort()).toEqual(expect.arrayContaining(['cre', '422']));
  expect(injected).toBeGreaterThan(0);
});

const envMap = fc.oneof(
  { weight: 8, arbitrary: fc.dictionary(envName, fc.oneof(fc.string(), contextText, longString), { maxKeys: 8 }) },
  { weight: 2, arbitrary: hostileMap() },
);

test('child_process: the caller\'s env and process.env untouched; the child gets the caller\'s env plus context variables, never over the caller\'s own', () => {
  const instrumentation = new ChildProcessInstrumentation({ enabled: false });
  const processEnvBefore = JSON.stringify(process.env);
  let injected = 0;
  fc.assert(
    fc.property(fc.option(envMap, { nil: undefined }), spanContextArb.map((spanContext) => ({ ...spanContext, traceFlags: 1 })), fc.constantFrom('spawn', 'execFile', 'fork'), (env, parent, method) => {
      let sentOptions: AnyRecord | undefined;
      const child = { pid: 4242, once: () => child };
      const wrapped = childProcessWrapper(instrumentation, method, (...args: unknown[]) => {
        sentOptions = args.find((arg) => typeof arg === 'object' && arg !== null && !Array.isArray(arg)) as AnyRecord | undefined;
        return child;
      });
      const options = env === undefined ? { cwd: '/tmp' } : { cwd: '/tmp', env };
      const before = ownEntries(env);
      const callerOptions = ownEntries(options);
      const where = { toString: () => `env=${show(env)}` };
      const active: Context = trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: false });
      const returned = context.with(active, () => (method === 'fork' ? wrapped('script.js', ['a'], options) : wrapped('/bin/true', ['a'], options)));
      if (returned !== child) throw new Error(`child not returned; ${where}`);
      if (!sameEntries(before, ownEntries(env)) || !sameEntries(callerOptions, ownEntries(options))) throw new Error(`caller's options or env changed; ${where}`);
      if (JSON.stringify(process.env) !== processEnvBefore) throw new Error('process.env changed');
      // Passed through unchanged (an env Node could not read either, such as a throwing getter).
      if (sentOptions === options) return;
      const sentEnv = sentOptions?.env as AnyRecord | undefined;
      if (sentEnv === undefined) throw new Error(`no env handed to the child; ${where}`);
      const userKeys: string[] = [];
      if (env !== undefined) for (const key in env) userKeys.push(key);
      // (A variable set to undefined is not set, for Node: threadline may set it; see the report.)
      for (const key of userKeys) if ((env as AnyRecord)[key] !== undefined && !Object.is(sentEnv[key], (env as AnyRecord)[key])) throw new Error(`env ${JSON.stringify(key)} altered; ${where}`);
      const added = Object.keys(sentEnv).filter((key) => (env === undefined ? !(key in process.env) : !userKeys.includes(key)));
      if (added.some((key) => !ADDED_ENV.has(key))) throw new Error(`added ${added}; ${where}`);
      // Node leaves out variables whose value is undefined: they are not set.
      const callerHasContext = userKeys.some((key) => ['TRACEPARENT', 'TRACESTATE', 'BAGGAGE'].includes(key) && (env as AnyRecord)[key] !== undefined);
      if (callerHasContext && added.some((key) => key !== 'THREADLINE_RUN_NAME')) throw new Error(`context added beside the caller's; ${where}`);
      if (added.includes('TRACEPARENT')) {
        injected += 1;
        const spans = exporter.getFinishedSpans();
        if (!spans.some((span) => traceparentOf(span.spanContext()) === sentEnv.TRACEPARENT)) throw new Error(`TRACEPARENT names no spawn span; ${where}`);
      }
      exporter.reset();
    }),
    { numRuns },
  );
  expect(injected).toBeGreaterThan(numRuns / 10);
});

test('job side: reading context from arbitrary environments and env arrays never throws or yields an invalid context', () => {
  fc.assert(
    fc.property(fc.oneof(envMap, hostileValue), fc.array(fc.oneof(fc.record({ name: envName, value: fc.oneof(fc.string(), contextText, hostileValue) }), hostileValue), { maxLength: 6 }), (env, array) => {
      const fromEnv: SpanContext | undefined = carriedSpanContext(env as AnyRecord, envAdapter);
      assertValidOrAbsent(fromEnv, `env ${show(env)}`);
      assertValidOrAbsent(carriedSpanContext(array as never, k8sEnvVarAdapter), `env array ${show(array)}`);
    }),
    { numRuns },
  );
});
