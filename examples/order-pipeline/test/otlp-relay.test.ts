import { createServer } from 'node:net';
import { startCollector } from '@threadline/testing';
import { backendFromEnv, startRelay } from '../lib/otlp-relay.mjs';

const request = {
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'api' } }] },
      scopeSpans: [
        {
          scope: { name: 'test' },
          spans: [
            {
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: 'b7ad6b7169203331',
              name: 'POST /orders',
              kind: 2,
              startTimeUnixNano: '1700000000000000000',
              endTimeUnixNano: '1700000000100000000',
            },
          ],
        },
      ],
    },
  ],
};

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const post = (url: string, body: unknown) =>
  fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('startRelay', () => {
  test('every export reaches the local collector and the backend, byte for byte', async () => {
    const local = await startCollector();
    const backend = await startCollector();
    const relay = await startRelay({ primary: local.url, backends: [{ url: `${backend.url}/v1/traces` }] });
    try {
      const response = await post(relay.url, request);
      expect(response.status).toBe(200);
      await backend.waitFor((spans) => spans.length === 1, { timeoutMs: 5000 });
      for (const collector of [local, backend]) {
        const [span] = collector.spans();
        expect(span).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', serviceName: 'api', kind: 'SERVER' });
      }
      expect(relay.stats()).toEqual([{ url: `${backend.url}/v1/traces`, sent: 1, failed: 0, lastError: undefined }]);
    } finally {
      await relay.close();
      await local.close();
      await backend.close();
    }
  });

  test('a backend that is down is counted, and the service still gets the local answer', async () => {
    const local = await startCollector();
    const relay = await startRelay({ primary: local.url, backends: [{ url: `http://127.0.0.1:${await closedPort()}/v1/traces` }], timeoutMs: 2000 });
    try {
      expect((await post(relay.url, request)).status).toBe(200);
      expect(local.spans()).toHaveLength(1);
      await relay.close();
      expect(relay.stats()[0]).toMatchObject({ sent: 0, failed: 1, lastError: 'ECONNREFUSED' });
    } finally {
      await local.close();
    }
  });
});

describe('backendFromEnv', () => {
  test('the standard variables name the backend', () => {
    expect(backendFromEnv({})).toBeUndefined();
    expect(backendFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318/' })).toEqual({ url: 'http://jaeger:4318/v1/traces', headers: {} });
    expect(
      backendFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo.example/otlp/v1/traces',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Basic%20abc, x-scope-orgid=demo',
      }),
    ).toEqual({ url: 'https://tempo.example/otlp/v1/traces', headers: { authorization: 'Basic abc', 'x-scope-orgid': 'demo' } });
  });
});
