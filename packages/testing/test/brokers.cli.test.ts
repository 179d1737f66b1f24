/**
 * The brokers CLI on a machine where everything is already up (the test command ran `up` first):
 * a second `up` reuses every server and comes back fast, and `status` reports all of them.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

const cli = resolve(__dirname, '../../../tools/brokers/cli.mjs');

function runCli(args: string[]): Promise<{ code: number; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((done) => {
    execFile(process.execPath, [cli, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}`, ms: Date.now() - started });
    });
  });
}

test('a second `up` reuses every running server: it starts nothing and returns quickly', async () => {
  const result = await runCli(['up']);
  expect(result.code).toBe(0);
  expect(result.output).toMatch(/all 8 up/);
  expect(result.output).not.toMatch(/ pid \d+: started in /);
  // Seconds on an idle machine; the bound only catches a restart, the figure is logged.
  process.stdout.write(`second \`up\` took ${result.ms} ms\n`);
  expect(result.ms).toBeLessThan(30_000);
});

test('`status` lists every server as up', async () => {
  const result = await runCli(['status']);
  expect(result.code).toBe(0);
  for (const name of ['kafka', 'rabbitmq', 'elasticmq', 'mongodb', 'etcd', 'kube-apiserver', 'k8s-runner', 'jaeger']) expect(result.output).toMatch(new RegExp(`^${name}\\s+up\\b`, 'm'));
});
