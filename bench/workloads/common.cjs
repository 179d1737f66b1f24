// Shared by every workload: the 1 KiB payload, the request span around each produce call, and
// the report the parent reads from stdout.
const { trace } = require('@opentelemetry/api');

const PAYLOAD = Buffer.alloc(1024, 'x');
const tracer = trace.getTracer('bench');

/** Runs `fn` inside a span, as an HTTP handler that produces would. */
function inRequest(fn) {
  return tracer.startActiveSpan('request', async (span) => {
    try {
      return await fn();
    } finally {
      span.end();
    }
  });
}

function report(result) {
  const usage = process.cpuUsage(result.cpuStart);
  const cpuMicros = usage.user + usage.system;
  process.stdout.write(
    `${JSON.stringify({
      messages: result.messages,
      seconds: result.seconds,
      messagesPerSecond: result.messages / result.seconds,
      cpuMicrosPerMessage: cpuMicros / result.messages,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      rssAfterGcMb: result.rssAfterGcMb,
    })}\n`,
  );
}

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

async function rssAfterGc() {
  if (typeof global.gc === 'function') global.gc();
  await new Promise((resolve) => setTimeout(resolve, 50));
  if (typeof global.gc === 'function') global.gc();
  return process.memoryUsage().rss / 1024 / 1024;
}

module.exports = { PAYLOAD, inRequest, report, now, rssAfterGc, N: Number(process.env.BENCH_N ?? 1000), RUN_ID: process.env.BENCH_RUN_ID ?? String(Date.now()) };
