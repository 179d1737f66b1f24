import type { Context } from '@opentelemetry/api';
import { injectContext, k8sEnvVarAdapter, type EnvVar } from '@threadline/carrier';
import { holdsPropagationVariable, K8S_JOB_NAME_ENV, K8S_NAMESPACE_ENV, K8S_POD_NAME_ENV, RUN_NAME_ENV } from './env';
import type { WorkloadKind } from './types';

type Fields = Record<string | symbol, unknown>;

const isObject = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export interface WorkloadIdentity {
  /** `metadata.name`, when the caller set one. */
  name?: string;
  /** `metadata.generateName`, used when the server picks the name. */
  generateName?: string;
}

/** The name fields of a Job or Pod body; empty for anything unreadable. */
export function workloadIdentity(body: unknown): WorkloadIdentity {
  if (!isObject(body) || !isObject(body.metadata)) return {};
  const { name, generateName } = body.metadata;
  return {
    name: typeof name === 'string' && name !== '' ? name : undefined,
    generateName: typeof generateName === 'string' && generateName !== '' ? generateName : undefined,
  };
}

/**
 * The variables that tell the job side what it runs in. A name the server generates is not
 * known here, so the pod reads it through the downward API: the Job controller labels every
 * pod with `job-name`, and a Pod's own `metadata.name` is always resolvable.
 */
export function runEnvFor(kind: WorkloadKind, namespace: string | undefined, identity: WorkloadIdentity): EnvVar[] {
  const env: EnvVar[] = [];
  const runName = identity.name ?? identity.generateName?.replace(/-+$/, '');
  if (runName) env.push({ name: RUN_NAME_ENV, value: runName });
  if (namespace) env.push({ name: K8S_NAMESPACE_ENV, value: namespace });
  const nameVariable = kind === 'Job' ? K8S_JOB_NAME_ENV : K8S_POD_NAME_ENV;
  if (identity.name !== undefined) {
    env.push({ name: nameVariable, value: identity.name });
  } else {
    const fieldPath = kind === 'Job' ? "metadata.labels['job-name']" : 'metadata.name';
    env.push({ name: nameVariable, valueFrom: { fieldRef: { fieldPath } } });
  }
  return env;
}

export interface PodEnvInjection {
  /** The context every container carries. */
  context: Context;
  /** Variables describing the run; added to each container that ends up with a context. */
  runEnv: readonly EnvVar[];
  /** Count a lowercase `traceparent` the caller set as their context. */
  allowLowercaseEnv: boolean;
  /** Also write `THREADLINE_SENT_AT` (now, epoch ms) beside the context: metrics are on. */
  sentAt?: boolean;
}

export type ContainerOutcome = 'injected' | 'kept-existing' | 'none';

export type WorkloadInjectionResult =
  | { valid: true; body: unknown; outcomes: ContainerOutcome[] }
  | { valid: false; body: unknown; reason: string };

/**
 * A copy of `source` (same prototype, so generated model classes stay what they were) with
 * `changes` applied. Own `__proto__` keys are copied as data, never as a prototype.
 */
function cloneWith<T extends object>(source: T, changes: Fields): T {
  const copy = Object.create(Object.getPrototypeOf(source)) as T;
  for (const key of Reflect.ownKeys(source)) {
    const descriptor = Object.getOwnPropertyDescriptor(source, key);
    if (descriptor === undefined) continue;
    Object.defineProperty(
      copy,
      key,
      'value' in descriptor
        ? { value: descriptor.value, writable: true, enumerable: descriptor.enumerable, configurable: true }
        : { ...descriptor, configurable: true },
    );
  }
  for (const key of Object.keys(changes)) {
    Object.defineProperty(copy, key, { value: changes[key], writable: true, enumerable: true, configurable: true });
  }
  return copy;
}

function invalid(body: unknown, reason: string): WorkloadInjectionResult {
  return { valid: false, body, reason };
}

