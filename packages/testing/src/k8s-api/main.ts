/* eslint-disable no-console -- the CLI entry is the one place that reports to its terminal (stdout goes to .brokers/logs/k8s-runner.log). */
/**
 * The local Job/Pod runner against a real kube-apiserver, as started by tools/brokers:
 *   node packages/testing/dist/k8s-api/main.js --kubeconfig FILE [--host H] [--port N] [--log-dir DIR]
 * --port serves GET /healthz (JSON { watching, running }) for the brokers' readiness probe.
 */
import { createServer } from 'node:http';
import { brokerAddresses } from '../addresses';
import { readKubeconfig } from './kube-client';
import { startJobRunner } from './job-runner';

function parseArgs(argv: string[]): { kubeconfig: string; host: string; port: number; logDir?: string } {
  const a = brokerAddresses();
  const options: { kubeconfig: string; host: string; port: number; logDir?: string } = { kubeconfig: a.k8s.kubeconfig, host: a.host, port: a.k8s.runnerPort };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--kubeconfig') options.kubeconfig = value;
    else if (flag === '--port') options.port = Number(value);
    else if (flag === '--host') options.host = value;
    else if (flag === '--log-dir') options.logDir = value;
    else throw new Error(`unknown option ${flag} (expected --kubeconfig, --port, --host, --log-dir)`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new Error(`--port must be a TCP port, got ${options.port}`);
  return options;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const target = readKubeconfig(options.kubeconfig);
  const runner = await startJobRunner({ target, ...(options.logDir ? { logDir: options.logDir } : {}), onError: (m) => console.error(`${new Date().toISOString()} ${m}`) });
  const health = createServer((req, res) => {
    const body = JSON.stringify({ watching: runner.watching, running: runner.running, server: target.server });
    res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => health.listen(options.port, options.host, resolve));
  console.log(`job runner watching Jobs and Pods on ${target.server}; health on http://${options.host}:${options.port}/healthz${options.logDir ? `; container logs in ${options.logDir}` : ''}`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping running pods and closing`);
    health.close();
    runner.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`job runner failed to start: ${(err as Error)?.message ?? String(err)}`);
  process.exit(1);
});
