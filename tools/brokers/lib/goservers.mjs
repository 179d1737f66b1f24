// The Go servers: etcd + kube-apiserver (a real Kubernetes API), the local job runner that plays
// kubelet and Job controller against it, and Jaeger v2. Binaries come from lib/gobuild.mjs.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GO_SERVERS, goBinary } from './gobuild.mjs';
import { confDir, dataDir, ensureDir, logsDir, repoRoot } from './paths.mjs';
import { probeEtcd, probeHttpJson, probeKubeApiserver } from './probes.mjs';
import { spawnDetached } from './proc.mjs';

const timeoutSeconds = (fallback) => Number(process.env.THREADLINE_BROKERS_TIMEOUT_S) || fallback;

// ---------------------------------------------------------------- etcd

const etcd = {
  name: 'etcd',
  version: `etcd ${GO_SERVERS.etcd.version} (go.etcd.io/etcd/server/v3, single member, data wiped at each start)`,
  port: (a) => a.k8s.etcdPort,
  extraPorts: (a) => [a.k8s.etcdPeerPort],
  marker: dataDir('etcd'),
  probe: (a, t) => probeEtcd(a.k8s.etcdPort, t),
  timeoutMs: () => timeoutSeconds(60) * 1000,
  async start(a, log) {
    const bin = await goBinary('etcd', log);
    const data = dataDir('etcd');
    // A fresh cluster per start: tests use their own namespaces, and nothing here removes old objects.
    rmSync(data, { recursive: true, force: true });
    ensureDir(data);
    const client = `http://${a.host}:${a.k8s.etcdPort}`;
    const peer = `http://${a.host}:${a.k8s.etcdPeerPort}`;
    return spawnDetached(
      'etcd',
      bin,
      [
        '--name=threadline',
        `--data-dir=${data}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=threadline=${peer}`,
        // Throw-away data: no fsync keeps the tests off the disk's latency.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      { env: process.env, cwd: data },
    );
  },
};

// ---------------------------------------------------------------- kube-apiserver

const kubeConf = () => confDir('kube-apiserver');
const certDir = () => join(dataDir('kube-apiserver'), 'certs');
const tokenFile = () => join(kubeConf(), 'token');

/** Token, service-account key pair: made once per state folder and kept, so clients' kubeconfigs stay valid. */
function kubeSecrets() {
  const conf = ensureDir(kubeConf());
  if (!existsSync(tokenFile())) writeFileSync(tokenFile(), randomBytes(24).toString('hex'), { mode: 0o600 });
  const token = readFileSync(tokenFile(), 'utf8').trim();
  // user "threadline" in system:masters; AlwaysAllow authorizes it anyway.
  writeFileSync(join(conf, 'tokens.csv'), `${token},threadline,threadline-uid,"system:masters"\n`, { mode: 0o600 });
  const saKey = join(conf, 'sa.key');
  const saPub = join(conf, 'sa.pub');
  if (!existsSync(saKey) || !existsSync(saPub)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeFileSync(saKey, privateKey, { mode: 0o600 });
    writeFileSync(saPub, publicKey);
  }
  return { token, saKey, saPub };
}

/** The self-signed serving certificate (and its CA) kube-apiserver writes into --cert-dir on its first start. */
export function kubeCa() {
  const file = join(certDir(), 'apiserver.crt');
  return existsSync(file) ? readFileSync(file) : undefined;
}

/** Written by every `up kube-apiserver`: the local server, its CA and the token. */
function writeKubeconfig(a) {
  const ca = kubeCa();
  if (!ca) throw new Error(`kube-apiserver wrote no serving certificate into ${certDir()}`);
  const token = readFileSync(tokenFile(), 'utf8').trim();
  // JSON is valid kubeconfig YAML, and the runner and tests read it without a YAML parser.
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'threadline', cluster: { server: a.k8s.server, 'certificate-authority-data': ca.toString('base64') } }],
    users: [{ name: 'threadline', user: { token } }],
    contexts: [{ name: 'threadline', context: { cluster: 'threadline', user: 'threadline', namespace: 'default' } }],
    'current-context': 'threadline',
  };
  const text = `${JSON.stringify(config, null, 2)}\n`;
  writeFileSync(a.k8s.kubeconfig, text, { mode: 0o600 });
}

