/**
 * Runs a pod's containers as local processes: init containers one after another, then the app containers
 * side by side, each with `command` + `args` (no shell) and the env the container would get.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { isObject, type Json } from './kube-client';

export interface ContainerSpec {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: Json[];
  workingDir?: string;
}

export interface PodIdentity {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccountName: string;
  nodeName: string;
  ip: string;
}

export interface ContainerState {
  name: string;
  image: string;
  phase: 'waiting' | 'running' | 'terminated';
  pid?: number;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  signal?: string;
  reason?: string;
  message?: string;
}

export interface RunnerOptions {
  /** Folder for <namespace>_<pod>_<container>.log files; logs are kept in memory too. */
  logDir?: string;
  /** Env every container starts from; defaults to PATH and HOME of this process. */
  baseEnv?: Record<string, string>;
  /** Time between SIGTERM and SIGKILL when a pod is killed. */
  killGraceMs?: number;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

const MAX_LOG_BYTES = 1024 * 1024;

export function defaultBaseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  // Only what a process needs to find its tools; NODE_OPTIONS and the rest of the server's env stay out.
  for (const key of ['PATH', 'HOME']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** Kubernetes' $(VAR) expansion: defined names are replaced, $$ escapes, anything else stays as written. */
export function expand(input: string, vars: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch === '$' && input[i + 1] === '$') {
      out += '$';
      i++;
    } else if (ch === '$' && input[i + 1] === '(') {
      const end = input.indexOf(')', i + 2);
      const name = end === -1 ? undefined : input.slice(i + 2, end);
      if (name !== undefined && Object.prototype.hasOwnProperty.call(vars, name)) {
        out += vars[name];
        i = end;
      } else out += ch;
    } else out += ch;
  }
  return out;
}

function fieldValue(fieldPath: string, pod: PodIdentity): string | undefined {
  const m = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? pod.labels : pod.annotations)[m[2] as string] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'metadata.uid':
      return pod.uid;
    case 'spec.nodeName':
      return pod.nodeName;
    case 'spec.serviceAccountName':
      return pod.serviceAccountName;
    case 'status.podIP':
    case 'status.podIPs':
    case 'status.hostIP':
    case 'status.hostIPs':
      return pod.ip;
    default:
      return undefined;
  }
}

/**
 * The container's environment: the base env, HOSTNAME, then each `env` entry in order (a later duplicate wins,
 * like in a real container). `valueFrom.fieldRef` is resolved; secret/configMap/resource refs are skipped
 * because the runner does not read Secrets or ConfigMaps.
 */
export function containerEnv(
  container: ContainerSpec,
  pod: PodIdentity,
  baseEnv: Record<string, string>,
): { env: Record<string, string>; defined: Record<string, string> } {
  const env: Record<string, string> = { ...baseEnv, HOSTNAME: pod.name };
  const defined: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    const name = entry.name as string;
    let value: string | undefined;
    if (isObject(entry.valueFrom)) {
      const ref = entry.valueFrom.fieldRef;
      if (isObject(ref) && typeof ref.fieldPath === 'string') value = fieldValue(ref.fieldPath, pod);
    } else {
      value = expand(typeof entry.value === 'string' ? entry.value : '', defined);
    }
    if (value === undefined) continue;
    env[name] = value;
    defined[name] = value;
  }
  return { env, defined };
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const signo = signal ? constants.signals[signal] : undefined;
  return 128 + (signo ?? 9);
}

/** One pod's run. `done` resolves with the pod's final phase; `kill()` stops it early. */
export class PodRun {
  readonly states: ContainerState[];
  readonly initStates: ContainerState[];
  phase: PodPhase = 'Pending';
  readonly done: Promise<PodPhase>;
  private readonly children = new Set<ChildProcess>();
  private readonly logs = new Map<string, Buffer[]>();
  private killed = false;
  private resolveDone!: (phase: PodPhase) => void;

