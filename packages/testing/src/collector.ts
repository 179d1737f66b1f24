import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type SpanKindName = 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER' | 'UNSPECIFIED';

export interface CollectedLink {
  traceId: string;
  spanId: string;
  attributes: Record<string, unknown>;
}

/** One finished span as a fixture's real OTLP exporter sent it. */
export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKindName;
  serviceName: string;
  scope: string;
  attributes: Record<string, unknown>;
  links: CollectedLink[];
  events: { name: string; attributes: Record<string, unknown> }[];
  status: { code: 'UNSET' | 'OK' | 'ERROR'; message?: string };
  startTimeMs: number;
  endTimeMs: number;
}

const KINDS: SpanKindName[] = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS: CollectedSpan['status']['code'][] = ['UNSET', 'OK', 'ERROR'];

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string;
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}

function anyValue(value: OtlpAnyValue | undefined): unknown {
  if (value === undefined) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(anyValue);
  if (value.kvlistValue !== undefined) return attributes(value.kvlistValue.values);
  return value.bytesValue;
}

function attributes(list: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) result[key] = anyValue(value);
  return result;
}

const nanosToMs = (nanos: string | number | undefined) => Number(BigInt(nanos ?? 0) / 1000n) / 1000;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
  links?: { traceId: string; spanId: string; attributes?: OtlpKeyValue[] }[];
  events?: { name: string; attributes?: OtlpKeyValue[] }[];
  status?: { code?: number; message?: string };
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
}
interface OtlpRequest {
  resourceSpans?: { resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: { scope?: { name?: string }; spans?: OtlpSpan[] }[] }[];
}

/** Turns an OTLP/JSON ExportTraceServiceRequest into flat spans. Also reads exported files. */
export function spansFromOtlpJson(request: unknown): CollectedSpan[] {
  const spans: CollectedSpan[] = [];
  for (const resourceSpans of (request as OtlpRequest).resourceSpans ?? []) {
    const resource = attributes(resourceSpans.resource?.attributes);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId || undefined,
          name: span.name,
          kind: KINDS[span.kind ?? 0] ?? 'UNSPECIFIED',
          serviceName: String(resource['service.name'] ?? ''),
          scope: scopeSpans.scope?.name ?? '',
          attributes: attributes(span.attributes),
          links: (span.links ?? []).map((link) => ({ traceId: link.traceId, spanId: link.spanId, attributes: attributes(link.attributes) })),
          events: (span.events ?? []).map((event) => ({ name: event.name, attributes: attributes(event.attributes) })),
          status: { code: STATUS[span.status?.code ?? 0] ?? 'UNSET', message: span.status?.message || undefined },
          startTimeMs: nanosToMs(span.startTimeUnixNano),
          endTimeMs: nanosToMs(span.endTimeUnixNano),
        });
      }
    }
  }
  return spans;
}

/** One metric data point a fixture exported over OTLP/HTTP JSON, flattened. */
export interface CollectedMetricPoint {
  name: string;
  unit: string;
  serviceName: string;
  scope: string;
  attributes: Record<string, unknown>;
  /** Sum or gauge value. */
  value?: number;
  /** Histogram count, sum, min, max. */
  count?: number;
  sum?: number;
  min?: number;
  max?: number;
  /** Aggregation temporality: 1 delta, 2 cumulative (sums and histograms). */
  temporality?: number;
  timeMs: number;
}

interface OtlpNumberPoint {
  attributes?: OtlpKeyValue[];
  asInt?: number | string;
  asDouble?: number;
  timeUnixNano?: string | number;
}
interface OtlpHistogramPoint {
  attributes?: OtlpKeyValue[];
  count?: number | string;
  sum?: number;
  min?: number;
  max?: number;
  timeUnixNano?: string | number;
}
interface OtlpMetric {
  name: string;
  unit?: string;
  sum?: { dataPoints?: OtlpNumberPoint[]; aggregationTemporality?: number };
  gauge?: { dataPoints?: OtlpNumberPoint[] };
  histogram?: { dataPoints?: OtlpHistogramPoint[]; aggregationTemporality?: number };
}
interface OtlpMetricsRequest {
  resourceMetrics?: { resource?: { attributes?: OtlpKeyValue[] }; scopeMetrics?: { scope?: { name?: string }; metrics?: OtlpMetric[] }[] }[];
}

/** Turns an OTLP/JSON ExportMetricsServiceRequest into flat points (sums, gauges, histograms). */
export function metricsFromOtlpJson(request: unknown): CollectedMetricPoint[] {
  const points: CollectedMetricPoint[] = [];
  for (const resourceMetrics of (request as OtlpMetricsRequest).resourceMetrics ?? []) {
    const serviceName = String(attributes(resourceMetrics.resource?.attributes)['service.name'] ?? '');
    for (const scopeMetrics of resourceMetrics.scopeMetrics ?? []) {
      const scope = scopeMetrics.scope?.name ?? '';
      for (const metric of scopeMetrics.metrics ?? []) {
        const base = { name: metric.name, unit: metric.unit ?? '', serviceName, scope };
        const numbers = metric.sum ?? metric.gauge;
        for (const point of numbers?.dataPoints ?? []) {
          points.push({
            ...base,
            attributes: attributes(point.attributes),
            value: point.asDouble ?? Number(point.asInt ?? 0),
            temporality: metric.sum?.aggregationTemporality,
            timeMs: nanosToMs(point.timeUnixNano),
          });
        }
        for (const point of metric.histogram?.dataPoints ?? []) {
          points.push({
            ...base,
            attributes: attributes(point.attributes),
            count: Number(point.count ?? 0),
            sum: point.sum,
            min: point.min,
            max: point.max,
            temporality: metric.histogram?.aggregationTemporality,
            timeMs: nanosToMs(point.timeUnixNano),
          });
        }
      }
    }
  }
  return points;
}

