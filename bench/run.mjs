#!/usr/bin/env node
// `pnpm bench [--quick] [--only kafkajs,platformatic-kafka,confluent-kafka,amqplib,sqs,mongodb,pull,pull-kafkajs,...,metrics,metrics-kafkajs,metrics-amqplib,soak]`: every benchmark in one run, written to
// docs/BENCHMARKS.md and docs/benchmarks.json (with --quick: bench/out/, and no timing is judged).
// `--render` rewrites the markdown from the JSON of the last run, for edits to NOTES.md.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchCarrier } from './carrier.mjs';
import { benchStartup } from './startup.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? args[onlyIndex + 1].split(',') : undefined;

const TRANSPORTS = {
  kafkajs: { n: 50000, upstream: '@opentelemetry/instrumentation-kafkajs' },
  // No contrib instrumentation exists for it; it needs Node 22.22+ or 24.6+ (run the bench on one).
  'platformatic-kafka': { n: 20000, upstream: undefined, node: (v) => (v[0] === 22 && v[1] >= 22) || (v[0] === 24 && v[1] >= 6) },
  // librdkafka: no contrib instrumentation exists for it.
  'confluent-kafka': { n: 50000, upstream: undefined },
  amqplib: { n: 50000, upstream: '@opentelemetry/instrumentation-amqplib' },
  sqs: { n: 5000, upstream: '@opentelemetry/instrumentation-aws-sdk' },
  mongodb: { n: 5000, upstream: undefined },
};
// `wire-context` is uninstrumented too, but the app writes a fixed context on every message: what
// carrying a context costs by itself, the floor under any propagating instrumentation.
const VARIANTS = ['none', 'wire-context', 'threadline', 'propagation-only', 'upstream'];
// The pull shapes, each with the user's work after the fetch: following on (`threadline`) against
// the same spans without following (`no-follow`), and no instrumentation.
const PULLS = {
  kafkajs: { n: 20000, shape: 'eachBatch, for...of over batch.messages' },
  amqplib: { n: 5000, shape: '`await channel.get()` loop' },
  sqs: { n: 3000, shape: 'raw ReceiveMessage loop (10 per call)' },
  mongodb: { n: 3000, shape: 'findOneAndUpdate claim loop' },
};
const PULL_VARIANTS = ['none', 'no-follow', 'threadline'];
// Metrics on against off, same spans: `threadline` has no MeterProvider (the no-op meter), `metrics`
// an SDK MeterProvider set up as register sets it up (threadline's histograms aggregated in carrier
// and handed to the reader), `metrics-sdk` one whose histograms go through the SDK (a provider of
// the user's own); both export every second to an exporter that drops what it gets.
const METRICS = {
  kafkajs: { n: 50000 },
  'platformatic-kafka': { n: 20000, node: TRANSPORTS['platformatic-kafka'].node },
  'confluent-kafka': { n: 50000 },
  amqplib: { n: 50000 },
  sqs: { n: 5000 },
  mongodb: { n: 5000 },
};
const METRIC_VARIANTS = ['threadline', 'metrics', 'metrics-sdk', 'metrics-no-pipeline'];
const METRIC_LABELS = { threadline: 'threadline, metrics off', metrics: 'threadline, metrics on (register)', 'metrics-sdk': 'threadline, metrics on (histograms through the SDK)', 'metrics-no-pipeline': 'threadline, metrics on (register), pipelineLatency: false' };
const REPEATS = quick ? 1 : 5;
const SOAK_N = quick ? 2000 : 200000;

function log(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

function runWorkload(workload, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--require', join(here, 'preload.cjs'), join(here, 'workloads', `${workload}.cjs`)], {
      cwd: here,
      env: { ...process.env, NODE_OPTIONS: '', OTEL_NODE_RESOURCE_DETECTORS: 'none', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => {
      const line = stdout.trim().split('\n').pop();
      if (code !== 0 || !line) reject(new Error(`${workload} ${JSON.stringify(env)} failed (${code}):\n${stderr}`));
      else resolve(JSON.parse(line));
    });
  });
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

