#!/usr/bin/env node
// The order-pipeline demo: starts six services, sends orders through Kafka, RabbitMQ, SQS, a
// MongoDB outbox and a Kubernetes Job, collects every span, and checks that each order became
// exactly one trace.   pnpm demo [--orders N] [--timeout SECONDS] [--verbose]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { brokerAddresses, startCollector } from '@threadline/testing';
import { checkBrokers, jaegerUp, requiredBrokers } from './lib/brokers.mjs';
import { formatMs, latencyReport, startMetricsReceiver } from './lib/otlp-metrics.mjs';
import { backendFromEnv, startRelay } from './lib/otlp-relay.mjs';
import { renderHtml } from './lib/render-html.mjs';
import { formatDuration, renderTree } from './lib/render-tree.mjs';
import { startService } from './lib/services.mjs';
import { formatVerdict, judge, orderFinished, PIPELINE, shortId } from './lib/verdict.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, 'out');
const logDir = join(outDir, 'logs');
const reportDir = join(outDir, 'reports');

const USAGE = `usage: pnpm demo [--orders N] [--timeout SECONDS] [--verbose]
  --orders N         orders to send (default 3)
  --timeout SECONDS  how long to wait for the orders' traces (default 30)
  --verbose          echo the services' output
Spans go to an embedded collector; with OTEL_EXPORTER_OTLP_ENDPOINT set they also go to that backend,
and when Jaeger is up (pnpm brokers up jaeger) to Jaeger too: each order's query link is printed.`;

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      orders: { type: 'string', default: '3' },
      timeout: { type: 'string', default: '30' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (error) {
  process.stderr.write(`${error.message}\n${USAGE}\n`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const orderCount = Number(options.orders);
const timeoutMs = Number(options.timeout) * 1000;
if (!Number.isInteger(orderCount) || orderCount < 1 || orderCount > 100 || !(timeoutMs > 0)) {
  process.stderr.write(`--orders must be 1..100 and --timeout a positive number of seconds\n${USAGE}\n`);
  process.exit(2);
}

const color = process.env.FORCE_COLOR ? process.env.FORCE_COLOR !== '0' : process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code) => (text) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
const green = paint(32);
const red = paint(31);
const dim = paint(2);
const bold = paint(1);
const started = Date.now();
const say = (text = '') => process.stdout.write(`${text}\n`);
const step = (text) => say(`${dim(`[${((Date.now() - started) / 1000).toFixed(1).padStart(4)}s]`)} ${text}`);

// ------------------------------------------------------------------ clean-up on every way out
const services = [];
let collector;
let relay;
let metrics;
let stopping;

function stopAll() {
  stopping ??= (async () => {
    await Promise.all(services.map((service) => service.stop()));
    await relay?.close();
    await collector?.close();
  })();
  return stopping;
}

// Exit like a process killed by the signal would (128 + its number), after stopping everything.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(signal, () => {
    say(`\n${signal}: stopping the services…`);
    const force = setTimeout(() => process.exit(code), 8000);
    void stopAll().finally(() => {
      clearTimeout(force);
      process.exit(code);
    });
  });
}

class DemoError extends Error {}

// ------------------------------------------------------------------ 1. brokers
async function checkAllBrokers(addresses) {
  const results = await checkBrokers(requiredBrokers(addresses), 1500);
  const down = results.filter((broker) => broker.error !== undefined);
  if (down.length > 0) {
    const lines = down.map((broker) => `  ✖ ${broker.label} is not reachable at ${broker.host}:${broker.port} (${broker.error})`);
    throw new DemoError(`${lines.join('\n')}\nStart the brokers first:  pnpm brokers up   (or: node tools/brokers/cli.mjs up ${down.map((broker) => broker.name).join(' ')})`);
  }
  step(`${green('✔')} brokers reachable: ${results.map((broker) => `${broker.name} ${broker.host}:${broker.port}`).join(', ')}`);
}

// ------------------------------------------------------------------ 2. services
const DEMO_CHOSEN = new Set(['NODE_OPTIONS', 'OTEL_SERVICE_NAME', 'OTEL_TRACES_EXPORTER', 'OTEL_METRICS_EXPORTER', 'OTEL_METRIC_EXPORT_INTERVAL']);

