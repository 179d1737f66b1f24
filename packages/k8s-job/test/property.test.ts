/**
 * Property tests over hostile input (issue 11): arbitrary bodies and env arrays for the Job
 * transformation, arbitrary env maps for child processes. Nothing throws, nothing the caller set
 * changes, nothing is polluted. 5,000 cases per property; FUZZ_RUNS raises it.
 */
import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import fc from 'fast-check';
import { ChildProcessInstrumentation, RUN_NAME_ENV } from '../src';
import { injectIntoWorkload, runEnvFor } from '../src/pod-template';
import { childProcessWrapper } from './wrappers';
import { deepFreeze, setupInMemoryOtel as setupOtel } from '@threadline/testing';

const { tracer } = setupOtel();
const numRuns = Number(process.env.FUZZ_RUNS ?? 5000);

const span = tracer.startSpan('creator');
span.end();
const carried = propagation.setBaggage(trace.setSpan(ROOT_CONTEXT, span), propagation.createBaggage({ k: { value: 'v' } }));

const hostileName = fc.oneof(
  fc.string(),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'TRACEPARENT', 'traceparent', 'TRACESTATE', 'BAGGAGE', RUN_NAME_ENV, ''),
);
const small = { maxDepth: 2, maxKeys: 4 };
const hostileValue = fc.oneof(
  { weight: 6, arbitrary: fc.string() },
  { weight: 1, arbitrary: fc.string({ minLength: 1000, maxLength: 10000 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined) },
  { weight: 1, arbitrary: fc.object(small) },
);
const envEntry = fc.oneof(
  { weight: 12, arbitrary: fc.record({ name: hostileName, value: hostileValue }, { requiredKeys: ['name'] }) },
  { weight: 4, arbitrary: fc.record({ name: hostileName, valueFrom: fc.object(small) }) },
  { weight: 1, arbitrary: fc.oneof(fc.string(), fc.constant(null), fc.record({ value: fc.string() })) },
);
const container = fc.record(
  {
    name: fc.string(),
    env: fc.oneof(
      { weight: 8, arbitrary: fc.array(envEntry, { maxLength: 6 }) },
      { weight: 1, arbitrary: fc.constantFrom(null, undefined) },
      { weight: 1, arbitrary: fc.object(small) },
    ),
    envFrom: fc.array(fc.object(small), { maxLength: 2 }),
    extra: fc.object(small),
  },
  { requiredKeys: ['name'] },
);
const containers = fc.oneof({ weight: 12, arbitrary: fc.array(container, { minLength: 1, maxLength: 3 }) }, { weight: 1, arbitrary: fc.anything(small) });
const initContainers = fc.oneof(
  { weight: 4, arbitrary: fc.array(container, { maxLength: 2 }) },
  { weight: 4, arbitrary: fc.constantFrom(null, undefined) },
  { weight: 1, arbitrary: fc.anything(small) },
);
const podSpec = fc.record({ containers, initContainers, volumes: fc.array(fc.object(small), { maxLength: 1 }) }, { requiredKeys: ['containers'] });
const jobLike = fc.record(
  {
    kind: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('Job', undefined) }, { weight: 1, arbitrary: fc.constant('CronJob') }, { weight: 1, arbitrary: fc.anything(small) }),
    metadata: fc.oneof(fc.record({ name: fc.string(), generateName: fc.string() }, { requiredKeys: [] }), fc.anything(small)),
    spec: fc.oneof(
      { weight: 12, arbitrary: fc.record({ template: fc.oneof({ weight: 12, arbitrary: fc.record({ spec: podSpec }) }, { weight: 1, arbitrary: fc.anything(small) }) }) },
      { weight: 1, arbitrary: fc.anything(small) },
    ),
  },
  { requiredKeys: ['spec'] },
);
const anyBody = fc.oneof({ weight: 12, arbitrary: jobLike }, { weight: 1, arbitrary: fc.anything(small) });