const kubeApiserver = {
  name: 'kube-apiserver',
  needs: ['etcd'],
  version: `kube-apiserver ${GO_SERVERS['kube-apiserver'].version} (k8s.io/kubernetes, etcd storage, token auth, AlwaysAllow)`,
  port: (a) => a.k8s.port,
  marker: certDir(),
  probe: (a, t) => probeKubeApiserver(a.k8s.port, { ca: kubeCa(), token: existsSync(tokenFile()) ? readFileSync(tokenFile(), 'utf8').trim() : '' }, t),
  timeoutMs: () => timeoutSeconds(120) * 1000,
  afterReady: (a) => writeKubeconfig(a),
  async start(a, log) {
    const bin = await goBinary('kube-apiserver', log);
    const { saKey, saPub } = kubeSecrets();
    ensureDir(certDir());
    return spawnDetached(
      'kube-apiserver',
      bin,
      [
        `--etcd-servers=http://${a.host}:${a.k8s.etcdPort}`,
        `--bind-address=${a.host}`,
        `--advertise-address=${a.host}`,
        `--secure-port=${a.k8s.port}`,
        // No --tls-cert-file: the server generates a self-signed one here (valid for 127.0.0.1 and localhost).
        `--cert-dir=${certDir()}`,
        `--token-auth-file=${join(kubeConf(), 'tokens.csv')}`,
        '--anonymous-auth=false',
        '--authorization-mode=AlwaysAllow',
        // Required flags; nothing here issues service-account tokens, but the server refuses to start without them.
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-cluster-ip-range=10.96.0.0/24',
        // ServiceAccount admission rejects every Pod until the "default" ServiceAccount exists in its namespace,
        // which only the controller manager's serviceaccount controller creates; there is none here.
        '--disable-admission-plugins=ServiceAccount',
        // The "kubernetes" Service's endpoints may not be a loopback address; nothing here uses that Service.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
      ],
      { env: process.env, cwd: ensureDir(dataDir('kube-apiserver')) },
    );
  },
};

// ---------------------------------------------------------------- k8s-runner (kubelet + Job controller stand-in)

const runnerMain = join(repoRoot, 'packages', 'testing', 'dist', 'k8s-api', 'main.js');
const runnerLogs = join(logsDir, 'k8s-jobs');

const k8sRunner = {
  name: 'k8s-runner',
  needs: ['kube-apiserver'],
  version: 'local Job/Pod runner (@threadline/testing): runs containers as processes, writes status back',
  port: (a) => a.k8s.runnerPort,
  marker: runnerLogs,
  probe: (a, t) => probeHttpJson(`http://${a.host}:${a.k8s.runnerPort}/healthz`, (b) => b.watching === true && `watching (${b.running} running)`, t),
  timeoutMs: () => timeoutSeconds(60) * 1000,
  /** A runner started before the last build of @threadline/testing runs old code: `up` restarts it. */
  isStale(meta) {
    const started = Date.parse(meta?.startedAt ?? '');
    if (!Number.isFinite(started)) return false;
    const dir = dirname(runnerMain);
    try {
      return readdirSync(dir).some((f) => f.endsWith('.js') && statSync(join(dir, f)).mtimeMs > started);
    } catch {
      return false;
    }
  },
  async start(a) {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    return spawnDetached(
      'k8s-runner',
      process.execPath,
      [runnerMain, '--kubeconfig', a.k8s.kubeconfig, '--host', a.host, '--port', String(a.k8s.runnerPort), '--log-dir', ensureDir(runnerLogs)],
      { env, cwd: repoRoot },
    );
  },
};

// ---------------------------------------------------------------- jaeger

function jaegerConfig(a) {
  return `# Generated by tools/brokers on every start.
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    # Jaeger's own metrics would listen on 0.0.0.0:8888.
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: ${a.host}:${a.jaeger.queryPort}
    grpc:
      endpoint: ${a.host}:${a.jaeger.queryGrpcPort}
receivers:
  otlp:
    protocols:
      http:
        endpoint: ${a.host}:${a.jaeger.otlpPort}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

const jaeger = {
  name: 'jaeger',
  version: `Jaeger ${GO_SERVERS.jaeger.version} (v2), memory storage; OTLP/HTTP in, query API out`,
  port: (a) => a.jaeger.queryPort,
  extraPorts: (a) => [a.jaeger.otlpPort, a.jaeger.queryGrpcPort],
  marker: confDir('jaeger'),
  // `data` is null while no service has sent a span.
  probe: (a, t) => probeHttpJson(`${a.jaeger.query}/api/services`, (b) => 'data' in b && `query API answered (${(b.data ?? []).length} services)`, t),
  timeoutMs: () => timeoutSeconds(60) * 1000,
  async start(a, log) {
    const bin = await goBinary('jaeger', log);
    const file = join(ensureDir(confDir('jaeger')), 'config.yaml');
    writeFileSync(file, jaegerConfig(a));
    // Jaeger traces itself to OTLP on localhost:4317 by default (nothing listens there): sample nothing.
    const env = { ...process.env, OTEL_TRACES_SAMPLER: 'always_off' };
    return spawnDetached('jaeger', bin, ['--config', `file:${file}`], { env, cwd: ensureDir(dataDir('jaeger')) });
  },
};

export const GO_BACKED = { etcd, 'kube-apiserver': kubeApiserver, 'k8s-runner': k8sRunner, jaeger };
