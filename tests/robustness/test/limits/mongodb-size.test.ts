// Documents near MongoDB's 16 MiB limit, through the real MongoDB wire server, instrumented and
// not. @threadline/mongodb-queue adds `_otel` only when the document stays at most 16 MiB - 16 KiB
// with it (headroom for the command around it); otherwise the document is inserted as it is.
import { run, unique } from './support';

const MIB16 = 16 * 1024 * 1024;
const THRESHOLD = MIB16 - 16 * 1024;
const SIZES = [THRESHOLD - 500, THRESHOLD - 60, THRESHOLD + 10, MIB16 - 2048, MIB16 - 150, MIB16 - 120, MIB16 - 90, MIB16 - 60, MIB16 - 30, MIB16, MIB16 + 100];

test('near 16 MiB: every insert succeeds or fails exactly as without instrumentation; what is stored is the same bytes; `_otel` only below the headroom', async () => {
  const env = { DOCUMENT_SIZES: JSON.stringify(SIZES) };
  const controlName = unique('size_control');
  const tracedName = unique('size');
  const control = await run('limits-mongodb-size.cjs', { loader: 'none', env: { ...env, COLLECTION: controlName }, timeoutMs: 150_000 });
  const traced = await run('limits-mongodb-size.cjs', {
    serviceName: 'limits-mongodb',
    env: { ...env, COLLECTION: tracedName, THREADLINE_MONGODB_QUEUE_COLLECTIONS: `threadline_limits.${tracedName}`, OTEL_LOG_LEVEL: 'warn' },
    timeoutMs: 150_000,
  });
  const outcome = (value: string) => (value === 'ok' ? 'ok' : 'refused');
  // What the context field adds (measured on the smallest document, which gets it).
  const contextBytes = traced.result[THRESHOLD - 500].stored.bytes - (THRESHOLD - 500);
  expect(contextBytes).toBeGreaterThan(60);
  expect(contextBytes).toBeLessThan(200);
  const accepted: number[] = [];
  for (const size of SIZES) {
    const plain = control.result[size];
    const got = traced.result[size];
    expect([size, outcome(got.outcome)]).toEqual([size, outcome(plain.outcome)]);
    // The caller's document never gains the field.
    expect(got.callerKeys).toEqual(['_id', 'blob', 'target']);
    if (plain.outcome !== 'ok') continue;
    accepted.push(size);
    expect([size, got.stored.blob]).toEqual([size, plain.stored.blob]);
    const hasContext = got.stored.keys.includes('_otel');
    expect([size, hasContext]).toEqual([size, size + contextBytes <= THRESHOLD]);
    expect([size, got.stored.bytes]).toEqual([size, hasContext ? size + contextBytes : size]);
  }
  // Both sides of the headroom were exercised, and the server refused the largest documents.
  expect(accepted).toContain(THRESHOLD - 500);
  expect(traced.result[THRESHOLD - 500].stored.keys).toContain('_otel');
  expect(accepted).toContain(THRESHOLD + 10);
  expect(traced.result[THRESHOLD + 10].stored.keys).not.toContain('_otel');
  expect(outcome(control.result[MIB16 + 100].outcome)).toBe('refused');
  process.stderr.write(`[limits] mongodb: accepted ${accepted.map((size) => size - MIB16).join(', ')} (bytes relative to 16 MiB)\n`);
  expect(traced.output.stderr).toMatch(/within 16 KiB of MongoDB's 16 MiB limit; inserted without context/);
}, 320_000);