/** Why a container list cannot be used, or undefined when it can. */
function containerListProblem(list: unknown, field: string, required: boolean): string | undefined {
  if (list === undefined || list === null) return required ? `${field} is missing` : undefined;
  if (!Array.isArray(list)) return `${field} is not an array`;
  if (required && list.length === 0) return `${field} is empty`;
  for (let index = 0; index < list.length; index++) {
    const container: unknown = list[index];
    if (!isObject(container)) return `${field}[${index}] is not an object`;
    const env = container.env;
    if (env === undefined || env === null) continue;
    if (!Array.isArray(env)) return `${field}[${index}].env is not an array`;
    if (!env.every((entry) => isObject(entry) && typeof entry.name === 'string')) {
      return `${field}[${index}].env holds an entry without a string name`;
    }
  }
  return undefined;
}

function injectIntoContainer(container: Fields, injection: PodEnvInjection): { container: Fields; outcome: ContainerOutcome } {
  const original = Array.isArray(container.env) ? (container.env as EnvVar[]) : [];
  const env = original.slice();
  let outcome: ContainerOutcome = 'none';
  if (holdsPropagationVariable(env.map((entry) => entry.name), injection.allowLowercaseEnv)) {
    outcome = 'kept-existing';
  } else if (injectContext(injection.context, env, k8sEnvVarAdapter, { keepExisting: false, sentAt: injection.sentAt === true }) === 'injected' && env.length > original.length) {
    outcome = 'injected';
  }
  if (outcome !== 'none') {
    for (const variable of injection.runEnv) {
      if (!env.some((entry) => entry.name === variable.name)) env.push({ ...variable });
    }
  }
  if (env.length === original.length) return { container, outcome };
  return { container: cloneWith(container, { env }), outcome };
}

function injectIntoPodSpec(podSpec: Fields, injection: PodEnvInjection): { podSpec: Fields; outcomes: ContainerOutcome[] } {
  const outcomes: ContainerOutcome[] = [];
  const changes: Fields = {};
  for (const field of ['initContainers', 'containers'] as const) {
    const list = podSpec[field];
    if (!Array.isArray(list)) continue;
    let changed = false;
    const next = list.map((container: Fields) => {
      const result = injectIntoContainer(container, injection);
      outcomes.push(result.outcome);
      if (result.container !== container) changed = true;
      return result.container;
    });
    if (changed) changes[field] = next;
  }
  return { podSpec: Object.keys(changes).length > 0 ? cloneWith(podSpec, changes) : podSpec, outcomes };
}

/**
 * Carries `injection.context` into every container and initContainer of a Job's pod template
 * or a Pod's spec. The caller's body is never modified: the objects on the path to each changed
 * `env` are copied, everything else is shared. A body of the wrong shape comes back unchanged
 * with the reason.
 */
export function injectIntoWorkload(kind: WorkloadKind, body: unknown, injection: PodEnvInjection): WorkloadInjectionResult {
  if (!isObject(body)) return invalid(body, 'the body is not an object');
  if (body.kind !== undefined && body.kind !== kind) return invalid(body, `body.kind is ${JSON.stringify(body.kind)}, not ${kind}`);
  let podSpec: unknown;
  if (kind === 'Job') {
    if (!isObject(body.spec)) return invalid(body, 'spec is missing');
    if (!isObject(body.spec.template)) return invalid(body, 'spec.template is missing');
    podSpec = body.spec.template.spec;
  } else {
    podSpec = body.spec;
  }
  const podSpecPath = kind === 'Job' ? 'spec.template.spec' : 'spec';
  if (!isObject(podSpec)) return invalid(body, `${podSpecPath} is missing`);
  const problem =
    containerListProblem(podSpec.containers, `${podSpecPath}.containers`, true) ??
    containerListProblem(podSpec.initContainers, `${podSpecPath}.initContainers`, false);
  if (problem !== undefined) return invalid(body, problem);

  const result = injectIntoPodSpec(podSpec, injection);
  if (result.podSpec === podSpec) return { valid: true, body, outcomes: result.outcomes };
  if (kind === 'Pod') return { valid: true, body: cloneWith(body, { spec: result.podSpec }), outcomes: result.outcomes };
  const spec = body.spec as Fields;
  const template = cloneWith(spec.template as Fields, { spec: result.podSpec });
  return { valid: true, body: cloneWith(body, { spec: cloneWith(spec, { template }) }), outcomes: result.outcomes };
}
