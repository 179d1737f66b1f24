/**
 * The patch and unpatch functions the module hooks call, run here on stand-in module objects
 * (Jest replaces require, so the real hooks never fire in-process; the fixtures prove those).
 */
import { promisify } from 'node:util';
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { isWrapped, type InstrumentationModuleDefinition } from '@opentelemetry/instrumentation';
import { ChildProcessInstrumentation, KubernetesJobInstrumentation, SUPPORTED_CLIENT_NODE_VERSIONS } from '../src';
import { setupInMemoryOtel as setupOtel } from '@threadline/testing';

const { exporter, tracer } = setupOtel();
beforeEach(() => exporter.reset());

function definitions(instrumentation: { getModuleDefinitions(): InstrumentationModuleDefinition[] }) {
  return instrumentation.getModuleDefinitions();
}

function clientNodeModule() {
  class BatchV1Api {
    createNamespacedJob(...args: unknown[]) {
      return Promise.resolve({ args });
    }
    createNamespacedJobWithHttpInfo(...args: unknown[]) {
      return Promise.resolve({ args });
    }
    listNamespacedJob() {
      return Promise.resolve([]);
    }
  }
  class CoreV1Api {
    createNamespacedPod(...args: unknown[]) {
      return Promise.resolve({ args });
    }
  }
  return { BatchV1Api, CoreV1Api };
}

test('client-node: the closed version range, the create methods wrapped once even when patched twice, and unpatched', async () => {
  const instrumentation = new KubernetesJobInstrumentation({ enabled: false });
  const [definition] = definitions(instrumentation);
  expect(definition.name).toBe('@kubernetes/client-node');
  expect(definition.supportedVersions).toEqual(SUPPORTED_CLIENT_NODE_VERSIONS);
  expect(SUPPORTED_CLIENT_NODE_VERSIONS).toEqual(['>=0.22.0 <3']);

  const moduleExports = clientNodeModule();
  const originalCreate = moduleExports.BatchV1Api.prototype.createNamespacedJob;
  definition.patch?.(moduleExports, '1.4.0');
  definition.patch?.(moduleExports, '1.4.0');
  const proto = moduleExports.BatchV1Api.prototype;
  expect(isWrapped(proto.createNamespacedJob)).toBe(true);
  expect(isWrapped(proto.createNamespacedJobWithHttpInfo)).toBe(true);
  expect(isWrapped(moduleExports.CoreV1Api.prototype.createNamespacedPod)).toBe(true);
  expect(isWrapped(proto.listNamespacedJob)).toBe(false);

  const parent = tracer.startSpan('request');
  await context.with(trace.setSpan(ROOT_CONTEXT, parent), () =>
    new moduleExports.BatchV1Api().createNamespacedJob({ namespace: 'ns', body: { spec: { template: { spec: { containers: [{ name: 'm' }] } } } } }),
  );
  parent.end();
  expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['create job ns', 'request']);

  definition.unpatch?.(moduleExports, '1.4.0');
  expect(moduleExports.BatchV1Api.prototype.createNamespacedJob).toBe(originalCreate);
});

test('client-node: a module without the API classes is left alone', () => {
  const [definition] = definitions(new KubernetesJobInstrumentation({ enabled: false }));
  const moduleExports = { KubeConfig: class {} };
  expect(definition.patch?.(moduleExports, '1.4.0')).toBe(moduleExports);
  expect(() => definition.unpatch?.(moduleExports, '1.4.0')).not.toThrow();
});

function childProcessModule() {
  const calls: string[] = [];
  const make = (name: string) =>
    Object.assign(
      function (...args: unknown[]) {
        calls.push(name);
        return { pid: 1, args };
      },
      {},
    );
  const exec = make('exec') as ((...args: unknown[]) => unknown) & { [promisify.custom]?: unknown };
  exec[promisify.custom] = (...args: unknown[]) => Promise.resolve({ stdout: String(args[0]), stderr: '', options: args[1] });
  const commonJs: Record<string, unknown> = { spawn: make('spawn'), exec, execFile: make('execFile'), fork: make('fork') };
  // What the ESM loader hands over: a namespace whose default is the CommonJS exports object.
  const namespace: Record<string | symbol, unknown> = { ...commonJs, default: commonJs, [Symbol.toStringTag]: 'Module' };
  return { calls, commonJs, namespace };
}

test('child_process: both module names hooked; the ESM namespace and its CommonJS default both patched and unpatched', () => {
  const instrumentation = new ChildProcessInstrumentation({ enabled: false });
  const defs = definitions(instrumentation);
  expect(defs.map((definition) => definition.name)).toEqual(['child_process', 'node:child_process']);
  const { namespace, commonJs } = childProcessModule();
  const originalSpawn = commonJs.spawn;

  defs[0].patch?.(namespace);
  for (const target of [namespace, commonJs]) {
    for (const method of ['spawn', 'exec', 'execFile', 'fork']) expect(isWrapped(target[method])).toBe(true);
  }
  // promisify(exec) keeps its custom form, so it still resolves { stdout, stderr }.
  expect(typeof (commonJs.exec as Record<symbol, unknown>)[promisify.custom]).toBe('function');

  defs[0].unpatch?.(namespace);
  expect(commonJs.spawn).toBe(originalSpawn);
  expect(isWrapped(namespace.exec)).toBe(false);
});

test('child_process: the promisified exec of a patched module carries the context', async () => {
  const instrumentation = new ChildProcessInstrumentation({ enabled: false });
  const { commonJs } = childProcessModule();
  definitions(instrumentation)[0].patch?.(commonJs);
  const parent = tracer.startSpan('work');
  const result = await context.with(trace.setSpan(ROOT_CONTEXT, parent), () => promisify(commonJs.exec as (command: string) => void)('ls -l'));
  parent.end();
  const { stdout, options } = result as unknown as { stdout: string; options: { env: Record<string, string> } };
  expect(stdout).toBe('ls -l');
  const [spawnSpan] = exporter.getFinishedSpans();
  expect(spawnSpan.name).toBe('spawn ls');
  expect(options.env.TRACEPARENT).toBe(`00-${spawnSpan.spanContext().traceId}-${spawnSpan.spanContext().spanId}-01`);
});