function serviceEnv(name, addresses, otlpEndpoint, metricsEndpoint) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    // The exporters are the demo's to choose; every other OTEL_* and THREADLINE_* setting is passed on.
    if (DEMO_CHOSEN.has(key) || key.startsWith('OTEL_EXPORTER_OTLP_')) continue;
    env[key] = value;
  }
  return {
    ...env,
    OTEL_SERVICE_NAME: name,
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    // Metrics go straight to the demo's own receiver (lib/otlp-metrics.mjs), every second and on exit.
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: metricsEndpoint,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
    THREADLINE_MONGODB_QUEUE_COLLECTIONS: 'shop.outbox',
    KAFKA_BROKERS: addresses.kafka.brokers.join(','),
    RABBITMQ_URL: addresses.rabbitmq.url,
    SQS_ENDPOINT: addresses.elasticmq.endpoint,
    SQS_REGION: addresses.elasticmq.region,
    MONGODB_URL: addresses.mongodb.url,
    KUBECONFIG: addresses.k8s.kubeconfig,
    REPORT_DIR: reportDir,
    PORT: '0',
  };
}

async function startServices(addresses, otlpEndpoint, metricsEndpoint, failures) {
  // report-job is not started here: the reporter creates one Kubernetes Job per order.
  const names = PIPELINE.filter((name) => name !== 'report-job');
  for (const name of names) {
    services.push(
      startService({
        name,
        script: join('services', `${name}.mjs`),
        cwd: here,
        env: serviceEnv(name, addresses, otlpEndpoint, metricsEndpoint),
        logDir,
        onExit: (service, code, signal) => {
          if (!stopping) failures.push(new DemoError(`${service.name} exited unexpectedly (${signal ?? `code ${code}`}); last output:\n${service.tail()}`));
        },
      }),
    );
  }
  if (options.verbose) {
    for (const service of services) {
      let printed = 0;
      const timer = setInterval(() => {
        const lines = service.output().split('\n');
        for (const line of lines.slice(printed, -1)) say(dim(`  ${service.name.padEnd(8)} │ ${line}`));
        printed = Math.max(printed, lines.length - 1);
        if (!service.running) clearInterval(timer);
      }, 100);
      timer.unref();
    }
  }
  const readyLines = await Promise.all(
    services.map(async (service) => {
      const t0 = Date.now();
      try {
        const line = await service.waitForLine(/\bready\b/, 45000);
        step(`${green('✔')} ${service.name.padEnd(8)} ready ${dim(`(${formatDuration(Date.now() - t0)}, pid ${service.pid})`)}`);
        return line;
      } catch (error) {
        throw new DemoError(`${error.message}; last output (${relative(process.cwd(), service.logPath)}):\n${service.tail()}`);
      }
    }),
  );
  const apiLine = readyLines[services.findIndex((service) => service.name === 'api')];
  const url = /(http:\/\/\S+)/.exec(apiLine)?.[1];
  if (!url) throw new DemoError(`api did not say where it listens: "${apiLine}"`);
  return url;
}

// ------------------------------------------------------------------ 3. orders
const ITEMS = ['espresso beans', 'pour-over kettle', 'burr grinder', 'milk jug', 'travel mug', 'scale'];

