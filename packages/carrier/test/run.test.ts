import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { setupInMemoryOtel as setupOtel } from '@threadline/testing';
import {
  isThenable,
  MessagingSpanPolicy,
  readEnvOptions,
  resolveEnvOptions,
  runAndEnd,
  runSettled,
  settlingCallback,
  envBoolean,
  envOneOf,
  envPositiveInteger,
  type EnvOptionTable,
  type MessagingInstrumentationConfig,
} from '../src';

const { exporter, tracer } = setupOtel();
let config: MessagingInstrumentationConfig = {};
const policy = new MessagingSpanPolicy({ system: 'kafka', getTracer: () => tracer, getConfig: () => config });

beforeEach(() => {
  exporter.reset();
  config = {};
});

const finished = () => exporter.getFinishedSpans();
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('runAndEnd', () => {
  test('a synchronous throw of undefined ends the span as failed and reaches the caller', () => {
    const scope = policy.startProcess({ destination: 'q', carrier: {}, getter: { get: () => undefined, keys: () => [] } });
    expect(() =>
      runAndEnd(scope, () => {
        throw undefined;
      }),
    ).toThrow();
    expect(finished()).toHaveLength(1);
    expect(finished()[0].status.code).toBe(SpanStatusCode.ERROR);
    expect(finished()[0].attributes['error.type']).toBe('_OTHER');
  });

  test('MessagingScope.end(undefined, true) marks the span failed', () => {
    policy.startSend({ destination: 'q' }).end(undefined, true);
    expect(finished()[0].status.code).toBe(SpanStatusCode.ERROR);
  });

  test('a rejection with undefined ends the span as failed', async () => {
    const scope = policy.startSend({ destination: 'q' });
    const rejected = Promise.reject(undefined);
    const returned = runAndEnd(scope, () => rejected);
    await expect(returned).rejects.toBeUndefined();
    await tick();
    expect(finished()[0].status.code).toBe(SpanStatusCode.ERROR);
  });

  test('the caller gets its own promise back, and the span ends when it settles', async () => {
    const scope = policy.startSend({ destination: 'q' });
    const own = Promise.resolve('value');
    const returned = runAndEnd(scope, () => own);
    expect(returned).toBe(own);
    expect(finished()).toHaveLength(0);
    await expect(returned).resolves.toBe('value');
    await tick();
    expect(finished()).toHaveLength(1);
    expect(finished()[0].status.code).toBe(SpanStatusCode.UNSET);
  });

  test('fn runs in the scope, and every scope of a list is ended', () => {
    const first = policy.startSend({ destination: 'a' });
    const second = policy.startSend({ destination: 'b' });
    const seen = runAndEnd(first, () => trace.getSpan(context.active()));
    expect(seen).toBe(first.span);
    runAndEnd([second], () => 1);
    expect(finished().map((span) => span.name).sort()).toEqual(['send a', 'send b']);
  });

  test('propagation-only: the result is returned as it is and no side chain is made', () => {
    config = { mode: 'propagation-only' };
    const scope = policy.startSend({ destination: 'q' });
    const own = Promise.resolve(1);
    const then = jest.spyOn(own, 'then');
    expect(runAndEnd(scope, () => own)).toBe(own);
    expect(then).not.toHaveBeenCalled();
    expect(scope.isEnded).toBe(true);
  });
});

describe('unhandled rejections (in a plain node process: Jest takes unhandled rejections over)', () => {
  // The built package: turbo builds it before its tests.
  const script = (body: string) => `
    const { MessagingSpanPolicy, runAndEnd } = require(${JSON.stringify(join(__dirname, '..', 'dist'))});
    const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
    const tracer = new BasicTracerProvider().getTracer('t');
    const policy = new MessagingSpanPolicy({ system: 'kafka', getTracer: () => tracer, getConfig: () => ({}) });
    const unhandled = [];
    process.on('unhandledRejection', (reason) => unhandled.push(String(reason && reason.message)));
    const scope = policy.startSend({ destination: 'q' });
    ${body}
    setTimeout(() => process.stdout.write(JSON.stringify(unhandled)), 50);
  `;
  const run = (body: string): unknown => JSON.parse(execFileSync(process.execPath, ['-e', script(body)], { cwd: __dirname, encoding: 'utf8' }));

  test('a rejection the caller handles creates no new unhandled rejection', () => {
    expect(run(`runAndEnd(scope, () => Promise.reject(new Error('handled'))).catch(() => {});`)).toEqual([]);
  });

  test('observed: false (the library drops the result): a rejection nobody handles stays unhandled, once', () => {
    expect(run(`runAndEnd(scope, () => Promise.reject(new Error('dropped')), { observed: false });`)).toEqual(['dropped']);
  });
});

test('runSettled hands the outcome over once; a settle that throws never reaches the caller', () => {
  const outcomes: unknown[] = [];
  expect(runSettled(() => 5, (outcome) => outcomes.push(outcome))).toBe(5);
  expect(
    runSettled(
      () => 6,
      () => {
        throw new Error('settle failed');
      },
    ),
  ).toBe(6);
  expect(outcomes).toEqual([{ failed: false, value: 5 }]);
});

test('settlingCallback: error == null is a success, anything else a failure; the callback gets the same arguments', () => {
  const outcomes: unknown[] = [];
  const calls: unknown[][] = [];
  const callback = settlingCallback((...args: unknown[]) => calls.push(args), (outcome) => outcomes.push(outcome));
  callback(null, 'ok');
  expect(outcomes).toEqual([{ failed: false, value: 'ok' }]);
  expect(calls).toEqual([[null, 'ok']]);
  const failing = settlingCallback(undefined, (outcome) => outcomes.push(outcome));
  failing(0);
  expect(outcomes[1]).toEqual({ failed: true, error: 0 });
});

test('isThenable', () => {
  expect(isThenable(Promise.resolve())).toBe(true);
  expect(isThenable({ then: () => undefined })).toBe(true);
  expect(isThenable(Object.assign(() => undefined, { then: () => undefined }))).toBe(true);
  expect(isThenable(null)).toBe(false);
  expect(isThenable({ then: 1 })).toBe(false);
});

describe('env options', () => {
  interface Options {
    flag?: boolean;
    mode?: 'a' | 'b';
    size?: number;
  }
  const table: EnvOptionTable<Options> = {
    flag: { env: 'T_FLAG', parse: envBoolean },
    mode: { env: 'T_MODE', parse: envOneOf('a', 'b') },
    size: { env: 'T_SIZE', parse: envPositiveInteger },
  };

  test('explicit config > environment > default; unusable values are skipped', () => {
    const env = { T_FLAG: 'true', T_MODE: 'c', T_SIZE: '12.7' };
    expect(readEnvOptions(table, env)).toEqual({ flag: true, size: 12 });
    expect(resolveEnvOptions(table, { flag: false }, env)).toEqual({ flag: false, size: 12 });
    expect(resolveEnvOptions(table, { flag: undefined, mode: 'b' }, env)).toEqual({ flag: true, mode: 'b', size: 12 });
    expect(resolveEnvOptions(table, {}, {})).toEqual({});
  });

  test('the caller config is not changed', () => {
    const config: Options = {};
    resolveEnvOptions(table, config, { T_FLAG: 'true' });
    expect(config).toEqual({});
  });
});