function version(name) {
  try {
    return JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
  } catch {
    return 'not installed';
  }
}

/** Runs the workload once per variant and repeat, in rotating order, and returns the medians. */
async function sampleVariants({ workload, transport, n, variants }) {
  const samples = Object.fromEntries(variants.map((variant) => [variant, []]));
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    // Rotate the order each repeat so that drift on the machine does not favour one variant.
    const order = variants.map((_, i) => variants[(i + repeat) % variants.length]);
    for (const variant of order) {
      log(`${workload === transport ? transport : `${workload} ${transport}`} ${variant} (N=${n}, repeat ${repeat + 1}/${REPEATS})`);
      samples[variant].push(
        await runWorkload(workload, { BENCH_TRANSPORT: transport, BENCH_VARIANT: variant, BENCH_N: String(n), BENCH_RUN_ID: `${Date.now()}-${variant}-${repeat}` }),
      );
    }
  }
  const summary = {};
  for (const variant of variants) {
    summary[variant] = {
      messagesPerSecond: Math.round(median(samples[variant].map((s) => s.messagesPerSecond))),
      cpuMicrosPerMessage: Number(median(samples[variant].map((s) => s.cpuMicrosPerMessage)).toFixed(1)),
      peakRssMb: Math.round(Math.max(...samples[variant].map((s) => s.peakRssMb))),
    };
    // The pull workloads count the messages whose work ran in the producer's trace.
    if (samples[variant][0].followed !== undefined) summary[variant].followed = Math.min(...samples[variant].map((s) => s.followed));
  }
  return summary;
}

const ratio = (a, b) => Number((a / b).toFixed(3));

/** False (and one log line) for a transport whose library does not run on this Node version. */
function runsHere(transport, spec) {
  if (!spec.node || spec.node(process.versions.node.split('.').map(Number))) return true;
  log(`${transport} skipped: it does not run on Node ${process.versions.node}`);
  return false;
}

async function benchTransports() {
  const results = {};
  for (const [transport, spec] of Object.entries(TRANSPORTS)) {
    if (only && !only.includes(transport)) continue;
    if (!runsHere(transport, spec)) continue;
    const n = quick ? 200 : spec.n;
    const variants = VARIANTS.filter((variant) => variant !== 'upstream' || spec.upstream);
    const summary = await sampleVariants({ workload: transport, transport, n, variants });
    const base = summary.none;
    results[transport] = {
      n,
      repeats: REPEATS,
      upstream: spec.upstream ? `${spec.upstream}@${version(spec.upstream)}` : null,
      variants: summary,
      ratios: {
        spansThroughput: ratio(summary.threadline.messagesPerSecond, base.messagesPerSecond),
        propagationOnlyThroughput: ratio(summary['propagation-only'].messagesPerSecond, base.messagesPerSecond),
        wireContextThroughput: ratio(summary['wire-context'].messagesPerSecond, base.messagesPerSecond),
        cpuVsUpstream: summary.upstream ? ratio(summary.threadline.cpuMicrosPerMessage, summary.upstream.cpuMicrosPerMessage) : null,
      },
    };
  }
  return results;
}

/**
 * Runs `variants` of `workload(transport)` for each selected transport of `specs`, and how `on`
 * compares with `off`: CPU per message and throughput as ratios, and the CPU difference in µs.
 */
