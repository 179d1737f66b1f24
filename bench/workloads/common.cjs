// Shared by every workload: the 1 KiB payload, the request span around each produce call, and
// the report the parent reads from stdout.
const { trace } = require('@opentelemetry/api');

const PAYLOAD = Buffer.alloc(1024, 'x');
// The `wire-context` variant: no instrumentation, but the app itself puts this fixed context on
// every message, to measure what carrying a context costs the client and broker by itself.
const WIRE_CONTEXT = process.env.BENCH_VARIANT === 'wire-context' ? '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' : undefined;
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
      ...result.extra,
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

const N = Number(process.env.BENCH_N ?? 1000);
// Messages sent through the same path before measuring, so the JIT, the client's buffers and the
// broker's queue are warm in every variant alike.
const WARMUP = Number(process.env.BENCH_WARMUP ?? Math.min(5000, Math.ceil(N / 4)));

/**
 * Runs the warm-up, then the measured N: `send(from, count)` produces messages, and
 * `consumedAtLeast(total)` resolves once that many have been consumed since start; `extra()`
 * adds the workload's own figures to the report.
 */
async function measure({ send, consumedAtLeast, extra }) {
  await send(0, WARMUP);
  await consumedAtLeast(WARMUP);
  const cpuStart = process.cpuUsage();
  const started = now();
  await send(WARMUP, N);
  await consumedAtLeast(WARMUP + N);
  const seconds = now() - started;
  await globalThis.__benchFlush();
  const rssAfterGcMb = await rssAfterGc();
  report({ messages: N, seconds, cpuStart, rssAfterGcMb, extra: extra?.() });
}

/** A counter whose `atLeast(total)` resolves once `add()` has been called that many times. */
function counter() {
  let count = 0;
  let waiting = [];
  return {
    add(by = 1) {
      count += by;
      waiting = waiting.filter(({ total, resolve }) => (count >= total ? (resolve(), false) : true));
    },
    atLeast(total) {
      return count >= total ? Promise.resolve() : new Promise((resolve) => waiting.push({ total, resolve }));
    },
    get value() {
      return count;
    },
  };
}

/**
 * The Kafka workloads' measurement (kafkajs and the clients with its API): 100 keyed 1 KiB
 * messages per `producer.send`, each call inside a request span, until the consumer has them all.
 */
function measureKafkaSends({ producer, topic, consumed }) {
  const headers = () => (WIRE_CONTEXT ? { app: 'bench', traceparent: WIRE_CONTEXT } : { app: 'bench' });
  return measure({
    async send(from, count) {
      for (let sent = 0; sent < count; sent += 100) {
        const messages = Array.from({ length: Math.min(100, count - sent) }, (_, i) => ({ key: String(from + sent + i), value: PAYLOAD, headers: headers() }));
        await inRequest(() => producer.send({ topic, messages }));
      }
    },
    consumedAtLeast: (total) => consumed.atLeast(total),
  });
}

module.exports = { PAYLOAD, WIRE_CONTEXT, inRequest, report, now, rssAfterGc, measure, measureKafkaSends, counter, N, WARMUP, RUN_ID: process.env.BENCH_RUN_ID ?? String(Date.now()) };
