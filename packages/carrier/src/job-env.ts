// Spelled once here: @threadline/k8s-job and child_process injection write them, and
// @threadline/register (which does not depend on k8s-job) reads them on the job side.

/** Names the job side (@threadline/register) reads to name and describe its `run` span. */
export const RUN_NAME_ENV = 'THREADLINE_RUN_NAME';
export const K8S_NAMESPACE_ENV = 'THREADLINE_K8S_NAMESPACE';
export const K8S_JOB_NAME_ENV = 'THREADLINE_K8S_JOB_NAME';
export const K8S_POD_NAME_ENV = 'THREADLINE_K8S_POD_NAME';
/** `messaging.system` of the metrics of Jobs and Pods (creator and job side); the conventions define none. */
export const K8S_MESSAGING_SYSTEM = 'kubernetes';
