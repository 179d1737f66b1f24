/**
 * The few calls the job runner makes to the real kube-apiserver, over HTTPS with the kubeconfig's
 * bearer token and CA. No client library: the runner is a plain Node process started by tools/brokers.
 */
import { readFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface KubeTarget {
  server: string;
  token: string;
  ca?: Buffer;
}

/** Reads the kubeconfig tools/brokers writes (JSON is valid kubeconfig YAML): its current context's server, token and CA. */
export function readKubeconfig(path: string): KubeTarget {
  const config = JSON.parse(readFileSync(path, 'utf8')) as Json;
  const contexts = (config.contexts ?? []) as Json[];
  const context = (contexts.find((c) => c.name === config['current-context'])?.context ?? {}) as Json;
  const cluster = (((config.clusters ?? []) as Json[]).find((c) => c.name === context.cluster)?.cluster ?? {}) as Json;
  const user = (((config.users ?? []) as Json[]).find((u) => u.name === context.user)?.user ?? {}) as Json;
  const caData = cluster['certificate-authority-data'];
  return {
    server: String(cluster.server),
    token: String(user.token ?? ''),
    ...(typeof caData === 'string' ? { ca: Buffer.from(caData, 'base64') } : {}),
  };
}

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}: ${isObject(body) && typeof body.message === 'string' ? body.message : JSON.stringify(body)}`);
  }
}

export class KubeClient {
  private readonly url: URL;

  constructor(private readonly target: KubeTarget) {
    this.url = new URL(target.server);
  }

  private options(method: string, path: string, headers: Record<string, string>): RequestOptions {
    return {
      host: this.url.hostname,
      port: this.url.port || 443,
      path,
      method,
      headers: { authorization: `Bearer ${this.target.token}`, accept: 'application/json', ...headers },
      ...(this.target.ca ? { ca: this.target.ca } : {}),
    };
  }

  /** One request; resolves with the JSON answer, rejects with KubeApiError on a non-2xx status. */
  call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Json> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    // Content-Length, not chunked: a chunked DELETE body is not read as DeleteOptions.
    const headers: Record<string, string> = payload ? { 'content-type': contentType, 'content-length': String(payload.length) } : {};
    return new Promise((resolve, reject) => {
      const req = request(this.options(method, path, headers), (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // keep the text
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300 && isObject(parsed)) resolve(parsed);
          else reject(new KubeApiError(status, parsed));
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** merge-patch of an object's status subresource. */
  patchStatus(path: string, status: Json): Promise<Json> {
    return this.call('PATCH', `${path}/status`, { status }, 'application/merge-patch+json');
  }

  /**
   * A watch from `resourceVersion`: each event goes to `onEvent`; resolves when the server ends the stream
   * (timeout, error or close). The caller lists and watches again.
   */
  watch(path: string, resourceVersion: string, onEvent: (type: string, object: Json) => void, signal: AbortSignal): Promise<void> {
    const query = `watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}&timeoutSeconds=300`;
    return new Promise((resolve) => {
      const req = request(this.options('GET', `${path}?${query}`, {}), (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume();
          res.on('end', () => resolve());
          return;
        }
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (!line) continue;
            const event = JSON.parse(line) as Json;
            onEvent(String(event.type), event.object as Json);
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
      signal.addEventListener('abort', () => req.destroy(), { once: true });
      req.end();
    });
  }
}
