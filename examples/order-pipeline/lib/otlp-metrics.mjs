// The demo's OTLP/HTTP metrics receiver (JSON encoding) and what it computes from threadline's
// metrics: per hop, time in queue and processing time at p50/p99 and the message count; per order,
// the end-to-end latency. Percentiles of explicit-bucket histograms are interpolated linearly inside
// the bucket that holds the rank, then kept within the histogram's min and max.
import { createServer } from 'node:http';
import { readBody } from './otlp-relay.mjs';

export const METRICS = {
  queueTime: 'threadline.messaging.queue.time',
  processing: 'messaging.process.duration',
  pipeline: 'threadline.pipeline.duration',
  consumed: 'messaging.client.consumed.messages',
  sent: 'messaging.client.sent.messages',
};

const ATTR = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  group: 'messaging.consumer.group.name',
  service: 'service.name',
};

// OTLP/JSON writes int64 as decimal strings and enums as numbers (or, from some encoders, names).
const TEMPORALITY = { 1: 'delta', 2: 'cumulative', AGGREGATION_TEMPORALITY_DELTA: 'delta', AGGREGATION_TEMPORALITY_CUMULATIVE: 'cumulative' };

function number(value) {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

function anyValue(value) {
  if (value === null || typeof value !== 'object') return undefined;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return number(value.intValue);
  if ('doubleValue' in value) return number(value.doubleValue);
  if ('arrayValue' in value) return (value.arrayValue?.values ?? []).map(anyValue);
  return undefined;
}

function attributes(list) {
  const result = {};
  if (!Array.isArray(list)) return result;
  for (const entry of list) if (entry && typeof entry.key === 'string') result[entry.key] = anyValue(entry.value);
  return result;
}

const sortedJson = (object) => JSON.stringify(Object.keys(object).sort().map((key) => [key, object[key]]));

/**
 * The data points of one ExportMetricsServiceRequest (OTLP/JSON), flat. Histograms (explicit
 * buckets), sums and gauges; exponential histograms and summaries are skipped. A point that does
 * not add up (bucket counts not one more than the bounds) is skipped too.
 */
export function pointsFromOtlpJson(request) {
  const points = [];
  for (const resourceMetrics of Array.isArray(request?.resourceMetrics) ? request.resourceMetrics : []) {
    const resource = attributes(resourceMetrics?.resource?.attributes);
    for (const scopeMetrics of Array.isArray(resourceMetrics?.scopeMetrics) ? resourceMetrics.scopeMetrics : []) {
      const scope = typeof scopeMetrics?.scope?.name === 'string' ? scopeMetrics.scope.name : '';
      for (const metric of Array.isArray(scopeMetrics?.metrics) ? scopeMetrics.metrics : []) {
        if (typeof metric?.name !== 'string') continue;
        const base = { resource, scope, name: metric.name, unit: typeof metric.unit === 'string' ? metric.unit : '' };
        const [kind, data] = metric.histogram ? ['histogram', metric.histogram] : metric.sum ? ['sum', metric.sum] : metric.gauge ? ['gauge', metric.gauge] : [];
        if (kind === undefined) continue;
        const temporality = TEMPORALITY[data.aggregationTemporality];
        for (const point of Array.isArray(data.dataPoints) ? data.dataPoints : []) {
          const common = { ...base, kind, temporality, attributes: attributes(point.attributes), timeUnixNano: BigInt(number(point.timeUnixNano) ?? 0) };
          if (kind === 'histogram') {
            const bounds = (point.explicitBounds ?? []).map(number);
            const counts = (point.bucketCounts ?? []).map(number);
            const count = number(point.count);
            if (count === undefined || bounds.includes(undefined) || counts.includes(undefined)) continue;
            // An empty bucketCounts is allowed (no buckets at all); otherwise one more than the bounds.
            if (counts.length !== 0 && counts.length !== bounds.length + 1) continue;
            points.push({ ...common, count, sum: number(point.sum), min: number(point.min), max: number(point.max), bounds, counts });
          } else {
            const value = number(point.asDouble) ?? number(point.asInt);
            if (value === undefined) continue;
            points.push({ ...common, value });
          }
        }
      }
    }
  }
  return points;
}

/** Adds histogram `b` into a copy of `a` (same bounds), or undefined when the bounds differ. */
export function mergeHistograms(a, b) {
  if (a.bounds.length !== b.bounds.length || a.bounds.some((bound, i) => bound !== b.bounds[i])) return undefined;
  const both = (x, y, pick) => (x === undefined ? y : y === undefined ? x : pick(x, y));
  return {
    ...a,
    count: a.count + b.count,
    sum: both(a.sum, b.sum, (x, y) => x + y),
    min: both(a.min, b.min, Math.min),
    max: both(a.max, b.max, Math.max),
    counts: a.counts.length === 0 ? [...b.counts] : b.counts.length === 0 ? [...a.counts] : a.counts.map((count, i) => count + b.counts[i]),
  };
}

/**
 * Keeps what a run sent: per series (resource, scope, metric, attributes), the newest point of a
 * cumulative series, or the sum of a delta series' points.
 */
export function createMetricStore() {
  const series = new Map();
  return {
    add(request) {
      const points = pointsFromOtlpJson(request);
      for (const point of points) {
        const key = sortedJson(point.resource) + '\u0000' + point.scope + '\u0000' + point.name + '\u0000' + sortedJson(point.attributes);
        const known = series.get(key);
        if (known === undefined || (point.temporality !== 'delta' && point.timeUnixNano >= known.timeUnixNano)) {
          series.set(key, point);
        } else if (point.temporality === 'delta') {
          const merged = point.kind === 'histogram' ? mergeHistograms(known, point) : { ...known, value: point.kind === 'sum' ? known.value + point.value : point.value };
          // Changed bounds within one series: keep the newer point rather than mix buckets.
          series.set(key, merged ? { ...merged, timeUnixNano: point.timeUnixNano } : point);
        }
      }
      return points.length;
    },
    points: () => [...series.values()],
    clear: () => series.clear(),
  };
}

/**
 * The q-quantile (0…1) of an explicit-bucket histogram, interpolated linearly inside the bucket
 * that holds rank q·count: bucket i spans (bounds[i-1], bounds[i]]; the first starts at the
 * histogram's min (or 0), the last (bounds[last], +∞) ends at its max (or its lower bound). The
 * result is kept within [min, max] when they are known, so one value is exact. Undefined when empty.
 */
export function bucketQuantile(histogram, q) {
  const { count, bounds, counts, min, max } = histogram;
  if (!(count > 0)) return undefined;
  if (counts.length === 0) return q < 0.5 ? min : max;
  const clamp = (value) => Math.min(max ?? Infinity, Math.max(min ?? -Infinity, value));
  const total = counts.reduce((sum, n) => sum + n, 0);
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i];
    if (inBucket === 0 || below + inBucket < rank) {
      below += inBucket;
      continue;
    }
    const lower = i === 0 ? (min ?? Math.min(0, bounds[0] ?? 0)) : bounds[i - 1];
    const upper = i === bounds.length ? (max ?? bounds[bounds.length - 1] ?? lower) : bounds[i];
    const from = Math.max(lower, min ?? -Infinity);
    const to = Math.min(upper, max ?? Infinity);
    return clamp(from + (Math.max(to, from) - from) * ((rank - below) / inBucket));
  }
  return clamp(max ?? bounds[bounds.length - 1]);
}

