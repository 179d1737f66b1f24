/**
 * A local stand-in for the Kubernetes API: batch/v1 Jobs and core/v1 Pods, with real object shapes, real
 * Status errors, list + label selectors and watch streams. Each Job's pod runs its containers as local
 * processes (see runner.ts), so a test can check what a Job really started and with which env.
 *
 * Known differences from a real cluster (see tools/brokers/README.md): no images (the container `command`
 * runs on this machine), no namespaces objects (every valid namespace exists), no PUT/PATCH, retries are
 * immediate (retryDelayMs) instead of exponential, OnFailure retries start a new pod like Never,
 * Indexed completion mode runs like NonIndexed, and a DELETE without propagationPolicy deletes the Job's
 * pods (the real default for batch/v1 is to orphan them).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PodRun, type ContainerSpec, type ContainerState, type RunnerOptions } from './runner';
import {
  DecodeError,
  isObject,
  parseFieldSelector,
  parseLabelSelector,
  validateJob,
  validatePod,
  type Cause,
  type Json,
} from './validation';

export interface K8sApiStandInOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind; loopback by default. */
  host?: string;
  /** Folder for container logs (<namespace>_<pod>_<container>.log). */
  logDir?: string;
  /** Env every container starts from (default: PATH and HOME of this process). */
  baseEnv?: Record<string, string>;
  /** Delay before a failed Job pod is replaced (the real controller backs off 10 s, 20 s, ...). Default 100 ms. */
  retryDelayMs?: number;
  /** Time between SIGTERM and SIGKILL when a running pod is deleted. Default 2000 ms. */
  killGraceMs?: number;
}

export interface K8sApiStandIn {
  url: string;
  port: number;
  close(): Promise<void>;
}

type Resource = 'jobs' | 'pods';

interface ResourceInfo {
  kind: string;
  listKind: string;
  apiVersion: string;
  group: string;
  /** How the real server names the resource in messages ("jobs.batch", "pods"). */
  qualified: string;
  validate(obj: Json): Cause[];
}

const RESOURCES: Record<Resource, ResourceInfo> = {
  jobs: { kind: 'Job', listKind: 'JobList', apiVersion: 'batch/v1', group: 'batch', qualified: 'jobs.batch', validate: validateJob },
  pods: { kind: 'Pod', listKind: 'PodList', apiVersion: 'v1', group: '', qualified: 'pods', validate: validatePod },
};

const MAX_BODY = 3 * 1024 * 1024;
const HISTORY = 5000;
const NODE_NAME = 'threadline-standin';
const POD_IP = '127.0.0.1';

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Json,
  ) {
    super(message);
  }
}

function statusBody(code: number, reason: string, message: string, details?: Json): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

const clone = <T>(value: T): T => structuredClone(value);
const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;
const meta = (obj: Json): Json => obj.metadata as Json;
const labelsOf = (obj: Json): Record<string, string> => (meta(obj).labels as Record<string, string> | undefined) ?? {};

// Kubernetes' generateName alphabet (no vowels, no look-alikes).
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function randomSuffix(): string {
  return [...randomBytes(5)].map((b) => NAME_ALPHABET[b % NAME_ALPHABET.length]).join('');
}

function imagePullPolicy(image: string): string {
  const lastSegment = image.split('/').pop() ?? image;
  return !lastSegment.includes(':') || lastSegment.endsWith(':latest') ? 'Always' : 'IfNotPresent';
}

/** The defaults the real API server fills into a PodSpec. */
function defaultPodSpec(spec: Json): void {
  spec.restartPolicy ||= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  for (const list of [spec.initContainers, spec.containers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list as Json[]) {
      c.imagePullPolicy ??= imagePullPolicy(String(c.image));
      c.terminationMessagePath ??= '/dev/termination-log';
      c.terminationMessagePolicy ??= 'File';
      c.resources ??= {};
      for (const e of (c.env as Json[] | undefined) ?? []) {
        if (isObject(e.valueFrom) && isObject(e.valueFrom.fieldRef)) e.valueFrom.fieldRef.apiVersion ??= 'v1';
      }
    }
  }
}

interface JobRuntime {
  activePods: Set<string>;
  allPods: Set<string>;
  timers: Set<NodeJS.Timeout>;
  finished: boolean;
}

