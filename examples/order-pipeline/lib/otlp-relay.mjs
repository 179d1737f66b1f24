// A tiny OTLP/HTTP relay: each export request a service sends is passed on unchanged to the local
// collector (whose answer the service gets) and, best effort, to every other backend. This is how
// the demo sends one copy of the spans to its own report and one to Jaeger, Tempo, ...
import { createServer } from 'node:http';

/** The whole request body as a Buffer. */
export function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** The traces URL and headers of the backend named by the standard OTEL_EXPORTER_OTLP_* variables, if any. */
export function backendFromEnv(env = process.env) {
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!url) return undefined;
  const headers = {};
  for (const raw of [env.OTEL_EXPORTER_OTLP_HEADERS, env.OTEL_EXPORTER_OTLP_TRACES_HEADERS]) {
    for (const pair of (raw ?? '').split(',')) {
      const at = pair.indexOf('=');
      if (at > 0) headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
    }
  }
  return { url, headers };
}

/**
 * @param {{ primary: string, backends: { url: string, headers?: Record<string, string> }[], timeoutMs?: number }} options
 *   primary: base URL of the local collector (its /v1/traces gets every request); backends: full traces URLs.
 */
export async function startRelay({ primary, backends, timeoutMs = 5000 }) {
  const stats = backends.map((backend) => ({ url: backend.url, sent: 0, failed: 0, lastError: undefined }));
  const pending = new Set();

  const forward = (backend, stat, body, contentType) => {
    const attempt = fetch(backend.url, {
      method: 'POST',
      headers: { ...backend.headers, 'content-type': contentType },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    })
      .then(async (response) => {
        await response.arrayBuffer().catch(() => undefined);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        stat.sent++;
      })
      .catch((error) => {
        stat.failed++;
        stat.lastError = error?.cause?.code ?? error?.cause?.message ?? error?.message ?? String(error);
      })
      .finally(() => pending.delete(attempt));
    pending.add(attempt);
  };

  const server = createServer((request, response) => {
    readBody(request)
      .then(async (body) => {
        const contentType = request.headers['content-type'] ?? 'application/json';
        backends.forEach((backend, i) => forward(backend, stats[i], body, contentType));
        const local = await fetch(`${primary.replace(/\/+$/, '')}${request.url}`, {
          method: request.method,
          headers: { 'content-type': contentType },
          body: request.method === 'POST' ? body : undefined,
        });
        response.writeHead(local.status, { 'content-type': local.headers.get('content-type') ?? 'application/json' });
        response.end(Buffer.from(await local.arrayBuffer()));
      })
      .catch(() => response.writeHead(502).end());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    url: `http://127.0.0.1:${server.address().port}`,
    stats: () => stats.map((stat) => ({ ...stat })),
    /** Waits (bounded) for forwards still in flight, then stops listening. */
    async close() {
      await Promise.race([Promise.allSettled([...pending]), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
