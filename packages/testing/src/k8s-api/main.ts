/* eslint-disable no-console -- the CLI entry is the one place that reports to its terminal (stdout goes to .brokers/logs/k8s.log). */
/**
 * CLI entry for the Kubernetes Jobs API stand-in, as started by tools/brokers:
 *   node packages/testing/dist/k8s-api/main.js [--port N] [--host H] [--log-dir DIR]
 * The port defaults to brokerAddresses().k8s.port (K8S_API_PORT, 8001).
 */
import { brokerAddresses } from '../addresses';
import { startK8sApiStandIn, type K8sApiStandInOptions } from './server';

function parseArgs(argv: string[]): K8sApiStandInOptions {
  const options: K8sApiStandInOptions = { port: brokerAddresses().k8s.port, host: brokerAddresses().host };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--port') options.port = Number(value);
    else if (flag === '--host') options.host = value;
    else if (flag === '--log-dir') options.logDir = value;
    else throw new Error(`unknown option ${flag} (expected --port, --host, --log-dir)`);
    i++;
  }
  if (!Number.isInteger(options.port) || (options.port as number) < 0 || (options.port as number) > 65535) {
    throw new Error(`--port must be a TCP port, got ${String(options.port)}`);
  }
  return options;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const standIn = await startK8sApiStandIn(options);
  console.log(`Kubernetes Jobs API stand-in listening on ${standIn.url}${options.logDir ? ` (container logs in ${options.logDir})` : ''}`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping running jobs and closing`);
    standIn.close().then(
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
  console.error(`k8s API stand-in failed to start: ${(err as Error)?.message ?? String(err)}`);
  process.exit(1);
});