const toMs = (unit) => (unit === 's' ? 1000 : unit === 'ms' ? 1 : unit === 'us' ? 0.001 : unit === 'ns' ? 1e-6 : 1000);

/** p50, p99, count and exact min/max (ms) of the histograms merged, or undefined. */
export function histogramStats(histograms) {
  let merged;
  for (const histogram of histograms) {
    if (merged === undefined) merged = { ...histogram, counts: [...histogram.counts] };
    else merged = mergeHistograms(merged, histogram) ?? merged;
  }
  if (merged === undefined || merged.count === 0) return undefined;
  const scale = toMs(merged.unit);
  const at = (q) => bucketQuantile(merged, q) * scale;
  return {
    count: merged.count,
    p50: at(0.5),
    p99: at(0.99),
    min: merged.min === undefined ? undefined : merged.min * scale,
    max: merged.max === undefined ? undefined : merged.max * scale,
    sum: merged.sum === undefined ? undefined : merged.sum * scale,
  };
}

const hopKey = (point) => [point.resource[ATTR.service] ?? '', point.attributes[ATTR.system] ?? '', point.attributes[ATTR.destination] ?? '', point.attributes[ATTR.group] ?? ''].join('\u0000');

/**
 * One row per hop the consumer side recorded (consuming service × system × destination × consumer
 * group): time in queue and processing time (p50/p99, ms), messages, and the producing services
 * that sent to that destination. `upstreamOf(service)` names the producer when no sent-messages
 * series matches (RabbitMQ: the producer names the exchange, the consumer the queue).
 */
