import { join } from 'node:path';
import { context, diag } from '@opentelemetry/api';
import { suppressTracing, type ExportResult } from '@opentelemetry/core';
import { ConsoleSpanExporter, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

const logger = diag.createComponentLogger({ namespace: '@threadline/register' });

/** An exporter that can also send a last batch synchronously, from the process `exit` event. */
export interface ExitSafeExporter extends SpanExporter {
  exportSync(spans: ReadableSpan[]): void;
}

export type OtlpProtocol = 'http/json' | 'http/protobuf' | 'grpc';
/** The signal part of the per-signal variables: OTEL_EXPORTER_OTLP_{TRACES,METRICS}_*. */
export type OtlpSignal = 'TRACES' | 'METRICS';

export function otlpProtocol(env: NodeJS.ProcessEnv, signal: OtlpSignal = 'TRACES'): OtlpProtocol {
  const raw = (env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  if (raw === 'http/json' || raw === 'http/protobuf' || raw === 'grpc') return raw;
  throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL=${raw} is not one of http/protobuf, http/json, grpc`);
}

/** The per-signal endpoint as given, else the base endpoint + `/v1/{path}`. */
export function otlpUrl(env: NodeJS.ProcessEnv, signal: OtlpSignal = 'TRACES', path: string = 'traces'): string {
  const own = env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`];
  if (own) return own;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318';
  return `${base.replace(/\/+$/, '')}/v1/${path}`;
}

export function otlpHeaders(env: NodeJS.ProcessEnv, signal: OtlpSignal = 'TRACES'): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const raw of [env.OTEL_EXPORTER_OTLP_HEADERS, env[`OTEL_EXPORTER_OTLP_${signal}_HEADERS`]]) {
    for (const pair of (raw ?? '').split(',')) {
      const at = pair.indexOf('=');
      if (at > 0) headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
    }
  }
  return headers;
}

/**
 * Sends one OTLP request from a short-lived child process and waits for it. Only used from the
 * `exit` event (process.exit(), a fatal exception), where no asynchronous work can run any more.
 */
export function postSync(url: string, headers: Record<string, string>, contentType: string, body: Uint8Array, what: string = 'span'): void {
  const worker = join(__dirname, 'sync-export-worker.js');
  // Loaded here only: child_process (with net and dgram) costs start-up time and is rarely needed.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const input = JSON.stringify({ url, headers: { ...headers, 'content-type': contentType }, body: Buffer.from(body).toString('base64') });
  context.with(suppressTracing(context.active()), () => {
    const result = spawnSync(process.execPath, [worker], {
      input,
      timeout: 5000,
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '' },
    });
    if (result.status !== 0) {
      logger.warn(`final ${what} export at exit failed: ${result.stderr?.toString().trim() || result.error?.message || `status ${result.status}`}`);
    }
  });
}

class OtlpExporter implements ExitSafeExporter {
  private readonly url: string;
  private readonly headers: Record<string, string>;

  constructor(
    private readonly inner: SpanExporter,
    private readonly protocol: OtlpProtocol,
    env: NodeJS.ProcessEnv,
  ) {
    this.url = otlpUrl(env);
    this.headers = otlpHeaders(env);
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, done);
  }

  exportSync(spans: ReadableSpan[]): void {
    if (this.protocol === 'grpc') {
      logger.warn(`${spans.length} spans still buffered at exit cannot be sent synchronously over grpc`);
      return;
    }
    // Loaded only here: the transformer is not needed on the normal path.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { JsonTraceSerializer, ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');
    const json = this.protocol === 'http/json';
    const body = (json ? JsonTraceSerializer : ProtobufTraceSerializer).serializeRequest(spans) as Uint8Array | undefined;
    if (body) postSync(this.url, this.headers, json ? 'application/json' : 'application/x-protobuf', body);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

class ConsoleExporter implements ExitSafeExporter {
  private readonly inner = new ConsoleSpanExporter();
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, done);
  }
  exportSync(spans: ReadableSpan[]): void {
    this.inner.export(spans, () => {});
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

function loadOtlpExporter(protocol: OtlpProtocol): SpanExporter {
  /* eslint-disable @typescript-eslint/no-require-imports */
  if (protocol === 'http/json') return new (require('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter)();
  if (protocol === 'http/protobuf') return new (require('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter)();
  return new (require(require.resolve('@opentelemetry/exporter-trace-otlp-grpc', { paths: [__dirname, process.cwd()] })).OTLPTraceExporter)();
  /* eslint-enable @typescript-eslint/no-require-imports */
}

/**
 * Creates the real OTLP exporter on first use. An OTLP exporter pulls in some 150 modules
 * (transformer, metrics, protobuf); the first export happens after the batch delay, so
 * loading them then keeps them off the app's start-up path.
 */
class DeferredExporter implements SpanExporter {
  private inner: SpanExporter | undefined;

  constructor(private readonly load: () => SpanExporter) {}

  private get exporter(): SpanExporter {
    this.inner ??= this.load();
    return this.inner;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.exporter.export(spans, done);
  }

  shutdown(): Promise<void> {
    return this.inner?.shutdown() ?? Promise.resolve();
  }

  forceFlush(): Promise<void> {
    return this.inner?.forceFlush?.() ?? Promise.resolve();
  }
}

function otlpExporter(env: NodeJS.ProcessEnv): ExitSafeExporter {
  const protocol = otlpProtocol(env);
  // Fail at start-up, not at the first export, when grpc is asked for but missing.
  if (protocol === 'grpc') {
    try {
      require.resolve('@opentelemetry/exporter-trace-otlp-grpc', { paths: [__dirname, process.cwd()] });
    } catch {
      throw new Error('OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs @opentelemetry/exporter-trace-otlp-grpc installed next to the app');
    }
  }
  return new OtlpExporter(new DeferredExporter(() => loadOtlpExporter(protocol)), protocol, env);
}

/** The exporters OTEL_TRACES_EXPORTER names (otlp, console, none); otlp when unset. */
export function exportersFromEnv(env: NodeJS.ProcessEnv): ExitSafeExporter[] {
  const names = (env.OTEL_TRACES_EXPORTER || 'otlp')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.includes('none')) return [];
  return names.map((name) => {
    if (name === 'otlp') return otlpExporter(env);
    if (name === 'console') return new ConsoleExporter();
    throw new Error(`OTEL_TRACES_EXPORTER=${name} is not one of otlp, console, none`);
  });
}