/** A plain assertion: `expect` is too slow to call hundreds of thousands of times. */
function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

test('Job bodies: never throws, never changes the input, keeps every user entry first and identical, adds no duplicate', () => {
  let injected = 0;
  fc.assert(
    fc.property(anyBody, fc.boolean(), (body, allowLowercaseEnv) => {
      const before = JSON.stringify(body) ?? 'undefined';
      const frozen = deepFreeze(body);
      const result = injectIntoWorkload('Job', frozen, { context: carried, runEnv: runEnvFor('Job', 'ns', { name: 'j' }), allowLowercaseEnv });
      check((JSON.stringify(frozen) ?? 'undefined') === before, 'the input changed');
      check(({} as Record<string, unknown>).polluted === undefined, 'Object.prototype polluted');
      if (!result.valid) {
        // Object.is: a NaN body is passed through too, and NaN !== NaN.
        check(Object.is(result.body, frozen), 'a rejected body was not passed through as the same object');
        return;
      }
      if (result.body !== frozen) injected++;
      const original = (frozen as any).spec.template.spec;
      const changed = (result.body as any).spec.template.spec;
      for (const field of ['containers', 'initContainers'] as const) {
        if (!Array.isArray(original[field])) continue;
        original[field].forEach((source: Record<string, any>, index: number) => {
          const target = changed[field][index];
          const userEnv: unknown[] = Array.isArray(source.env) ? source.env : [];
          const env: Array<{ name: string }> = target.env ?? [];
          // The user's entries: the same objects, in the same order, first.
          userEnv.forEach((entry, position) => check(env[position] === entry, `user entry ${position} moved or changed`));
          const added = env.slice(userEnv.length);
          const userNames = new Set(userEnv.map((entry) => (entry as { name: string }).name));
          for (const entry of added) {
            check(!userNames.has(entry.name), `${entry.name} added over the user's`);
            check(/^[A-Z_][A-Z0-9_]*$/.test(entry.name), `${entry.name} is not a valid env name`);
          }
          check(new Set(added.map((entry) => entry.name)).size === added.length, 'duplicate names added');
          for (const key of Object.keys(source)) if (key !== 'env') check(target[key] === source[key], `${key} changed`);
        });
      }
    }),
    { numRuns },
  );
  // The generator must reach the interesting path often, not only the rejections.
  expect(injected).toBeGreaterThan(numRuns / 4);
});

test('child env: never throws, keeps every variable the caller set, never writes to the caller\'s env or process.env', () => {
  const instrumentation = new ChildProcessInstrumentation({ enabled: false });
  let received: unknown[] = [];
  const spawn = childProcessWrapper(instrumentation, 'spawn', (...args: unknown[]) => {
    received = args;
    return { pid: 1 };
  });
  const processEnvBefore = JSON.stringify(process.env);
  const envMap = fc.dictionary(hostileName, fc.oneof(fc.string(), fc.constant(undefined)), { maxKeys: 12 });
  fc.assert(
    fc.property(envMap, (callerEnv) => {
      const frozen = Object.freeze(callerEnv);
      const keysBefore = Object.keys(frozen);
      context.with(carried, () => spawn('cmd', ['a'], { env: frozen, cwd: '/' }));
      const options = received[2] as { env: Record<string, unknown>; cwd: string };
      check(options.cwd === '/', 'another option changed');
      check(Object.keys(frozen).join('\0') === keysBefore.join('\0'), "the caller's env changed");
      for (const key of keysBefore) {
        const value = frozen[key];
        // Only an undefined value (which Node skips anyway) may be dropped.
        if (value !== undefined) check(options.env[key] === value, `${key} changed`);
      }
      check(({} as Record<string, unknown>).polluted === undefined, 'Object.prototype polluted');
    }),
    { numRuns },
  );
  expect(JSON.stringify(process.env)).toBe(processEnvBefore);
});
