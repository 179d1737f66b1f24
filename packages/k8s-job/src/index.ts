export { KubernetesJobInstrumentation, SUPPORTED_CLIENT_NODE_VERSIONS } from './instrumentation';
export { ChildProcessInstrumentation, CHILD_PROCESS_SCOPE_NAME } from './child-process';
export { RUN_NAME_ENV, K8S_NAMESPACE_ENV, K8S_JOB_NAME_ENV, K8S_POD_NAME_ENV } from './env';
export type {
  KubernetesJobInstrumentationConfig,
  ChildProcessInstrumentationConfig,
  KubernetesRequestInfo,
  SpawnInfo,
  WorkloadKind,
  ChildProcessMethod,
} from './types';
