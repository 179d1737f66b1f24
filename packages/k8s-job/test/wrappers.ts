import type { InstrumentationBase } from '@opentelemetry/instrumentation';
import type { ChildProcessInstrumentation, KubernetesJobInstrumentation } from '../src';
import type { AnyFunction } from '../src/internal-types';
import type { ChildProcessMethod } from '../src/types';

// Wrappers are reached the way the require hook reaches them: the instrumentation's own module
// definition patches a stand-in for the module's exports (Jest's require never fires the hook).
function patch(instrumentation: InstrumentationBase, moduleExports: object): void {
  instrumentation.getModuleDefinitions()[0].patch?.(moduleExports, '1.0.0');
}

/** The wrapper `ChildProcessInstrumentation` puts in place of `original` as `child_process[method]`. */
export function childProcessWrapper(instrumentation: ChildProcessInstrumentation, method: ChildProcessMethod, original: AnyFunction): AnyFunction {
  const moduleExports: Record<string, unknown> = { [method]: original };
  patch(instrumentation, moduleExports);
  return moduleExports[method] as AnyFunction;
}

/** The wrapper `KubernetesJobInstrumentation` puts in place of `original` as `createNamespacedJob` or `createNamespacedPod`. */
export function createWrapper(instrumentation: KubernetesJobInstrumentation, kind: 'Job' | 'Pod', original: AnyFunction): AnyFunction {
  const [className, method] = kind === 'Job' ? ['BatchV1Api', 'createNamespacedJob'] : ['CoreV1Api', 'createNamespacedPod'];
  const api = { prototype: { [method]: original } as Record<string, unknown> };
  const apiClass = Object.assign(function Api() {}, api);
  patch(instrumentation, { [className]: apiClass });
  return apiClass.prototype[method] as AnyFunction;
}
