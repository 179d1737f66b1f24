// The demo end to end, against the real brokers (node tools/brokers/cli.mjs up). This is the CI
// smoke test: one order must come out as one trace over all six processes.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { brokerAddresses } from '@threadline/testing';
import { dumpDom, isAlive, renderedBars, runDemo, servicePids } from './helpers';

jest.setTimeout(120000);

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('a broker that is not reachable is named at once, with the command that starts it', async () => {
  const port = await closedPort();
  const run = await runDemo(['--orders', '1'], { env: { RABBITMQ_PORT: String(port) }, timeoutMs: 20000 });
  expect(run.code).toBe(1);
  expect(run.stdout).toContain(`RabbitMQ is not reachable at 127.0.0.1:${port} (ECONNREFUSED)`);
  expect(run.stdout).toContain('pnpm brokers up');
  expect(run.stdout).not.toMatch(/ready \(/);
  expect(run.ms).toBeLessThan(10000);
});

test('--orders 1: one trace across all six processes, exit 0, a waterfall chromium can draw, nothing left running', async () => {
  const run = await runDemo(['--orders', '1']);
  const explain = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
  expect({ code: run.code, explain }).toEqual({ code: 0, explain });

  const [orderLine] = run.stdout.split('\n').filter((line) => line.startsWith('✔ order '));
  expect(orderLine).toMatch(/^✔ order [0-9a-f]{8}: one trace [0-9a-f]{32}, 6\/6 services, \d+ spans, no orphans$/);
  const [, orderId, traceId, orderSpans] = /^✔ order (\S+): one trace ([0-9a-f]{32}), 6\/6 services, (\d+) spans/.exec(orderLine)!;
  expect(run.stdout).toContain('VERDICT: PASS — 1/1 orders, each exactly one trace across all 6 processes');
  for (const service of ['api', 'payments', 'shipping', 'notifier', 'reporter', 'report-job']) {
    expect(run.stdout).toMatch(new RegExp(`^  ${service} +`, 'm'));
  }

  const pids = servicePids(run.stdout);
  expect(pids).toHaveLength(5);
  expect(pids.filter(isAlive)).toEqual([]);

  // Where the time goes, from the metrics the services sent over OTLP: one row per hop with a
  // message each, and the order's end to end from its report Job.
  const latency = run.stdout.slice(run.stdout.indexOf('where the time goes, from the metrics the services sent over OTLP'));
  expect(latency).toMatch(/^ {2}hop +queue p50 +queue p99 +processing p50 +processing p99 +messages$/m);
  const duration = String.raw`(?:\d+\.\d+ (?:ms|s)|–)`;
  // Messages an earlier, interrupted run left queued (the verdict names them and does not judge
  // them) are consumed now too, and counted by the metrics: then a hop has more than one.
  const messages = /^· not judged: \d+ spans of orders from an earlier, interrupted run/m.test(run.stdout) ? String.raw`[1-9]\d*` : '1';
  for (const hop of ['api → payments \\(kafka orders\\)', 'payments → shipping \\(rabbitmq [^)]+\\)', 'shipping → notifier \\(aws_sqs shipments\\)', 'notifier → reporter \\(mongodb shop\\.outbox\\)', 'reporter → report-job \\([^)]*report\\)']) {
    expect(latency).toMatch(new RegExp(`^ {2}${hop} +${duration} +${duration} +${duration} +${duration} +${messages}$`, 'm'));
  }
  const endToEnd = new RegExp(`^ {2}order ${orderId}: (\\d+\\.\\d+) (ms|s) end to end`, 'm').exec(latency);
  expect(endToEnd).not.toBeNull();
  // It runs from the api's send to the report Job's receive: inside the order's trace.
  const header = /^● order \S+ +trace \S+ +\d+ spans · \d+ services · (\d+\.?\d*) (ms|s)$/m.exec(run.stdout)!;
  const toMs = (value: string, unit: string) => Number(value) * (unit === 's' ? 1000 : 1);
  const traceMs = toMs(header[1]!, header[2]!);
  const e2eMs = toMs(endToEnd![1]!, endToEnd![2]!);
  expect(e2eMs).toBeGreaterThan(0);
  expect(e2eMs).toBeLessThanOrEqual(traceMs + 1);

  const file = /^HTML waterfall: (.+\.html)$/m.exec(run.stdout)?.[1];
  expect(file && existsSync(file)).toBe(true);
  const page = readFileSync(file!, 'utf8');
  // The page shows the same metrics table.
  expect(page).toContain('<h2>Where the time goes');
  expect(page).toMatch(new RegExp(`<tr><td>api → payments \\(kafka orders\\)</td>(<td class="num">[^<]+</td>){4}<td class="num">${messages}</td></tr>`));
  expect(page).toContain(`order <strong>${orderId}</strong>: ${endToEnd![1]} ${endToEnd![2]} end to end`);
  const spanCount = Number(/data-span-count="(\d+)"/.exec(page)?.[1]);
  expect(spanCount).toBeGreaterThanOrEqual(6);
  const bars = renderedBars(dumpDom(file!));
  expect(bars).toHaveLength(spanCount);
  expect(new Set(bars).size).toBe(spanCount);

  // The copy Jaeger got (tools/brokers starts it with `up`): the printed link, then its query API.
  const { query } = brokerAddresses().jaeger;
  expect(run.stdout).toContain(`Jaeger: order ${orderId} → ${query}/api/traces/${traceId}`);
  const byTag = (service: string) => `${query}/api/traces?service=${service}&lookback=1h&limit=50&tags=${encodeURIComponent(JSON.stringify({ 'order.id': orderId }))}`;
  type JaegerTrace = { traceID: string; spans: unknown[]; processes: Record<string, { serviceName: string }> };
  let trace: JaegerTrace | undefined;
  let services: string[] = [];
  // Jaeger batches what it receives: poll until all six services are in the trace (or time out).
  for (const deadline = Date.now() + 15000; Date.now() < deadline && services.length < 6; ) {
    const answer = (await (await fetch(`${query}/api/traces/${traceId}`)).json()) as { data?: JaegerTrace[] };
    trace = answer.data?.[0];
    services = [...new Set(Object.values(trace?.processes ?? {}).map((p) => p.serviceName))].sort();
    if (services.length < 6) await new Promise((resolve) => setTimeout(resolve, 500));
  }
  expect(services).toEqual(['api', 'notifier', 'payments', 'report-job', 'reporter', 'shipping']);
  expect(trace!.spans).toHaveLength(Number(orderSpans));
  // Exactly one trace holds the order: what Jaeger finds by the order's id, from its first and its fifth service.
  for (const service of ['api', 'reporter']) {
    const found = (await (await fetch(byTag(service))).json()) as { data: JaegerTrace[] };
    expect(found.data.map((t) => t.traceID)).toEqual([traceId]);
  }
});

// Signalled before any order is sent, so that no order is left in the brokers for the next run.
test('Ctrl-C (SIGINT) stops every service it started', async () => {
  let signalled = false;
  const run = await runDemo(['--orders', '2'], {
    onOutput: (stdout, child) => {
      if (!signalled && /all services ready/.test(stdout)) {
        signalled = true;
        child.kill('SIGINT');
      }
    },
  });
  expect(signalled).toBe(true);
  expect(run.code).toBe(130);
  expect(run.stdout).toContain('SIGINT: stopping the services');
  const pids = servicePids(run.stdout);
  expect(pids).toHaveLength(5);
  expect(pids.filter(isAlive)).toEqual([]);
});
