// The pull fixtures' shared helpers, in process with an in-memory SDK.
import { trace } from '@opentelemetry/api';
import { setupInMemoryOtel } from '../src/otel';
import type * as PullFixture from '../src/pull-fixture';

// The SDK first, as the register hook does in a fixture: setupInMemoryOtel's trace.disable()
// replaces the proxy provider, so a tracer taken before it would stay a no-op.
const otel = setupInMemoryOtel();
const helpers = jest.requireActual<typeof PullFixture>('../src/pull-fixture');
beforeEach(() => otel.exporter.reset());
const finished = () => otel.exporter.getFinishedSpans();

test('produceAll sends COUNT messages per form in order, each good one in its own root produce span, the bad one outside any span', async () => {
  const sent: (PullFixture.PullMessage & { traceId?: string; spanName?: string })[] = [];
  await helpers.produceAll(['a', 'b'], async (message) => {
    const span = trace.getActiveSpan();
    sent.push({ ...message, traceId: span?.spanContext().traceId, spanName: (span as { name?: string } | undefined)?.name });
    await Promise.resolve();
  });
  expect(helpers.COUNT).toBe(3);
  expect(sent.map(({ body, bad }) => [body, bad])).toEqual([
    ['a:0', false],
    ['a:1', true],
    ['a:2', false],
    ['b:0', false],
    ['b:1', true],
    ['b:2', false],
  ]);
  expect(sent.filter((message) => message.bad).every((message) => message.traceId === undefined)).toBe(true);
  expect(sent.filter((message) => !message.bad).map((message) => message.spanName)).toEqual(['produce:a:0', 'produce:a:2', 'produce:b:0', 'produce:b:2']);
  const produced = finished();
  expect(produced.map((span) => span.name)).toEqual(['produce:a:0', 'produce:a:2', 'produce:b:0', 'produce:b:2']);
  expect(produced.every((span) => span.parentSpanContext === undefined)).toBe(true);
  expect(new Set(produced.map((span) => span.spanContext().traceId)).size).toBe(4);
});

test('work makes work:<body> with an inner:<body> child after an await, in the current context', async () => {
  await otel.tracer.startActiveSpan('parent', async (parent) => {
    await helpers.work('x:0');
    parent.end();
  });
  const byName = new Map(finished().map((span) => [span.name, span]));
  expect(byName.get('work:x:0')!.parentSpanContext?.spanId).toBe(byName.get('parent')!.spanContext().spanId);
  expect(byName.get('inner:x:0')!.parentSpanContext?.spanId).toBe(byName.get('work:x:0')!.spanContext().spanId);
});

test.each(['forof', 'forEach', 'promiseAllMap'] as const)('loopForms.%s works on every message body', async (form) => {
  await helpers.loopForms((message: { body: string }) => message.body)[form]([{ body: 'm:0' }, { body: 'm:1' }]);
  expect(finished().map((span) => span.name).sort()).toEqual(['inner:m:0', 'inner:m:1', 'work:m:0', 'work:m:1']);
});

test('loopForms.map marks every message body from its synchronous callback', async () => {
  await helpers.loopForms((message: { body: string }) => message.body).map([{ body: 'm:0' }, { body: 'm:1' }]);
  expect(finished().map((span) => span.name).sort()).toEqual(['work:m:0', 'work:m:1']);
});

describe('runMain', () => {
  const exitCode = process.exitCode;
  afterEach(() => {
    process.exitCode = exitCode;
    jest.restoreAllMocks();
  });

  test('passes the library to main and leaves a success alone', async () => {
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const main = jest.fn(async (_library: { name: string }) => undefined);
    await helpers.runMain(main, { name: 'lib' });
    expect(main).toHaveBeenCalledWith({ name: 'lib' });
    expect(write).not.toHaveBeenCalled();
    expect(process.exitCode).toBe(exitCode);
  });

  test('prints FIXTURE FAILED with the stack and sets exit code 1 on a rejection or a throw, never rejecting', async () => {
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await expect(helpers.runMain(() => Promise.reject(new Error('boom')), undefined)).resolves.toBeUndefined();
    expect(String(write.mock.calls[0][0])).toMatch(/^FIXTURE FAILED Error: boom\n/);
    expect(process.exitCode).toBe(1);
    process.exitCode = exitCode;
    await expect(
      helpers.runMain(() => {
        throw new Error('sync');
      }, undefined),
    ).resolves.toBeUndefined();
    expect(String(write.mock.calls[1][0])).toMatch(/^FIXTURE FAILED Error: sync\n/);
    expect(process.exitCode).toBe(1);
  });
});
