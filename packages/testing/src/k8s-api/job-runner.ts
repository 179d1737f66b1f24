/**
 * The part of a cluster no real component gives here: a kubelet and a Job controller, in one small
 * process, against a real kube-apiserver. It watches Jobs and Pods; for each Job it creates Pods through
 * the API (owned by the Job, from its stored template) and runs them; each Pod (a Job's, or one created
 * directly) runs as local processes (runner.ts) with the env stored by the server; status goes back
 * through the `status` subresources. Everything else (validation, defaults, storage, watch) is the server's.
 */
import { KubeApiError, KubeClient, isObject, type Json, type KubeTarget } from './kube-client';
import { PodRun, type ContainerSpec, type ContainerState, type PodPhase, type RunnerOptions } from './runner';

export interface JobRunnerOptions extends RunnerOptions {
  target: KubeTarget;
  /** Wait before a failed Job pod is replaced (the real controller backs off 10 s, 20 s, ...). */
  retryDelayMs?: number;
  /** Errors of the runner itself (status writes refused, watch trouble); default: ignored. */
  onError?: (message: string) => void;
}

export interface JobRunner {
  /** True once both watches (Jobs, Pods) are established. */
  readonly watching: boolean;
  /** Pods running now. */
  readonly running: number;
  close(): Promise<void>;
}

// The node name the downward API reports: pods are run here without being bound to a Node object.
const NODE_NAME = 'threadline-local';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const meta = (obj: Json) => (isObject(obj.metadata) ? obj.metadata : {}) as Json;
const jobPath = (ns: string, name: string) => `/apis/batch/v1/namespaces/${ns}/jobs/${name}`;
const podPath = (ns: string, name: string) => `/api/v1/namespaces/${ns}/pods/${name}`;

function containerStatus(s: ContainerState): Json {
  const state =
    s.phase === 'terminated'
      ? { terminated: { exitCode: s.exitCode ?? 0, reason: s.reason, ...(s.message ? { message: s.message } : {}), startedAt: s.startedAt, finishedAt: s.finishedAt } }
      : s.phase === 'running'
        ? { running: { startedAt: s.startedAt } }
        : { waiting: { reason: s.reason ?? 'ContainerCreating' } };
  return { name: s.name, image: s.image, imageID: '', ready: s.phase === 'running', restartCount: 0, started: s.phase === 'running', state };
}

function condition(type: string, reason: string, message: string): Json {
  const at = now();
  return { type, status: 'True', reason, message, lastProbeTime: at, lastTransitionTime: at };
}