async function compareEach({ specs, selected, workload, variants, on, off }) {
  const results = {};
  for (const [transport, spec] of Object.entries(specs)) {
    if (only && !selected(transport)) continue;
    if (!runsHere(transport, spec)) continue;
    const n = quick ? 200 : spec.n;
    const summary = await sampleVariants({ workload: workload(transport), transport, n, variants });
    const [a, b] = [summary[on], summary[off]];
    const compared = {
      cpu: ratio(a.cpuMicrosPerMessage, b.cpuMicrosPerMessage),
      throughput: ratio(a.messagesPerSecond, b.messagesPerSecond),
      cpuMicrosPerMessage: Number((a.cpuMicrosPerMessage - b.cpuMicrosPerMessage).toFixed(1)),
    };
    results[transport] = { ...(spec.shape ? { shape: spec.shape } : {}), n, repeats: REPEATS, variants: summary, compared };
  }
  return results;
}

async function benchPulls() {
  const results = await compareEach({
    specs: PULLS,
    selected: (transport) => only.includes(`pull-${transport}`) || only.includes('pull'),
    workload: () => 'pull',
    variants: PULL_VARIANTS,
    on: 'threadline',
    off: 'no-follow',
  });
  for (const result of Object.values(results)) {
    const { cpu, throughput, cpuMicrosPerMessage } = result.compared;
    delete result.compared;
    result.ratios = { followCpu: cpu, followThroughput: throughput, followCpuMicrosPerMessage: cpuMicrosPerMessage };
  }
  return results;
}

/** Metrics on against off: the same spans, with and without an SDK MeterProvider. */
async function benchMetrics() {
  const results = await compareEach({
    specs: METRICS,
    selected: (transport) => only.includes(`metrics-${transport}`) || only.includes('metrics'),
    workload: (transport) => transport,
    variants: METRIC_VARIANTS,
    on: 'metrics',
    off: 'threadline',
  });
  for (const result of Object.values(results)) {
    result.ratios = result.compared;
    delete result.compared;
    const sdk = result.variants['metrics-sdk'];
    if (sdk) result.ratios.sdkCpuMicrosPerMessage = Number((sdk.cpuMicrosPerMessage - result.variants.threadline.cpuMicrosPerMessage).toFixed(1));
    const noPipeline = result.variants['metrics-no-pipeline'];
    if (noPipeline) result.ratios.noPipelineCpuMicrosPerMessage = Number((noPipeline.cpuMicrosPerMessage - result.variants.threadline.cpuMicrosPerMessage).toFixed(1));
  }
  return results;
}

