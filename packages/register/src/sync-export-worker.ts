// Runs in a child process started by exportSync: posts one OTLP request read from stdin.
import { readFileSync } from 'node:fs';

interface Request {
  url: string;
  headers: Record<string, string>;
  body: string;
}

async function main(): Promise<void> {
  const request = JSON.parse(readFileSync(0, 'utf8')) as Request;
  const response = await fetch(request.url, {
    method: 'POST',
    headers: request.headers,
    body: Buffer.from(request.body, 'base64'),
    signal: AbortSignal.timeout(4000),
  });
  if (!response.ok) throw new Error(`${request.url} answered ${response.status}`);
}

main().catch((error: Error) => {
  process.stderr.write(error.message);
  process.exitCode = 1;
});