interface Watcher {
  resource: Resource;
  namespace: string | undefined;
  matches(obj: Json): boolean;
  res: ServerResponse;
}

export async function startK8sApiStandIn(options: K8sApiStandInOptions = {}): Promise<K8sApiStandIn> {
  const host = options.host ?? '127.0.0.1';
  const retryDelayMs = options.retryDelayMs ?? 100;
  const runnerOptions: RunnerOptions = {
    ...(options.logDir !== undefined ? { logDir: options.logDir } : {}),
    ...(options.baseEnv !== undefined ? { baseEnv: options.baseEnv } : {}),
    killGraceMs: options.killGraceMs ?? 2000,
  };
  const store: Record<Resource, Map<string, Json>> = { jobs: new Map(), pods: new Map() };
  const history: { rv: number; resource: Resource; type: string; object: Json }[] = [];
  const watchers = new Set<Watcher>();
  const jobRuntimes = new Map<string, JobRuntime>();
  const runs = new Map<string, PodRun>();
  let resourceVersion = 1;
  let closed = false;

  // ---------------------------------------------------------------- events

  function emit(resource: Resource, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Json): void {
    resourceVersion += 1;
    if (type !== 'DELETED') meta(obj).resourceVersion = String(resourceVersion);
    const snapshot = clone(obj);
    if (type === 'DELETED') meta(snapshot).resourceVersion = String(resourceVersion);
    history.push({ rv: resourceVersion, resource, type, object: snapshot });
    if (history.length > HISTORY) history.shift();
    for (const w of watchers) {
      if (w.resource === resource && (!w.namespace || w.namespace === meta(snapshot).namespace) && w.matches(snapshot)) {
        w.res.write(`${JSON.stringify({ type, object: snapshot })}\n`);
      }
    }
  }

  // ---------------------------------------------------------------- pods

  function containerStatus(state: ContainerState): Json {
    let current: Json;
    if (state.phase === 'running') current = { running: { startedAt: state.startedAt } };
    else if (state.phase === 'terminated') {
      current = {
        terminated: {
          exitCode: state.exitCode,
          ...(state.signal ? { signal: state.signal } : {}),
          reason: state.reason,
          ...(state.message ? { message: state.message } : {}),
          startedAt: state.startedAt,
          finishedAt: state.finishedAt,
          ...(state.pid ? { containerID: `standin://${state.pid}` } : {}),
        },
      };
    } else current = { waiting: { reason: state.reason ?? 'ContainerCreating' } };
    return {
      name: state.name,
      image: state.image,
      imageID: '',
      ...(state.pid ? { containerID: `standin://${state.pid}` } : {}),
      ready: state.phase === 'running',
      started: state.phase === 'running',
      restartCount: 0,
      state: current,
      lastState: {},
    };
  }

  function updatePodStatus(pod: Json, run: PodRun): void {
    const status = pod.status as Json;
    const t = now();
    const initDone = run.initStates.every((s) => s.phase === 'terminated' && s.exitCode === 0);
    const ready = run.phase === 'Running' && run.states.every((s) => s.phase === 'running');
    status.phase = run.phase;
    status.startTime ??= t;
    status.conditions = [
      { type: 'PodReadyToStartContainers', status: 'True', lastProbeTime: null, lastTransitionTime: status.startTime },
      { type: 'Initialized', status: initDone ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: t },
      { type: 'Ready', status: ready ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: t },
      { type: 'ContainersReady', status: ready ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: t },
      { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: status.startTime },
    ];
    if (run.initStates.length > 0) status.initContainerStatuses = run.initStates.map(containerStatus);
    status.containerStatuses = run.states.map(containerStatus);
  }

  function newPodStatus(): Json {
    return { phase: 'Pending', hostIP: POD_IP, hostIPs: [{ ip: POD_IP }], podIP: POD_IP, podIPs: [{ ip: POD_IP }], qosClass: 'BestEffort' };
  }

  /** Stores a pod, announces it and runs its containers. */
  function launchPod(pod: Json, onDone?: (phase: string) => void): void {
    const m = meta(pod);
    const key = keyOf(String(m.namespace), String(m.name));
    const spec = pod.spec as Json;
    spec.nodeName ??= NODE_NAME;
    spec.serviceAccountName ??= 'default';
    pod.status = newPodStatus();
    store.pods.set(key, pod);
    emit('pods', 'ADDED', pod);
    const run = new PodRun(
      {
        name: String(m.name),
        namespace: String(m.namespace),
        uid: String(m.uid),
        labels: (m.labels as Record<string, string> | undefined) ?? {},
        annotations: (m.annotations as Record<string, string> | undefined) ?? {},
        serviceAccountName: String(spec.serviceAccountName),
        nodeName: NODE_NAME,
        ip: POD_IP,
      },
      ((spec.initContainers as ContainerSpec[] | undefined) ?? []).map((c) => clone(c)),
      (spec.containers as ContainerSpec[]).map((c) => clone(c)),
      runnerOptions,
      (r) => {
        const current = store.pods.get(key);
        if (current !== pod) return;
        updatePodStatus(pod, r);
        emit('pods', 'MODIFIED', pod);
      },
    );
    // Kept after the pod finishes so its logs stay readable until the pod is deleted.
    runs.set(key, run);
    if (onDone) void run.done.then(onDone);
    run.start();
  }

  async function deletePod(key: string): Promise<Json | undefined> {
    const pod = store.pods.get(key);
    if (!pod) return undefined;
    store.pods.delete(key);
    meta(pod).deletionTimestamp = now();
    meta(pod).deletionGracePeriodSeconds = 0;
    const run = runs.get(key);
    runs.delete(key);
    if (run) await run.kill();
    emit('pods', 'DELETED', pod);
    return pod;
  }

  // ---------------------------------------------------------------- jobs

  function jobCondition(type: string, reason: string, message: string): Json {
    const t = now();
    return { type, status: 'True', lastProbeTime: t, lastTransitionTime: t, reason, message };
  }

  function finishJob(key: string, outcome: 'Complete' | 'Failed', reason: string, message: string): void {
    const job = store.jobs.get(key);
    const rt = jobRuntimes.get(key);
    if (!job || !rt || rt.finished) return;
    rt.finished = true;
    for (const t of rt.timers) clearTimeout(t);
    rt.timers.clear();
    for (const podKey of rt.activePods) void runs.get(podKey)?.kill();
    const status = job.status as Json;
    delete status.active;
    status.ready = 0;
    status.terminating = 0;
    status.conditions = [
      ...((status.conditions as Json[] | undefined) ?? []),
      jobCondition(outcome === 'Complete' ? 'SuccessCriteriaMet' : 'FailureTarget', reason, message),
      jobCondition(outcome, reason, message),
    ];
    if (outcome === 'Complete') status.completionTime = now();
    emit('jobs', 'MODIFIED', job);
    const ttl = (job.spec as Json).ttlSecondsAfterFinished;
    if (typeof ttl === 'number') {
      const timer = setTimeout(() => void deleteJob(key, 'Background'), ttl * 1000);
      timer.unref();
      rt.timers.add(timer);
    }
  }

  function startJobPod(key: string, job: Json, rt: JobRuntime): void {
    const jm = meta(job);
    const template = clone((job.spec as Json).template as Json);
    const tmeta = (template.metadata as Json | undefined) ?? {};
    const name = `${String(jm.name)}-${randomSuffix()}`;
    const pod: Json = {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {
        name,
        generateName: `${String(jm.name)}-`,
        namespace: jm.namespace,
        uid: randomUUID(),
        creationTimestamp: now(),
        labels: tmeta.labels ?? {},
        ...(tmeta.annotations ? { annotations: tmeta.annotations } : {}),
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: jm.name, uid: jm.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: template.spec,
    };
    const podKey = keyOf(String(jm.namespace), name);
    rt.activePods.add(podKey);
    rt.allPods.add(podKey);
    launchPod(pod, (phase) => {
      rt.activePods.delete(podKey);
      const current = store.jobs.get(key);
      if (current !== job || rt.finished) return;
      const status = job.status as Json;
      if (phase === 'Succeeded') status.succeeded = ((status.succeeded as number | undefined) ?? 0) + 1;
      else status.failed = ((status.failed as number | undefined) ?? 0) + 1;
      if (rt.activePods.size > 0) status.active = rt.activePods.size;
      else delete status.active;
      emit('jobs', 'MODIFIED', job);
      if (phase === 'Succeeded' || retryDelayMs === 0) reconcile(key);
      else {
        const timer = setTimeout(() => {
          rt.timers.delete(timer);
          reconcile(key);
        }, retryDelayMs);
        rt.timers.add(timer);
      }
    });
  }

  /** The Job controller, reduced: start pods until `completions` succeed or `backoffLimit` is passed. */
  function reconcile(key: string): void {
    const job = store.jobs.get(key);
    const rt = jobRuntimes.get(key);
    if (!job || !rt || rt.finished || closed) return;
    const spec = job.spec as Json;
    const status = job.status as Json;
    const succeeded = (status.succeeded as number | undefined) ?? 0;
    const failed = (status.failed as number | undefined) ?? 0;
    if (failed > (spec.backoffLimit as number)) {
      finishJob(key, 'Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
      return;
    }
    if (succeeded >= (spec.completions as number)) {
      finishJob(key, 'Complete', 'CompletionsReached', 'Reached expected number of succeeded pods');
      return;
    }
    if (spec.suspend === true) return;
    let started = false;
    while (rt.activePods.size < (spec.parallelism as number) && rt.activePods.size + succeeded < (spec.completions as number)) {
      if (status.startTime === undefined) {
        status.startTime = now();
        const deadline = spec.activeDeadlineSeconds;
        if (typeof deadline === 'number') {
          const timer = setTimeout(
            () => finishJob(key, 'Failed', 'DeadlineExceeded', 'Job was active longer than specified deadline'),
            deadline * 1000,
          );
          rt.timers.add(timer);
        }
      }
      startJobPod(key, job, rt);
      started = true;
    }
    if (started) {
      status.active = rt.activePods.size;
      status.ready = 0;
      status.terminating = 0;
      status.uncountedTerminatedPods = {};
      emit('jobs', 'MODIFIED', job);
    }
  }

  async function deleteJob(key: string, propagation: string): Promise<Json | undefined> {
    const job = store.jobs.get(key);
    if (!job) return undefined;
    const rt = jobRuntimes.get(key);
    if (rt) {
      rt.finished = true;
      for (const t of rt.timers) clearTimeout(t);
    }
    store.jobs.delete(key);
    jobRuntimes.delete(key);
    meta(job).deletionTimestamp = now();
    const podKeys = [...(rt?.allPods ?? [])];
    if (propagation === 'Orphan') {
      for (const podKey of podKeys) {
        const pod = store.pods.get(podKey);
        if (!pod) continue;
        delete meta(pod).ownerReferences;
        emit('pods', 'MODIFIED', pod);
      }
    } else {
      await Promise.all(podKeys.map((k) => deletePod(k)));
    }
    emit('jobs', 'DELETED', job);
    return job;
  }

  // ---------------------------------------------------------------- create

  function prepare(resource: Resource, namespace: string, body: unknown): Json {
    const info = RESOURCES[resource];
    if (!isObject(body)) throw new ApiError(400, 'BadRequest', `${info.kind} in version "v1" cannot be handled as a ${info.kind}: the body is not a JSON object`);
    if (body.apiVersion !== undefined && body.apiVersion !== info.apiVersion) {
      throw new ApiError(400, 'BadRequest', `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${info.apiVersion})`);
    }
    if (body.kind !== undefined && body.kind !== info.kind) {
      throw new ApiError(400, 'BadRequest', `the kind in the data (${String(body.kind)}) does not match the expected kind (${info.kind})`);
    }
    const obj = clone(body);
    if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
    const m = obj.metadata;
    if (!isObject(m)) throw new DecodeError(`${info.kind} in version "v1" cannot be handled as a ${info.kind}: json: cannot unmarshal ${Array.isArray(m) ? 'array' : typeof m} into Go struct field ${info.kind}.metadata of type v1.ObjectMeta`);
    if (m.namespace !== undefined && m.namespace !== '' && m.namespace !== namespace) {
      throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    }
    if ((m.name === undefined || m.name === '') && typeof m.generateName === 'string' && m.generateName !== '') {
      m.name = `${m.generateName}${randomSuffix()}`;
    }
    const causes = info.validate(obj);
    if (causes.length > 0) {
      const name = typeof m.name === 'string' ? m.name : '';
      const list = causes.map((c) => `${c.field}: ${c.message}`);
      const kindName = info.group ? `${info.kind}.${info.group}` : info.kind;
      throw new ApiError(422, 'Invalid', `${kindName} "${name}" is invalid: ${list.length === 1 ? list[0] : `[${list.join(', ')}]`}`, {
        name,
        ...(info.group ? { group: info.group } : {}),
        kind: info.kind,
        causes,
      });
    }
    obj.kind = info.kind;
    obj.apiVersion = info.apiVersion;
    m.namespace = namespace;
    m.uid = randomUUID();
    m.creationTimestamp = now();
    if (resource === 'jobs') defaultJob(obj);
    else defaultPodSpec(obj.spec as Json);
    return obj;
  }

  function defaultJob(job: Json): void {
    const m = meta(job);
    const spec = job.spec as Json;
    spec.parallelism ??= 1;
    spec.completions ??= 1;
    spec.backoffLimit ??= 6;
    spec.completionMode ??= 'NonIndexed';
    spec.suspend ??= false;
    spec.podReplacementPolicy ??= 'TerminatingOrFailed';
    const uid = String(m.uid);
    spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
    const template = spec.template as Json;
    const tmeta = isObject(template.metadata) ? template.metadata : (template.metadata = {});
    tmeta.labels = {
      ...((tmeta.labels as Record<string, string> | undefined) ?? {}),
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': m.name,
      'controller-uid': uid,
      'job-name': m.name,
    };
    // Like the real server: a Job without labels takes its pod template's.
    if (!isObject(m.labels) || Object.keys(m.labels).length === 0) m.labels = { ...(tmeta.labels as Json) };
    m.generation = 1;
    defaultPodSpec(template.spec as Json);
    job.status = {};
  }

  function create(resource: Resource, namespace: string, body: unknown, dryRun: boolean): Json {
    const obj = prepare(resource, namespace, body);
    const m = meta(obj);
    const key = keyOf(namespace, String(m.name));
    if (store[resource].has(key)) {
      const info = RESOURCES[resource];
      throw new ApiError(409, 'AlreadyExists', `${info.qualified} "${String(m.name)}" already exists`, {
        name: m.name,
        ...(info.group ? { group: info.group } : {}),
        kind: resource,
      });
    }
    if (dryRun) {
      m.resourceVersion = String(resourceVersion);
      return obj;
    }
    if (resource === 'pods') {
      launchPod(obj);
      return clone(obj);
    }
    store.jobs.set(key, obj);
    jobRuntimes.set(key, { activePods: new Set(), allPods: new Set(), timers: new Set(), finished: false });
    emit('jobs', 'ADDED', obj);
    const created = clone(obj);
    // Start after answering, so a watcher sees ADDED before the first MODIFIED and the 201 carries the fresh object.
    setImmediate(() => reconcile(key));
    return created;
  }

  // ---------------------------------------------------------------- HTTP

  function notFound(resource: Resource, name: string): ApiError {
    const info = RESOURCES[resource];
    return new ApiError(404, 'NotFound', `${info.qualified} "${name}" not found`, {
      name,
      ...(info.group ? { group: info.group } : {}),
      kind: resource,
    });
  }

  function send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
    res.end(text);
  }

  function readBody(req: IncomingMessage): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) {
          reject(new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'));
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      req.on('error', reject);
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (text.trim() === '') {
          resolve(undefined);
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(new ApiError(400, 'BadRequest', `couldn't get version/kind; json parse error: ${(err as Error).message}`));
        }
      });
    });
  }

  function listItems(resource: Resource, namespace: string | undefined, query: URLSearchParams): Json[] {
    let labelMatch: ReturnType<typeof parseLabelSelector>;
    let fieldMatch: ReturnType<typeof parseFieldSelector>;
    try {
      labelMatch = parseLabelSelector(query.get('labelSelector') ?? undefined);
      fieldMatch = parseFieldSelector(query.get('fieldSelector') ?? undefined);
    } catch (err) {
      throw new ApiError(400, 'BadRequest', (err as Error).message);
    }
    return [...store[resource].values()].filter(
      (o) => (!namespace || meta(o).namespace === namespace) && labelMatch(labelsOf(o)) && fieldMatch(o),
    );
  }

  function watch(resource: Resource, namespace: string | undefined, query: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    let labelMatch: ReturnType<typeof parseLabelSelector>;
    let fieldMatch: ReturnType<typeof parseFieldSelector>;
    try {
      labelMatch = parseLabelSelector(query.get('labelSelector') ?? undefined);
      fieldMatch = parseFieldSelector(query.get('fieldSelector') ?? undefined);
    } catch (err) {
      throw new ApiError(400, 'BadRequest', (err as Error).message);
    }
    const matches = (o: Json): boolean => labelMatch(labelsOf(o)) && fieldMatch(o);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    // Headers go out now: a client awaits the response before any event exists.
    res.flushHeaders();
    const line = (type: string, object: Json): void => {
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const from = query.get('resourceVersion');
    if (!from || from === '0') {
      // No starting point: the current state arrives as ADDED events first, as from a real server.
      for (const o of listItems(resource, namespace, new URLSearchParams())) if (matches(o)) line('ADDED', o);
    } else {
      const since = Number(from);
      const oldest = history[0]?.rv ?? resourceVersion;
      if (!Number.isInteger(since) || (history.length >= HISTORY && since < oldest - 1)) {
        line('ERROR', statusBody(410, 'Expired', `too old resource version: ${from} (${oldest})`));
        res.end();
        return;
      }
      for (const e of history) {
        if (e.rv > since && e.resource === resource && (!namespace || meta(e.object).namespace === namespace) && matches(e.object)) {
          line(e.type, e.object);
        }
      }
    }
    const watcher: Watcher = { resource, namespace, matches, res };
    watchers.add(watcher);
    const stop = (): void => {
      watchers.delete(watcher);
      if (!res.writableEnded) res.end();
    };
    const timeout = Number(query.get('timeoutSeconds'));
    if (timeout > 0) setTimeout(stop, timeout * 1000).unref();
    req.on('close', stop);
  }

  function podLog(namespace: string, name: string, query: URLSearchParams, res: ServerResponse): void {
    const key = keyOf(namespace, name);
    const pod = store.pods.get(key);
    if (!pod) throw notFound('pods', name);
    const containers = ((pod.spec as Json).containers as Json[]).map((c) => String(c.name));
    const inits = (((pod.spec as Json).initContainers as Json[] | undefined) ?? []).map((c) => String(c.name));
    let container = query.get('container');
    if (!container) {
      if (containers.length !== 1) {
        throw new ApiError(400, 'BadRequest', `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}] or one of the init containers: [${inits.join(' ')}]`);
      }
      container = containers[0] as string;
    }
    if (!containers.includes(container) && !inits.includes(container)) {
      throw new ApiError(400, 'BadRequest', `container ${container} is not valid for pod ${name}`);
    }
    const text = runs.get(key)?.logsOf(container) ?? '';
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  function discovery(path: string): Json | undefined {
    const address = `${host}:${port}`;
    switch (path) {
      case '/api':
        return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }] };
      case '/apis':
        return {
          kind: 'APIGroupList',
          apiVersion: 'v1',
          groups: [{ name: 'batch', versions: [{ groupVersion: 'batch/v1', version: 'v1' }], preferredVersion: { groupVersion: 'batch/v1', version: 'v1' } }],
        };
      case '/apis/batch':
        return { kind: 'APIGroup', apiVersion: 'v1', name: 'batch', versions: [{ groupVersion: 'batch/v1', version: 'v1' }], preferredVersion: { groupVersion: 'batch/v1', version: 'v1' } };
      case '/apis/batch/v1':
        return {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: 'batch/v1',
          resources: [
            { name: 'jobs', singularName: 'job', namespaced: true, kind: 'Job', verbs: ['create', 'delete', 'get', 'list', 'watch'], categories: ['all'] },
            { name: 'jobs/status', singularName: '', namespaced: true, kind: 'Job', verbs: ['get'] },
          ],
        };
      case '/api/v1':
        return {
          kind: 'APIResourceList',
          groupVersion: 'v1',
          resources: [
            { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['create', 'delete', 'get', 'list', 'watch'], shortNames: ['po'], categories: ['all'] },
            { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
            { name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
          ],
        };
      case '/version':
        return { major: '1', minor: '33', gitVersion: 'v1.33.0-threadline-standin', platform: `${process.platform}/${process.arch}` };
      default:
        return undefined;
    }
  }

  /** Splits /apis/batch/v1/[watch/]namespaces/{ns}/jobs/{name}/{sub} and /api/v1/... into their parts. */
  function route(path: string): { resource: Resource; namespace?: string; name?: string; sub?: string; legacyWatch: boolean } | undefined {
    const m =
      /^\/(?:apis\/batch\/v1|api\/v1)\/(watch\/)?(?:namespaces\/([^/]+)\/)?(jobs|pods)(?:\/([^/]+))?(?:\/([^/]+))?\/?$/.exec(path);
    if (!m) return undefined;
    const resource = m[3] as Resource;
    if ((resource === 'jobs') !== path.startsWith('/apis/batch/v1/')) return undefined;
    return {
      resource,
      ...(m[2] ? { namespace: decodeURIComponent(m[2]) } : {}),
      ...(m[4] ? { name: decodeURIComponent(m[4]) } : {}),
      ...(m[5] ? { sub: m[5] } : {}),
      legacyWatch: Boolean(m[1]),
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const query = url.searchParams;
    const method = req.method ?? 'GET';
    if (['/healthz', '/livez', '/readyz'].includes(path)) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    const doc = method === 'GET' ? discovery(path) : undefined;
    if (doc) {
      send(res, 200, doc);
      return;
    }
    const nsMatch = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path);
    if (nsMatch && method === 'GET') {
      // Every namespace exists here.
      const name = decodeURIComponent(nsMatch[1] as string);
      send(res, 200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
      return;
    }
    const r = route(path);
    if (!r) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    const info = RESOURCES[r.resource];
    const isWatch = r.legacyWatch || query.get('watch') === 'true' || query.get('watch') === '1';

    if (r.name === undefined) {
      if (method === 'GET') {
        if (isWatch) {
          watch(r.resource, r.namespace, query, req, res);
          return;
        }
        const items = listItems(r.resource, r.namespace, query).map((o) => {
          const item = clone(o);
          // Real list items carry no kind/apiVersion; the list does.
          delete item.kind;
          delete item.apiVersion;
          return item;
        });
        send(res, 200, { kind: info.listKind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(resourceVersion) }, items });
        return;
      }
      if (method === 'POST' && r.namespace !== undefined) {
        const body = await readBody(req);
        const dryRun = query.getAll('dryRun').includes('All');
        send(res, 201, create(r.resource, r.namespace, body, dryRun));
        return;
      }
      throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
    }

    if (r.namespace === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    const key = keyOf(r.namespace, r.name);
    if (r.sub === 'log' && r.resource === 'pods' && method === 'GET') {
      podLog(r.namespace, r.name, query, res);
      return;
    }
    if (r.sub !== undefined && r.sub !== 'status') throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    if (method === 'GET') {
      const obj = store[r.resource].get(key);
      if (!obj) throw notFound(r.resource, r.name);
      send(res, 200, obj);
      return;
    }
    if (method === 'DELETE' && r.sub === undefined) {
      const body = await readBody(req).catch(() => undefined);
      const propagation =
        query.get('propagationPolicy') ?? (isObject(body) && typeof body.propagationPolicy === 'string' ? body.propagationPolicy : 'Background');
      if (!['Orphan', 'Background', 'Foreground'].includes(propagation)) {
        throw new ApiError(422, 'Invalid', `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${propagation}": supported values: "Foreground", "Background", "Orphan"`);
      }
      if (r.resource === 'jobs') {
        const job = await deleteJob(key, propagation);
        if (!job) throw notFound('jobs', r.name);
        send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: r.name, group: 'batch', kind: 'jobs', uid: meta(job).uid } });
      } else {
        const pod = await deletePod(key);
        if (!pod) throw notFound('pods', r.name);
        send(res, 200, pod);
      }
      return;
    }
    throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ApiError) send(res, err.code, statusBody(err.code, err.reason, err.message, err.details));
      else if (err instanceof DecodeError) send(res, 400, statusBody(400, 'BadRequest', err.message));
      else send(res, 500, statusBody(500, 'InternalError', `Internal error occurred: ${(err as Error)?.message ?? String(err)}`));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://${host}:${port}`,
    port,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const rt of jobRuntimes.values()) {
        rt.finished = true;
        for (const t of rt.timers) clearTimeout(t);
      }
      await Promise.all([...runs.values()].map((run) => run.kill()));
      for (const w of watchers) w.res.end();
      watchers.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