export interface SpanCollector {
  /** The OTLP endpoint to give a fixture (OTEL_EXPORTER_OTLP_ENDPOINT). */
  url: string;
  spans(): CollectedSpan[];
  /** Every metric point received, in arrival order (cumulative exports repeat a series). */
  metrics(): CollectedMetricPoint[];
  /**
   * The newest point of each series (name + service + attributes): with cumulative temporality,
   * the totals so far.
   */
  latestMetrics(): CollectedMetricPoint[];
  /** The HTTP headers of each metrics request received. */
  metricRequestHeaders(): Record<string, string | string[] | undefined>[];
  /** Resolves with `latestMetrics()` once `predicate` holds for it; rejects with a dump on timeout. */
  waitForMetrics(predicate: (points: CollectedMetricPoint[]) => boolean, options?: { timeoutMs?: number }): Promise<CollectedMetricPoint[]>;
  /** Resolves with all spans once `predicate` holds; rejects with a dump of what arrived on timeout. */
  waitFor(predicate: (spans: CollectedSpan[]) => boolean, options?: { timeoutMs?: number }): Promise<CollectedSpan[]>;
  reset(): void;
  close(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function latestPerSeries(points: CollectedMetricPoint[]): CollectedMetricPoint[] {
  const latest = new Map<string, CollectedMetricPoint>();
  for (const point of points) {
    const key = JSON.stringify([point.name, point.serviceName, Object.entries(point.attributes).sort(([a], [b]) => a.localeCompare(b))]);
    const seen = latest.get(key);
    if (seen === undefined || seen.timeMs <= point.timeMs) latest.set(key, point);
  }
  return [...latest.values()];
}

/** An OTLP/HTTP JSON receiver on 127.0.0.1 that keeps every span and metric point it is sent. */
export async function startCollector(): Promise<SpanCollector> {
  let collected: CollectedSpan[] = [];
  let metricPoints: CollectedMetricPoint[] = [];
  let metricHeaders: Record<string, string | string[] | undefined>[] = [];
  let waiters: Array<() => void> = [];
  const server: Server = createServer((request, response) => {
    readBody(request)
      .then((body) => {
        const isTraces = request.url?.endsWith('/v1/traces') === true;
        const isMetrics = request.url?.endsWith('/v1/metrics') === true;
        if (request.method !== 'POST' || (!isTraces && !isMetrics)) {
          response.writeHead(404).end();
          return;
        }
        if (!String(request.headers['content-type']).includes('json')) {
          response.writeHead(415, { 'content-type': 'text/plain' }).end('this collector reads OTLP/HTTP JSON only');
          return;
        }
        const parsed: unknown = JSON.parse(body.toString('utf8'));
        if (isMetrics) {
          metricHeaders.push({ ...request.headers });
          metricPoints.push(...metricsFromOtlpJson(parsed));
        }
        else collected.push(...spansFromOtlpJson(parsed));
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        for (const wake of waiters) wake();
      })
      .catch(() => response.writeHead(400).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => [...collected],
    metrics: () => [...metricPoints],
    latestMetrics: () => latestPerSeries(metricPoints),
    metricRequestHeaders: () => [...metricHeaders],
    reset() {
      collected = [];
      metricPoints = [];
      metricHeaders = [];
    },
    waitForMetrics(predicate, options) {
      const timeoutMs = options?.timeoutMs ?? 15000;
      return new Promise((resolve, reject) => {
        const check = () => {
          const latest = latestPerSeries(metricPoints);
          if (!predicate(latest)) return;
          cleanup();
          resolve(latest);
        };
        const timer = setTimeout(() => {
          cleanup();
          const latest = latestPerSeries(metricPoints);
          reject(new Error(`metrics did not arrive within ${timeoutMs} ms; got ${latest.length} series:\n${latest.map((p) => `  ${p.serviceName} ${p.name} ${JSON.stringify(p.attributes)} ${p.value ?? `count=${p.count}`}`).join('\n')}`));
        }, timeoutMs);
        const wake = () => check();
        const cleanup = () => {
          clearTimeout(timer);
          waiters = waiters.filter((waiter) => waiter !== wake);
        };
        waiters.push(wake);
        check();
      });
    },
    waitFor(predicate, options) {
      const timeoutMs = options?.timeoutMs ?? 15000;
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(collected)) return false;
          cleanup();
          resolve([...collected]);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`spans did not arrive within ${timeoutMs} ms; got ${collected.length}:\n${collected.map((s) => `  ${s.serviceName} ${s.kind} ${s.name}`).join('\n')}`));
        }, timeoutMs);
        const wake = () => void check();
        const cleanup = () => {
          clearTimeout(timer);
          waiters = waiters.filter((waiter) => waiter !== wake);
        };
        waiters.push(wake);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
