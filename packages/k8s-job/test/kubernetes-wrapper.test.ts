import { context, diag, DiagLogLevel, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type DiagLogger } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { K8S_JOB_NAME_ENV, K8S_NAMESPACE_ENV, K8S_POD_NAME_ENV, RUN_NAME_ENV, KubernetesJobInstrumentation } from '../src';
import { createWrapper } from './wrappers';
import { deepFreeze, setupInMemoryOtel as setupOtel, TRACEPARENT_PATTERN } from '@threadline/testing';

const { exporter, tracer } = setupOtel();

type AnyBody = Record<string, any>;

const warnings: string[] = [];
const logger: DiagLogger = {
  error: () => {},
  warn: (...args: unknown[]) => warnings.push(args.map(String).join(' ')),
  info: () => {},
  debug: () => {},
  verbose: () => {},
};
diag.setLogger(logger, DiagLogLevel.WARN);

function job(name = 'report'): AnyBody {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: 'node:20', command: ['node', 'job.js'], env: [{ name: 'MODE', value: 'full' }] }],
        },
      },
    },
  };
}

/** A stand-in for a generated API method that records what it was called with. */
function fakeApi(result: () => unknown = () => Promise.resolve({ metadata: { name: 'report', uid: 'uid-1' } })) {
  const calls: Array<{ args: unknown[]; activeSpan: unknown; self: unknown }> = [];
  const method = function (this: unknown, ...args: unknown[]) {
    calls.push({ args, activeSpan: trace.getActiveSpan(), self: this });
    return result();
  };
  return { calls, method };
}

function envOf(body: AnyBody): Array<{ name: string; value?: string }> {
  return body.spec.template.spec.containers[0].env;
}

function inParentSpan<R>(fn: () => R): { result: R; parentSpanId: string; traceId: string } {
  const parent = tracer.startSpan('request');
  const result = context.with(trace.setSpan(ROOT_CONTEXT, parent), fn);
  parent.end();
  return { result, parentSpanId: parent.spanContext().spanId, traceId: parent.spanContext().traceId };
}

let instrumentation: KubernetesJobInstrumentation;
beforeEach(() => {
  exporter.reset();
  warnings.length = 0;
  instrumentation = new KubernetesJobInstrumentation({ enabled: false });
});

test('positional API (0.x): a PRODUCER span, and the body sent carries its context', async () => {
  const api = fakeApi(() => Promise.resolve({ response: {}, body: { metadata: { name: 'report', uid: 'uid-0x' } } }));
  const wrapped = createWrapper(instrumentation, 'Job', api.method);
  const body = deepFreeze(job());
  const receiver = { basePath: 'http://k8s' };

  const { result, parentSpanId, traceId } = inParentSpan(() => wrapped.call(receiver, 'batch', body, 'true', undefined));
  await result;

  const [span] = exporter.getFinishedSpans().filter((s) => s.name === 'create job batch');
  expect(span.kind).toBe(SpanKind.PRODUCER);
  expect(span.parentSpanContext?.spanId).toBe(parentSpanId);
  expect(span.spanContext().traceId).toBe(traceId);
  expect(span.attributes).toMatchObject({ 'k8s.namespace.name': 'batch', 'k8s.job.name': 'report', 'k8s.job.uid': 'uid-0x' });

  const [call] = api.calls;
  expect(call.self).toBe(receiver);
  expect(call.args[0]).toBe('batch');
  expect(call.args.slice(2)).toEqual(['true', undefined]);
  const sent = call.args[1] as AnyBody;
  expect(sent).not.toBe(body);
  const traceparent = envOf(sent).find((entry) => entry.name === 'TRACEPARENT')?.value;
  expect(traceparent).toBe(`00-${traceId}-${span.spanContext().spanId}-01`);
  expect(envOf(body)).toEqual([{ name: 'MODE', value: 'full' }]);
  // The client's own request runs inside the create span.
  expect((call.activeSpan as { spanContext(): { spanId: string } }).spanContext().spanId).toBe(span.spanContext().spanId);
});

test('object API (1.x): the parameter object is copied, its other fields and the options kept', async () => {
  const api = fakeApi();
  const wrapped = createWrapper(instrumentation, 'Job', api.method);
  const param = deepFreeze({ namespace: 'batch', body: job(), dryRun: 'All', fieldManager: 'me' });
  const options = { middleware: [] };

  const returned = wrapped(param, options);
  const awaited = await returned;

  expect(awaited).toEqual({ metadata: { name: 'report', uid: 'uid-1' } });
  const [call] = api.calls;
  const sentParam = call.args[0] as AnyBody;
  expect(sentParam).not.toBe(param);
  expect(sentParam).toMatchObject({ namespace: 'batch', dryRun: 'All', fieldManager: 'me' });
  expect(call.args[1]).toBe(options);
  expect(envOf(sentParam.body).map((entry) => entry.name)).toEqual([
    'MODE',
    'TRACEPARENT',
    RUN_NAME_ENV,
    K8S_NAMESPACE_ENV,
    K8S_JOB_NAME_ENV,
  ]);
  expect(envOf(sentParam.body)[1].value).toMatch(TRACEPARENT_PATTERN);
  expect(envOf(param.body)).toEqual([{ name: 'MODE', value: 'full' }]);
  const [span] = exporter.getFinishedSpans();
  expect(span.name).toBe('create job batch');
  expect(span.attributes['k8s.job.uid']).toBe('uid-1');
});