  constructor(
    private readonly pod: PodIdentity,
    private readonly initContainers: ContainerSpec[],
    private readonly containers: ContainerSpec[],
    private readonly options: RunnerOptions,
    private readonly onChange: (run: PodRun) => void,
  ) {
    const state = (c: ContainerSpec): ContainerState => ({ name: c.name, image: c.image ?? '', phase: 'waiting', reason: 'ContainerCreating' });
    this.initStates = initContainers.map(state);
    this.states = containers.map(state);
    if (initContainers.length > 0) for (const s of this.states) s.reason = 'PodInitializing';
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  start(): void {
    void this.runAll();
  }

  /** Combined stdout+stderr of one container so far (the last MiB). */
  logsOf(container: string): string {
    return Buffer.concat(this.logs.get(container) ?? []).toString('utf8');
  }

  get killedEarly(): boolean {
    return this.killed;
  }

  /** SIGTERM to every running container's process group, SIGKILL after the grace period. */
  async kill(): Promise<void> {
    this.killed = true;
    const running = [...this.children];
    for (const child of running) signalGroup(child, 'SIGTERM');
    const grace = this.options.killGraceMs ?? 2000;
    const timer = setTimeout(() => {
      for (const child of running) signalGroup(child, 'SIGKILL');
    }, grace);
    await this.done;
    clearTimeout(timer);
  }

  private async runAll(): Promise<void> {
    this.phase = 'Running';
    this.onChange(this);
    let ok = true;
    for (let i = 0; i < this.initContainers.length && ok && !this.killed; i++) {
      ok = (await this.runContainer(this.initContainers[i] as ContainerSpec, this.initStates[i] as ContainerState)) === 0;
    }
    if (ok && !this.killed) {
      const codes = await Promise.all(this.containers.map((c, i) => this.runContainer(c, this.states[i] as ContainerState)));
      ok = codes.every((c) => c === 0);
    } else {
      for (const s of this.states) if (s.phase === 'waiting') s.reason = 'PodInitializing';
    }
    this.phase = ok && !this.killed ? 'Succeeded' : 'Failed';
    this.onChange(this);
    this.resolveDone(this.phase);
  }

  private openLog(container: string): WriteStream | undefined {
    if (!this.options.logDir) return undefined;
    mkdirSync(this.options.logDir, { recursive: true });
    return createWriteStream(join(this.options.logDir, `${this.pod.namespace}_${this.pod.name}_${container}.log`), { flags: 'a' });
  }

  private record(container: string, chunk: Buffer, file: WriteStream | undefined): void {
    file?.write(chunk);
    const list = this.logs.get(container) ?? [];
    list.push(chunk);
    let size = list.reduce((n, b) => n + b.length, 0);
    while (size > MAX_LOG_BYTES && list.length > 1) size -= (list.shift() as Buffer).length;
    this.logs.set(container, list);
  }

  private runContainer(spec: ContainerSpec, state: ContainerState): Promise<number> {
    return new Promise((resolve) => {
      const { env, defined } = containerEnv(spec, this.pod, this.options.baseEnv ?? defaultBaseEnv());
      // No image entrypoint exists here: `command` is required in practice, `args` alone is run as the command.
      // $(VAR) in command/args refers to the container's `env` only, as in Kubernetes.
      const argv = [...(spec.command ?? []), ...(spec.args ?? [])].map((a) => expand(a, defined));
      const file = this.openLog(spec.name);
      const finish = (exitCode: number, reason: string, message?: string, signal?: string): void => {
        state.phase = 'terminated';
        state.finishedAt = new Date().toISOString();
        state.startedAt ??= state.finishedAt;
        state.exitCode = exitCode;
        state.reason = reason;
        if (message !== undefined) state.message = message;
        if (signal !== undefined) state.signal = signal;
        if (message) this.record(spec.name, Buffer.from(`${message}\n`), file);
        file?.end();
        this.onChange(this);
        resolve(exitCode);
      };
      if (argv.length === 0) {
        finish(128, 'StartError', 'the local runner has no images: set the container `command`');
        return;
      }
      let child: ChildProcess;
      try {
        // Own process group, so kill() reaches grandchildren too (sh -c, npm, ...).
        child = spawn(argv[0] as string, argv.slice(1), { env, cwd: spec.workingDir || undefined, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        finish(128, 'StartError', `failed to start ${argv[0]}: ${(err as Error).message}`);
        return;
      }
      this.children.add(child);
      let failedToStart: Error | undefined;
      child.stdout?.on('data', (d: Buffer) => this.record(spec.name, d, file));
      child.stderr?.on('data', (d: Buffer) => this.record(spec.name, d, file));
      child.on('spawn', () => {
        state.phase = 'running';
        state.pid = child.pid;
        state.startedAt = new Date().toISOString();
        delete state.reason;
        this.onChange(this);
      });
      child.on('error', (err) => {
        failedToStart = err;
      });
      child.on('close', (code, signal) => {
        this.children.delete(child);
        if (failedToStart && state.phase !== 'running') {
          finish(128, 'StartError', `failed to start ${argv[0]}: ${failedToStart.message}`);
          return;
        }
        const exitCode = exitCodeOf(code, signal);
        finish(exitCode, exitCode === 0 ? 'Completed' : 'Error', undefined, signal ?? undefined);
      });
      if (this.killed) signalGroup(child, 'SIGKILL');
    });
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}