function table(headers, rows) {
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

/** The carrier rows the target is about: inject plus extract, compared with the default getter/setter. */
const roundTrips = (report) => report.carrier.filter((row) => row.comparedWith === report.carrier[0].name);

function markdown(report) {
  const mark = (ok) => (ok ? 'met' : '**missed**');
  const lines = [
    '# Benchmarks',
    '',
    `Generated by \`pnpm bench\` on ${report.date}. Every figure below comes from this one run, except sections marked as measured alone (\`pnpm bench --only <section>\`); every ratio compares rows of one run.`,
    '',
    `Machine: ${report.machine.cpu}, ${report.machine.cores} cores, ${report.machine.memoryGb} GiB, ${report.machine.os}; Node ${report.machine.node}.`,
    '',
    `Versions: ${Object.entries(report.versions).map(([name, v]) => `${name} ${v}`).join(', ')}.`,
    '',
    '## Carrier adapters (inject + extract of traceparent and tracestate)',
    '',
    'Medians of rounds that run every case in turn. Each ratio is to the OpenTelemetry default row above it: the round trip (inject then extract) on a plain record, or, for the extract-only rows, extract from a record of strings.',
    '',
    table(['case', 'ns/op', 'ratio to OpenTelemetry default'], report.carrier.map((row) => [row.name, row.nsPerOp, row.ratio])),
    '',
    `Target (inject plus extract, the round-trip rows): every adapter within 1.1 of OpenTelemetry's default: ${mark(roundTrips(report).every((row) => row.ratio <= 1.1))} (highest ${Math.max(...roundTrips(report).map((row) => row.ratio))}). The extract-only rows are there to show where the rest goes: the default getter only reads \`carrier[key]\`, while the header adapter also checks the key is the carrier's own, matches it without case when the exact key is missing, and decodes Buffers.`,
    '',
    '## Transports',
    '',
    'Each variant runs in its own process with the same SDK set-up (BatchSpanProcessor, an exporter that drops spans), producing and consuming N messages of 1 KiB on the real broker after a warm-up of the same path (N/4, at most 5,000 messages); medians of the repeats, run in rotating order. Client and broker share the machine\'s cores, so the workloads are CPU-bound and throughput falls with every microsecond the client spends per message.',
    '',
    'Variants: `none` (no instrumentation), `wire-context` (no instrumentation, but the app itself writes a fixed W3C `traceparent` on every message: the cost of carrying a context at all, which no propagating instrumentation can avoid), `threadline` (spans mode), `propagation-only`, `upstream` (the OpenTelemetry contrib instrumentation).',
    '',
  ];
  // In TRANSPORTS' order (kafkajs, then platformatic-kafka, …), whatever order --only runs merged them in.
  const order = Object.keys(TRANSPORTS);
  const byOrder = ([a], [b]) => (order.indexOf(a) === -1 ? 99 : order.indexOf(a)) - (order.indexOf(b) === -1 ? 99 : order.indexOf(b));
  for (const [transport, result] of Object.entries(report.transports).sort(byOrder)) {
    lines.push(`### ${transport} (N=${result.n}, ${result.repeats} repeats${measuredAlone(report, result)}${result.upstream ? `, upstream ${result.upstream}` : ', no upstream instrumentation exists'})`, '');
    lines.push(
      table(
        ['variant', 'messages/s', 'CPU µs/message', 'peak RSS MB'],
        Object.entries(result.variants).map(([variant, s]) => [variant, s.messagesPerSecond, s.cpuMicrosPerMessage, s.peakRssMb]),
      ),
      '',
    );
    lines.push(
      `Ratios: threadline spans ${result.ratios.spansThroughput} of uninstrumented throughput (target ≥ 0.95: ${mark(result.ratios.spansThroughput >= 0.95)}); propagation-only ${result.ratios.propagationOnlyThroughput} (target ≥ 0.98: ${mark(result.ratios.propagationOnlyThroughput >= 0.98)})` +
        `; wire-context alone ${result.ratios.wireContextThroughput}` +
        (result.ratios.cpuVsUpstream !== null ? `; CPU per message ${result.ratios.cpuVsUpstream} of upstream's (target ≤ 1: ${mark(result.ratios.cpuVsUpstream <= 1)})` : '') +
        '.',
      '',
    );
  }
  if (report.pulls && Object.keys(report.pulls).length > 0) {
    lines.push(
      '## Pull shapes: the cost of following the work',
      '',
      "Each consumer fetches in its own loop and does the user's work after the fetch: one span per message, started in whatever context the code is in. `threadline` follows the work (the default: that span lands in the producer's trace); `no-follow` is the same instrumentation with `followPulls: false` (the message's consumer span is made, the work is not followed); `none` is no instrumentation. Same N, same SDK set-up and rotation as above. Every message carries its producer's trace id in a user field, and the work counts how many of its spans landed in that trace: the last column.",
      '',
    );
    for (const [transport, result] of Object.entries(report.pulls)) {
      lines.push(`### ${transport}: ${result.shape} (N=${result.n}, ${result.repeats} repeats${measuredAlone(report, result)})`, '');
      lines.push(
        table(
          ['variant', 'messages/s', 'CPU µs/message', 'peak RSS MB', "work spans in the producer's trace"],
          Object.entries(result.variants).map(([variant, s]) => [variant, s.messagesPerSecond, s.cpuMicrosPerMessage, s.peakRssMb, `${s.followed} of ${result.n}`]),
        ),
        '',
        `Following costs ${result.ratios.followCpuMicrosPerMessage} µs of CPU per message: CPU per message ${result.ratios.followCpu} of \`no-follow\`'s, throughput ${result.ratios.followThroughput} of it.`,
        '',
      );
    }
  }
  if (report.metrics && Object.keys(report.metrics).length > 0) {
    lines.push(
      '## Metrics: on against off',
      '',
      "The transport workloads above, with threadline's spans in both variants: `threadline` has no MeterProvider (OpenTelemetry's no-op meter: no clock read, no timestamp parsed, nothing added to the wire), `metrics` an SDK MeterProvider set up the way the register hook sets up its own (threadline's histograms aggregated by threadline and handed to the reader through `@threadline/register/local-histograms`), `metrics-sdk` one whose histograms go through the SDK's own aggregation, as with a MeterProvider of your own that you have not adopted, `metrics-no-pipeline` the first with `pipelineLatency: false` (no `threadline` tracestate entry: everything else is recorded); each has a periodic reader exporting every second to an exporter that drops what it gets. Each message is produced and consumed in the same process, so the difference covers both sides: sent counter and send duration (per send call), consumed counter, queue time, pipeline duration, process duration, and for Kafka the lag gauge.",
      '',
    );
    for (const [transport, result] of Object.entries(report.metrics)) {
      lines.push(`### ${transport} (N=${result.n}, ${result.repeats} repeats${measuredAlone(report, result)})`, '');
      lines.push(
        table(
          ['variant', 'messages/s', 'CPU µs/message', 'peak RSS MB'],
          Object.entries(result.variants).map(([variant, s]) => [METRIC_LABELS[variant] ?? variant, s.messagesPerSecond, s.cpuMicrosPerMessage, s.peakRssMb]),
        ),
        '',
        (result.ratios.cpuMicrosPerMessage <= 0
          ? `Metrics on used less CPU per message than off in this run (${result.ratios.cpuMicrosPerMessage} µs): their cost is inside this workload's run-to-run noise, so the target is not judged from it (see the profile in the notes). CPU per message ${result.ratios.cpu} of metrics off, throughput ${result.ratios.throughput} of it.`
          : `Metrics cost ${result.ratios.cpuMicrosPerMessage} µs of CPU per message (target ≤ 1 µs: ${mark(result.ratios.cpuMicrosPerMessage <= 1)}): CPU per message ${result.ratios.cpu} of metrics off, throughput ${result.ratios.throughput} of it.`) +
          (result.ratios.sdkCpuMicrosPerMessage === undefined ? '' : ` With the histograms going through the SDK (your own MeterProvider, not adopted): ${result.ratios.sdkCpuMicrosPerMessage} µs.`) +
          (result.ratios.noPipelineCpuMicrosPerMessage === undefined ? '' : ` With \`pipelineLatency: false\` (no tracestate entry on the wire): ${result.ratios.noPipelineCpuMicrosPerMessage} µs (target: ${result.ratios.noPipelineCpuMicrosPerMessage <= 0 ? 'inside the noise' : mark(result.ratios.noPipelineCpuMicrosPerMessage <= 1)}).`),
        '',
      );
    }
  }
  if (report.soak) {
    lines.push('## Memory soak', '', `${report.soak.messages} messages through amqplib with threadline spans: RSS after GC ${report.soak.baselineRssMb.toFixed(1)} MB after the first chunk, ${report.soak.endRssMb.toFixed(1)} MB at the end: growth ${report.soak.growthMb.toFixed(1)} MB (target ≤ 10 MB: ${mark(report.soak.growthMb <= 10)}).`, '');
  }
  lines.push('## Start-up (time to the first line of a trivial app)', '', table(['variant', 'median ms', 'added ms'], report.startup.map((row) => [row.name, row.medianMs, row.addedMs])), '');
  const added = report.startup.find((row) => row.name === '--import @threadline/register')?.addedMs;
  lines.push(`Target: the register hook adds at most 60 ms over plain node: ${mark(added <= 60)} (${added} ms).`, '');
  if (report.notes) lines.push('## Notes', '', report.notes, '');
  return lines.join('\n');
}

/**
 * A full run with --only re-measures some sections: they replace theirs in docs/benchmarks.json,
 * each marked with its own date, and the rest of the saved run stays as it was.
 */
function mergeIntoSaved(fresh) {
  const saved = JSON.parse(readFileSync(join(here, '..', 'docs', 'benchmarks.json'), 'utf8'));
  const merged = { ...saved, notes: fresh.notes };
  for (const section of ['transports', 'pulls', 'metrics']) {
    const measured = Object.fromEntries(Object.entries(fresh[section] ?? {}).map(([name, result]) => [name, { ...result, measuredAt: fresh.date, node: fresh.machine.node }]));
    merged[section] = { ...saved[section], ...measured };
  }
  if (fresh.soak) merged.soak = { ...fresh.soak, measuredAt: fresh.date };
  return merged;
}

/** " (measured alone on <date>)" for a section that a later --only run replaced. */
const measuredAlone = (report, result) => (result.measuredAt && result.measuredAt !== report.date ? `, measured alone on ${result.measuredAt.slice(0, 16).replace('T', ' ')} UTC, Node ${result.node}` : '');

if (args.includes('--render')) {
  // Re-renders docs/BENCHMARKS.md from docs/benchmarks.json (after editing NOTES.md) without measuring again.
  const saved = JSON.parse(readFileSync(join(here, '..', 'docs', 'benchmarks.json'), 'utf8'));
  saved.notes = readFileSync(join(here, 'NOTES.md'), 'utf8').trim();
  writeFileSync(join(here, '..', 'docs', 'benchmarks.json'), `${JSON.stringify(saved, null, 2)}\n`);
  writeFileSync(join(here, '..', 'docs', 'BENCHMARKS.md'), `${markdown(saved)}\n`);
  log('re-rendered docs/BENCHMARKS.md');
  process.exit(0);
}

const report = {
  date: new Date().toISOString(),
  quick,
  machine: {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  },
  versions: Object.fromEntries(
    ['kafkajs', '@platformatic/kafka', '@confluentinc/kafka-javascript', 'amqplib', '@aws-sdk/client-sqs', 'mongodb', '@opentelemetry/sdk-trace-node'].map((name) => [name, version(name)]),
  ),
};
log('carrier adapters');
report.carrier = await benchCarrier({ quick });
report.transports = await benchTransports();
report.pulls = await benchPulls();
report.metrics = await benchMetrics();
// Not a timing: a pull benchmark whose followed work left the producer's trace measured the wrong thing.
const unfollowed = Object.entries(report.pulls).filter(([, result]) => result.variants.threadline.followed !== result.n);
if (unfollowed.length > 0) {
  throw new Error(`pull benchmarks: work not in the producer's trace: ${unfollowed.map(([name, result]) => `${name} ${result.variants.threadline.followed} of ${result.n}`).join(', ')}`);
}
if (!only || only.includes('soak')) {
  log(`memory soak (N=${SOAK_N})`);
  report.soak = await runWorkload('soak', { BENCH_TRANSPORT: 'amqplib', BENCH_VARIANT: 'threadline', BENCH_N: String(SOAK_N), BENCH_RUN_ID: String(Date.now()) });
}
log('start-up');
report.startup = await benchStartup({ quick });
try {
  report.notes = readFileSync(join(here, 'NOTES.md'), 'utf8').trim();
} catch {
  report.notes = undefined;
}

const outDir = quick ? join(here, 'out') : join(here, '..', 'docs');
mkdirSync(outDir, { recursive: true });
const written = !quick && only ? mergeIntoSaved(report) : report;
writeFileSync(join(outDir, 'benchmarks.json'), `${JSON.stringify(written, null, 2)}\n`);
writeFileSync(join(outDir, 'BENCHMARKS.md'), `${markdown(written)}\n`);
log(`written to ${join(outDir, 'BENCHMARKS.md')}`);