function isFinished(job: Json): boolean {
  const conditions = (isObject(job.status) && Array.isArray(job.status.conditions) ? job.status.conditions : []) as Json[];
  return conditions.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

function ownedByJob(pod: Json): boolean {
  const refs = meta(pod).ownerReferences;
  return Array.isArray(refs) && refs.some((r) => isObject(r) && r.kind === 'Job' && r.controller === true);
}

export async function startJobRunner(options: JobRunnerOptions): Promise<JobRunner> {
  const api = new KubeClient(options.target);
  const report = options.onError ?? (() => undefined);
  const abort = new AbortController();
  const runs = new Map<string, PodRun>(); // pod uid -> its run
  const jobs = new Map<string, { pods: Set<string>; deleted: boolean }>(); // job uid -> its pods
  const tasks = new Set<Promise<unknown>>();
  const watches = { jobs: false, pods: false };
  let closed = false;

  const track = (task: Promise<unknown>) => {
    tasks.add(task);
    void task.finally(() => tasks.delete(task));
  };

  /** Runs one stored Pod; its status is written as it changes, one write at a time and in order. */
  function runPod(pod: Json): Promise<PodPhase> {
    const m = meta(pod);
    const spec = pod.spec as Json;
    const ns = String(m.namespace);
    const name = String(m.name);
    let writes: Promise<unknown> = Promise.resolve();
    const startTime = now();
    const run = new PodRun(
      {
        name,
        namespace: ns,
        uid: String(m.uid),
        labels: (m.labels ?? {}) as Record<string, string>,
        annotations: (m.annotations ?? {}) as Record<string, string>,
        serviceAccountName: String(spec.serviceAccountName ?? 'default'),
        nodeName: NODE_NAME,
        ip: '127.0.0.1',
      },
      (spec.initContainers ?? []) as ContainerSpec[],
      (spec.containers ?? []) as ContainerSpec[],
      options,
      (r) => {
        const status = {
          phase: r.phase,
          startTime,
          ...(r.initStates.length ? { initContainerStatuses: r.initStates.map(containerStatus) } : {}),
          containerStatuses: r.states.map(containerStatus),
        };
        writes = writes.then(() => api.patchStatus(podPath(ns, name), status)).catch((e: unknown) => report(`pod ${ns}/${name} status: ${(e as Error).message}`));
      },
    );
    runs.set(String(m.uid), run);
    run.start();
    return run.done.then(async (phase) => {
      await writes;
      runs.delete(String(m.uid));
      return phase;
    });
  }

  /** The Job controller's part: pods one after another until `completions` succeeded or `backoffLimit` failures. */
  async function runJob(job: Json): Promise<void> {
    const m = meta(job);
    const spec = job.spec as Json;
    const ns = String(m.namespace);
    const name = String(m.name);
    const uid = String(m.uid);
    const entry = { pods: new Set<string>(), deleted: false };
    jobs.set(uid, entry);
    const completions = Number(spec.completions ?? 1);
    const backoffLimit = Number(spec.backoffLimit ?? 6);
    const template = spec.template as Json;
    const tmeta = meta(template);
    let succeeded = 0;
    let failed = 0;
    let deadlineHit = false;
    const startTime = now();
    const patch = (status: Json) => api.patchStatus(jobPath(ns, name), status).catch((e: unknown) => report(`job ${ns}/${name} status: ${(e as Error).message}`));
    const deadlineS = Number(spec.activeDeadlineSeconds);
    const deadline = Number.isFinite(deadlineS)
      ? setTimeout(() => {
          deadlineHit = true;
          for (const podUid of entry.pods) void runs.get(podUid)?.kill();
        }, deadlineS * 1000)
      : undefined;
    try {
      await patch({ startTime, active: 1 });
      while (!closed && !entry.deleted && !deadlineHit && succeeded < completions && failed <= backoffLimit) {
        let pod: Json;
        try {
          pod = await api.call('POST', `/api/v1/namespaces/${ns}/pods`, {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: {
              generateName: `${name}-`,
              labels: tmeta.labels ?? {},
              ...(tmeta.annotations ? { annotations: tmeta.annotations } : {}),
              ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid, controller: true, blockOwnerDeletion: true }],
            },
            spec: template.spec,
          });
        } catch (error) {
          // The server refused the pod (the real controller would retry and record an event): count it as failed.
          report(`job ${ns}/${name}: creating its pod failed: ${(error as Error).message}`);
          failed++;
          await sleep(options.retryDelayMs ?? 100);
          continue;
        }
        const podUid = String(meta(pod).uid);
        entry.pods.add(podUid);
        const phase = await runPod(pod);
        entry.pods.delete(podUid);
        if (phase === 'Succeeded') succeeded++;
        else failed++;
        const more = succeeded < completions && failed <= backoffLimit && !deadlineHit && !entry.deleted;
        await patch({ active: more ? 1 : null, succeeded: succeeded || null, failed: failed || null });
        if (more && phase !== 'Succeeded') await sleep(options.retryDelayMs ?? 100);
      }
      if (entry.deleted || closed) return;
      if (succeeded >= completions) {
        const msg = 'Reached expected number of succeeded pods';
        await patch({ completionTime: now(), conditions: [condition('SuccessCriteriaMet', 'CompletionsReached', msg), condition('Complete', 'CompletionsReached', msg)] });
      } else {
        const [reason, msg] = deadlineHit
          ? ['DeadlineExceeded', 'Job was active longer than specified deadline']
          : ['BackoffLimitExceeded', 'Job has reached the specified backoff limit'];
        await patch({ active: null, conditions: [condition('FailureTarget', reason, msg), condition('Failed', reason, msg)] });
      }
    } finally {
      clearTimeout(deadline);
    }
  }

  function onJob(type: string, job: Json): void {
    const uid = String(meta(job).uid);
    const known = jobs.get(uid);
    if (type === 'DELETED' || meta(job).deletionTimestamp) {
      if (known) {
        known.deleted = true;
        for (const podUid of known.pods) void runs.get(podUid)?.kill();
      }
      return;
    }
    if (known || isFinished(job) || (isObject(job.spec) && job.spec.suspend === true)) return;
    // A Job this runner started before a restart has a startTime: its pods were lost with the old runner.
    if (isObject(job.status) && job.status.startTime) return;
    track(runJob(job).catch((e: unknown) => report(`job ${String(meta(job).name)}: ${(e as Error).message}`)));
  }

  function onPod(type: string, pod: Json): void {
    if (ownedByJob(pod)) return;
    const uid = String(meta(pod).uid);
    const run = runs.get(uid);
    if (type === 'DELETED' || meta(pod).deletionTimestamp) {
      void run?.kill();
      return;
    }
    const phase = isObject(pod.status) ? pod.status.phase : undefined;
    if (run || phase === 'Succeeded' || phase === 'Failed' || phase === 'Running') return;
    track(runPod(pod));
  }

  /** list, then watch from the list's resourceVersion; again whenever the watch ends (timeout, 410 Gone). */
  async function loop(kind: 'jobs' | 'pods', path: string, handle: (type: string, obj: Json) => void): Promise<void> {
    while (!closed) {
      try {
        const list = await api.call('GET', path);
        for (const item of (list.items ?? []) as Json[]) handle('ADDED', item);
        watches[kind] = true;
        let rv = String(meta(list).resourceVersion);
        await api.watch(
          path,
          rv,
          (type, obj) => {
            if (type === 'BOOKMARK') rv = String(meta(obj).resourceVersion);
            else if (type !== 'ERROR') handle(type, obj);
          },
          abort.signal,
        );
        await sleep(100);
      } catch (error) {
        if (!closed) report(`${kind} watch: ${error instanceof KubeApiError ? error.message : String(error)}`);
        watches[kind] = false;
        await sleep(1000);
      }
    }
  }

  track(loop('jobs', '/apis/batch/v1/jobs', onJob));
  track(loop('pods', '/api/v1/pods', onPod));
  const deadline = Date.now() + 30_000;
  while (!(watches.jobs && watches.pods) && Date.now() < deadline) await sleep(50);

  return {
    get watching() {
      return watches.jobs && watches.pods;
    },
    get running() {
      return runs.size;
    },
    async close() {
      closed = true;
      abort.abort();
      await Promise.all([...runs.values()].map((r) => r.kill()));
      await Promise.allSettled([...tasks]);
    },
  };
}