export function latencyRows(points, { upstreamOf = () => undefined, order = () => 0 } = {}) {
  const rows = new Map();
  const rowFor = (point) => {
    const key = hopKey(point);
    let row = rows.get(key);
    if (row === undefined) {
      row = {
        consumerService: point.resource[ATTR.service] ?? '?',
        system: point.attributes[ATTR.system],
        destination: point.attributes[ATTR.destination],
        consumerGroup: point.attributes[ATTR.group],
        queue: [],
        processing: [],
        pipeline: [],
        consumed: 0,
        timeSources: new Set(),
      };
      rows.set(key, row);
    }
    return row;
  };
  for (const point of points) {
    if (point.kind === 'histogram' && point.name === METRICS.queueTime) {
      const row = rowFor(point);
      row.queue.push(point);
      if (point.attributes['threadline.time.source']) row.timeSources.add(point.attributes['threadline.time.source']);
    } else if (point.kind === 'histogram' && point.name === METRICS.processing) rowFor(point).processing.push(point);
    else if (point.kind === 'histogram' && point.name === METRICS.pipeline) rowFor(point).pipeline.push(point);
    else if (point.kind === 'sum' && point.name === METRICS.consumed) rowFor(point).consumed += point.value;
  }
  const senders = points.filter((point) => point.kind === 'sum' && point.name === METRICS.sent && point.value > 0);
  return [...rows.values()]
    .map((row) => {
      const matches = senders.filter((point) => {
        const destination = point.attributes[ATTR.destination];
        return point.attributes[ATTR.system] === row.system && (destination === row.destination || String(row.destination).startsWith(`${destination}:`));
      });
      const producers = [...new Set(matches.map((point) => point.resource[ATTR.service] ?? '?'))].sort();
      const queue = histogramStats(row.queue);
      const processing = histogramStats(row.processing);
      return {
        producerService: producers.length > 0 ? producers.join(', ') : upstreamOf(row.consumerService),
        consumerService: row.consumerService,
        system: row.system,
        destination: row.destination,
        consumerGroup: row.consumerGroup,
        timeSources: [...row.timeSources].sort(),
        // The counter when it came; the histograms' counts otherwise.
        messages: row.consumed || processing?.count || queue?.count || 0,
        queue,
        processing,
        pipeline: histogramStats(row.pipeline),
      };
    })
    .sort((a, b) => order(a.consumerService) - order(b.consumerService) || String(a.destination).localeCompare(String(b.destination)));
}

/**
 * End to end per order: the pipeline duration recorded by the process whose resource carries
 * `order.id` (each report job handles exactly one order). Its max is the latest record — the end
 * of that process's work — and exact; without min/max it falls back to the interpolated p99.
 */
export function orderLatencies(points, { resourceKey = 'order.id', service } = {}) {
  const byOrder = new Map();
  for (const point of points) {
    if (point.kind !== 'histogram' || point.name !== METRICS.pipeline) continue;
    const orderId = point.resource[resourceKey];
    if (orderId === undefined || (service !== undefined && point.resource[ATTR.service] !== service)) continue;
    const list = byOrder.get(orderId) ?? [];
    list.push(point);
    byOrder.set(orderId, list);
  }
  return [...byOrder].map(([orderId, histograms]) => {
    const stats = histogramStats(histograms);
    const exact = stats.max !== undefined;
    return { orderId: String(orderId), ms: exact ? stats.max : stats.p99, exact, records: stats.count };
  });
}