async function sendOrders(apiUrl) {
  const orders = [];
  for (let i = 0; i < orderCount && !stopping; i++) {
    const body = { item: ITEMS[i % ITEMS.length], quantity: 1 + (i % 3), customer: `customer-${i + 1}` };
    const response = await fetch(`${apiUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10000),
    });
    const answer = await response.json().catch(() => ({}));
    if (response.status !== 202 || !answer.orderId) throw new DemoError(`POST /orders answered ${response.status}: ${JSON.stringify(answer)}`);
    orders.push({ id: answer.orderId, traceId: answer.traceId, item: body.item, sentAt: Date.now() });
    step(`→ order ${bold(answer.orderId)} sent ${dim(`(${body.quantity} × ${body.item}, trace ${shortId(answer.traceId)})`)}`);
  }
  return orders;
}

async function waitForOrders(orders, failures) {
  const done = new Set();
  const failed = new Promise((_, reject) => {
    const timer = setInterval(() => {
      if (failures.length > 0) reject(failures[0]);
    }, 100);
    timer.unref();
  });
  const finished = collector.waitFor(
    (spans) => {
      for (const order of orders) {
        if (done.has(order.id) || !orderFinished(spans, order.id)) continue;
        done.add(order.id);
        step(`${green('✔')} order ${bold(order.id)} finished ${dim(`(the report job's spans arrived ${formatDuration(Date.now() - order.sentAt)} after the order)`)}`);
      }
      return done.size === orders.length;
    },
    { timeoutMs },
  );
  try {
    await Promise.race([finished, failed]);
  } catch (error) {
    if (error instanceof DemoError) throw error;
    const missing = orders.filter((order) => !done.has(order.id)).map((order) => order.id);
    step(`${red('✖')} no report-job span for ${missing.join(', ')} within ${timeoutMs / 1000} s; judging what arrived`);
  }
}

/** Resolves once no new span arrived for `quietMs` (at most `maxMs`): the services' last batches. */
async function settle(quietMs, maxMs) {
  const deadline = Date.now() + maxMs;
  let count = -1;
  while (Date.now() < deadline && collector.spans().length !== count) {
    count = collector.spans().length;
    await new Promise((resolve) => setTimeout(resolve, quietMs));
  }
}

/** Waits (at most `maxMs`) until every order's end-to-end series arrived: the report jobs flush theirs on exit. */
async function settleMetrics(orders, maxMs) {
  const deadline = Date.now() + maxMs;
  const ids = orders.map((order) => order.id);
  while (Date.now() < deadline) {
    const report = latencyReport(metrics.store.points(), { pipeline: PIPELINE, orderIds: ids });
    if (report.orders.every((order) => order.ms !== undefined)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// ------------------------------------------------------------------ 4. the result
function printLatency(latency) {
  say();
  say(bold('where the time goes, from the metrics the services sent over OTLP'));
  if (latency.rows.length === 0) {
    const stats = metrics.stats();
    say(red(`  no threadline metrics arrived (${stats.requests} export requests, ${latency.points} series${stats.lastError ? `; last error: ${stats.lastError}` : ''})`));
    return;
  }
  for (const line of latency.table) say(`  ${line}`);
  say(dim('  queue: threadline.messaging.queue.time; processing: messaging.process.duration; messages: messaging.client.consumed.messages'));
  say(dim('  p50/p99 interpolated inside the histogram buckets (kept within each histogram\'s min and max)'));
  for (const note of latency.notes) say(dim(`  note: ${note}`));
  for (const order of latency.orders) {
    say(
      order.ms === undefined
        ? red(`  order ${order.orderId}: no end-to-end latency arrived (threadline.pipeline.duration of its report job)`)
        : `  order ${bold(order.orderId)}: ${formatMs(order.ms)} end to end ${dim(`(threadline.pipeline.duration: api's send → its report job${order.exact ? '' : ', interpolated'})`)}`,
    );
  }
}

function printTrees(verdict, allSpans) {
  const byId = new Map(allSpans.map((span) => [span.spanId, span]));
  const nameOf = (spanId) => (byId.has(spanId) ? `[${byId.get(spanId).serviceName}] ${byId.get(spanId).name}` : undefined);
  const tree = (spans) => renderTree(spans, { color, services: PIPELINE, nameOf });
  for (const order of verdict.orders) {
    const spans = order.spans;
    const duration = spans.length > 0 ? Math.max(...spans.map((s) => s.endTimeMs)) - Math.min(...spans.map((s) => s.startTimeMs)) : 0;
    say();
    say(
      `${order.ok ? green('●') : red('●')} ${bold(`order ${order.orderId}`)}  trace ${order.traceId ?? '—'}  ` +
        dim(`${spans.length} spans · ${order.services.length} services · ${formatDuration(duration)}`),
    );
    for (const line of tree(spans)) say(`  ${line}`);
    const others = [...new Set(order.otherSpans.map((span) => span.traceId))];
    for (const traceId of others) {
      say(red(`  another trace for this order: ${traceId}`));
      for (const line of tree(order.otherSpans.filter((span) => span.traceId === traceId))) say(`  ${line}`);
    }
  }
  if (verdict.unattributedSpans.length > 0) {
    say();
    say(bold('spans in traces that belong to no order'));
    for (const line of tree(verdict.unattributedSpans)) say(`  ${line}`);
  }
}

function writeHtml(verdict, summary, latency) {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(outDir, `trace-${stamp}.html`);
  // The flat spans too, for `threadline-doctor` (e.g. `threadline-doctor latency out/spans-….json`),
  // and the metric series the table was computed from.
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `spans-${stamp}.json`), JSON.stringify(collector.spans()));
  writeFileSync(join(outDir, `metrics-${stamp}.json`), JSON.stringify(metrics.store.points(), (key, value) => (typeof value === 'bigint' ? String(value) : value)));
  const sections = [];
  for (const order of verdict.orders) {
    sections.push({
      heading: `order ${order.orderId} · trace ${order.traceId ?? '—'}`,
      ok: order.ok,
      problems: order.problems.map((problem) => problem.message),
      spans: order.spans,
    });
    for (const traceId of new Set(order.otherSpans.map((span) => span.traceId))) {
      sections.push({
        heading: `order ${order.orderId} · another trace ${traceId}`,
        ok: false,
        problems: ['these spans should have been in the order’s trace'],
        spans: order.otherSpans.filter((span) => span.traceId === traceId),
      });
    }
  }
  if (verdict.unattributedSpans.length > 0) {
    sections.push({ heading: 'spans in traces that belong to no order', ok: false, spans: verdict.unattributedSpans });
  }
  mkdirSync(outDir, { recursive: true });
  writeFileSync(file, renderHtml({ title: 'threadline · order-pipeline', generatedAt: new Date().toISOString(), ok: verdict.ok, summary, services: PIPELINE, sections, latency }));
  return file;
}

// ------------------------------------------------------------------ main
async function main() {
  say(bold(`threadline order-pipeline: ${orderCount} order(s) through api → Kafka → payments → RabbitMQ → shipping → SQS → notifier → MongoDB outbox → reporter → Kubernetes Job`));
  const addresses = brokerAddresses();
  await checkAllBrokers(addresses);

  collector = await startCollector();
  let endpoint = collector.url;
  const backends = [backendFromEnv(process.env)].filter(Boolean);
  const jaeger = (await jaegerUp(addresses)) ? addresses.jaeger : undefined;
  if (jaeger && !backends.some((backend) => backend.url === `${jaeger.otlp}/v1/traces`)) backends.push({ url: `${jaeger.otlp}/v1/traces`, headers: {} });
  if (backends.length > 0) {
    relay = await startRelay({ primary: collector.url, backends });
    endpoint = relay.url;
    step(`spans go to the embedded collector and to ${backends.map((backend) => backend.url).join(' and ')}`);
  }

  const failures = [];
  metrics = await startMetricsReceiver();
  const apiUrl = await startServices(addresses, endpoint, metrics.endpoint, failures);
  step(`${green('✔')} all services ready; api listens on ${apiUrl}`);

  const orders = await sendOrders(apiUrl);
  await waitForOrders(orders, failures);
  await settle(300, 3000);
  step('stopping the services');
  await stopAll();

  await settleMetrics(orders, 3000);

  const spans = collector.spans();
  const verdict = judge({ spans, orders });
  const summary = formatVerdict(verdict);
  printTrees(verdict, spans);
  const latency = latencyReport(metrics.store.points(), { pipeline: PIPELINE, orderIds: orders.map((order) => order.id) });
  printLatency(latency);
  const file = writeHtml(verdict, summary, latency);
  say();
  say(`HTML waterfall: ${file}`);
  say(dim(`               ${pathToFileURL(file).href}`));
  if (relay) {
    for (const stat of relay.stats()) {
      say(`spans forwarded to ${stat.url}: ${stat.sent} requests ok${stat.failed ? `, ${red(`${stat.failed} failed (${stat.lastError})`)}` : ''}`);
    }
  }
  if (jaeger) {
    // Jaeger's query API (this build has no UI assets): the order's trace as Jaeger stored it.
    for (const order of verdict.orders) say(`Jaeger: order ${order.orderId} → ${jaeger.query}/api/traces/${order.traceId}`);
  }
  say();
  for (const line of summary) say(line.startsWith('VERDICT: PASS') ? green(bold(line)) : line.startsWith('VERDICT') ? red(bold(line)) : line);
  if (!verdict.ok) {
    const suspects = new Set(verdict.orders.flatMap((order) => order.problems.map((problem) => problem.to ?? problem.service)).filter(Boolean));
    for (const name of suspects) {
      const service = services.find((candidate) => candidate.name === name);
      if (service) say(dim(`${name}'s log: ${service.logPath}`));
    }
  }
  say(dim(`done in ${formatDuration(Date.now() - started)}`));
  return verdict.ok ? 0 : 1;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  // After Ctrl-C the services' exits reject pending waits: the signal handler reports and exits.
  if (stopping) await new Promise(() => {});
  say();
  say(red(error instanceof DemoError ? `✖ ${error.message}` : `✖ the demo failed: ${error?.stack ?? error}`));
  exitCode = 1;
} finally {
  await stopAll();
  // Closed last: the report jobs and the stopped services flush their metrics on exit.
  await metrics?.close();
}
process.exit(exitCode);