test('the caller gets the very promise the client returned; a rejection marks the span with the HTTP status', async () => {
  const failure = Object.assign(new Error('HTTP-Code: 422 Message: Job.batch "report" is invalid'), { code: 422 });
  const promise = Promise.reject(failure);
  const api = fakeApi(() => promise);
  const wrapped = createWrapper(instrumentation, 'Job', api.method);

  const returned = wrapped({ namespace: 'batch', body: job() });

  expect(returned).toBe(promise);
  await expect(returned).rejects.toBe(failure);
  await new Promise((resolve) => setImmediate(resolve));
  const [span] = exporter.getFinishedSpans();
  expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: failure.message });
  expect(span.attributes['error.type']).toBe('422');
});

test('a 0.x HttpError: statusCode becomes error.type', async () => {
  const failure = Object.assign(new Error('HTTP request failed'), { statusCode: 409, name: 'HttpError' });
  const wrapped = createWrapper(instrumentation, 'Job', fakeApi(() => Promise.reject(failure)).method);
  await expect(wrapped('batch', job())).rejects.toBe(failure);
  await new Promise((resolve) => setImmediate(resolve));
  expect(exporter.getFinishedSpans()[0].attributes['error.type']).toBe('409');
});

test('a client that throws synchronously: the same error reaches the caller and the span ends failed', () => {
  const failure = new Error('Required parameter namespace was null or undefined');
  const wrapped = createWrapper(instrumentation, 'Job', () => {
    throw failure;
  });
  expect(() => wrapped({ namespace: 'batch', body: job() })).toThrow(failure);
  const [span] = exporter.getFinishedSpans();
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
});

test('#17: a client that throws undefined: the span ends failed, and the caller sees the throw', () => {
  const wrapped = createWrapper(instrumentation, 'Job', () => {
    throw undefined;
  });
  expect(() => wrapped({ namespace: 'batch', body: job() })).toThrow();
  const [span] = exporter.getFinishedSpans();
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
});

test('#17: the caller gets the client\'s own promise back', async () => {
  const own = Promise.resolve({ metadata: { name: 'report', uid: 'u1' } });
  const wrapped = createWrapper(instrumentation, 'Job', () => own);
  expect(wrapped({ namespace: 'batch', body: job() })).toBe(own);
  await own;
  await new Promise((resolve) => setImmediate(resolve));
  expect(exporter.getFinishedSpans()[0].attributes['k8s.job.uid']).toBe('u1');
});

test('a body that is not a Job goes through as the same object, with a warning and the span still recorded', async () => {
  const api = fakeApi();
  const wrapped = createWrapper(instrumentation, 'Job', api.method);
  const cronJob = deepFreeze({ kind: 'CronJob', metadata: { name: 'nightly' }, spec: { schedule: '0 3 * * *', jobTemplate: job().spec } });
  await wrapped('batch', cronJob);
  expect(api.calls[0].args[1]).toBe(cronJob);
  expect(warnings.join('\n')).toContain('body.kind is "CronJob", not Job');
  expect(exporter.getFinishedSpans()).toHaveLength(1);
});

test('arguments neither API style accepts pass through untouched, without a span', async () => {
  const api = fakeApi(() => Promise.reject(new Error('bad')));
  const wrapped = createWrapper(instrumentation, 'Job', api.method);
  const args = [42, { not: 'a request' }];
  await expect(wrapped(...args)).rejects.toThrow('bad');
  expect(api.calls[0].args).toEqual(args);
  expect(exporter.getFinishedSpans()).toHaveLength(0);
});

test('propagation-only: no span; the active context is what the pods carry', async () => {
  instrumentation.setConfig({ mode: 'propagation-only' });
  const api = fakeApi();
  const wrapped = createWrapper(instrumentation, 'Job', api.method);
  const { result, parentSpanId, traceId } = inParentSpan(() => wrapped('batch', job()));
  await result;
  expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['request']);
  const traceparent = envOf(api.calls[0].args[1] as AnyBody).find((entry) => entry.name === 'TRACEPARENT')?.value;
  expect(traceparent).toBe(`00-${traceId}-${parentSpanId}-01`);
});

test('runInfoEnv: false adds only the propagation variables; a throwing requestHook changes nothing', async () => {
  instrumentation.setConfig({
    runInfoEnv: false,
    requestHook: () => {
      throw new Error('hook bug');
    },
  });
  const api = fakeApi();
  await createWrapper(instrumentation, 'Job', api.method)('batch', job());
  expect(envOf(api.calls[0].args[1] as AnyBody).map((entry) => entry.name)).toEqual(['MODE', 'TRACEPARENT']);
  expect(exporter.getFinishedSpans()).toHaveLength(1);
});

test('a Pod: span `create pod {namespace}` with k8s.pod.name', async () => {
  const api = fakeApi(() => Promise.resolve({ metadata: { name: 'one-off', uid: 'pod-uid' } }));
  const pod = { metadata: { name: 'one-off' }, spec: { containers: [{ name: 'main', command: ['node', 'job.js'] }] } };
  await createWrapper(instrumentation, 'Pod', api.method)({ namespace: 'default', body: pod });
  const [span] = exporter.getFinishedSpans();
  expect(span.name).toBe('create pod default');
  expect(span.attributes).toMatchObject({ 'k8s.pod.name': 'one-off', 'k8s.pod.uid': 'pod-uid', 'k8s.namespace.name': 'default' });
  const env = (api.calls[0].args[0] as AnyBody).body.spec.containers[0].env as Array<{ name: string }>;
  expect(env.map((entry) => entry.name)).toContain(K8S_POD_NAME_ENV);
});

test('suppressed tracing: the call goes through exactly as written, without a span', async () => {
  const api = fakeApi();
  const body = job();
  const args = ['batch', body];
  await context.with(suppressTracing(ROOT_CONTEXT), () => createWrapper(instrumentation, 'Job', api.method)(...args));
  expect(api.calls[0].args).toEqual(args);
  expect(api.calls[0].args[1]).toBe(body);
  expect(exporter.getFinishedSpans()).toHaveLength(0);
});