export function formatMs(ms) {
  if (ms === undefined || Number.isNaN(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** `service (system destination)`: the hop a row is about, producer first. */
export function hopLabel(row) {
  const via = [row.system, row.destination].filter(Boolean).join(' ');
  return `${row.producerService ?? '?'} → ${row.consumerService}${via ? ` (${via})` : ''}`;
}

/** The rows as a text table (one string per line). */
export function formatLatencyTable(rows) {
  const header = ['hop', 'queue p50', 'queue p99', 'processing p50', 'processing p99', 'messages'];
  const body = rows.map((row) => [hopLabel(row), formatMs(row.queue?.p50), formatMs(row.queue?.p99), formatMs(row.processing?.p50), formatMs(row.processing?.p99), String(row.messages)]);
  const widths = header.map((cell, i) => Math.max(cell.length, ...body.map((line) => line[i].length)));
  const line = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...body.map(line)];
}

/** An OTLP/HTTP JSON metrics receiver on 127.0.0.1: POST /v1/metrics. */
export async function startMetricsReceiver() {
  const store = createMetricStore();
  const stats = { requests: 0, points: 0, rejected: 0, lastError: undefined };
  const server = createServer((request, response) => {
    readBody(request)
      .then((body) => {
        if (request.method !== 'POST' || !request.url?.split('?')[0].endsWith('/v1/metrics')) {
          response.writeHead(404).end();
          return;
        }
        if (!String(request.headers['content-type']).includes('json')) {
          stats.rejected++;
          stats.lastError = `content-type ${request.headers['content-type']} (set OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/json)`;
          response.writeHead(415, { 'content-type': 'text/plain' }).end('this receiver reads OTLP/HTTP JSON only');
          return;
        }
        stats.points += store.add(JSON.parse(body.toString('utf8')));
        stats.requests++;
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      })
      .catch((error) => {
        stats.rejected++;
        stats.lastError = error?.message ?? String(error);
        response.writeHead(400).end();
      });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    /** What OTEL_EXPORTER_OTLP_METRICS_ENDPOINT takes: the full URL. */
    endpoint: `${url}/v1/metrics`,
    store,
    stats: () => ({ ...stats }),
    close() {
      if (!server.listening) return Promise.resolve();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * What the demo prints and the HTML page shows: the hop rows in pipeline order (the upstream of a
 * hop whose destination no send matches is the previous service of `pipeline`), the end to end of
 * each order in `orderIds` (undefined ms when its metrics did not arrive), and the table's lines.
 */
export function latencyReport(points, { pipeline, orderIds }) {
  const rows = latencyRows(points, {
    upstreamOf: (service) => pipeline[pipeline.indexOf(service) - 1],
    order: (service) => (pipeline.includes(service) ? pipeline.indexOf(service) : pipeline.length),
  });
  const found = new Map(orderLatencies(points).map((entry) => [entry.orderId, entry]));
  const orders = orderIds.map((orderId) => found.get(orderId) ?? { orderId, ms: undefined, exact: false, records: 0 });
  return { rows, orders, table: rows.length > 0 ? formatLatencyTable(rows) : [], notes: latencyNotes(rows), points: points.length };
}

/** What a reader of the table must know about some rows' numbers. */
export function latencyNotes(rows) {
  const notes = [];
  for (const row of rows) {
    if (row.system === 'mongodb' && row.timeSources.includes('broker')) {
      notes.push(`${hopLabel(row)}: the queue time comes from the document's ObjectId, which holds whole seconds: it reads up to 1 s more than the real wait`);
    }
    if (row.queue !== undefined && row.processing === undefined) {
      notes.push(`${hopLabel(row)}: no processing time was recorded (e.g. an await-style pull, whose work has no end threadline can see)`);
    }
  }
  return notes;
}
