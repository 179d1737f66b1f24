import { envVarName, propagationFields } from '@threadline/carrier';

/** Names the job side (@threadline/register) reads to name and describe its `run` span. */
export const RUN_NAME_ENV = 'THREADLINE_RUN_NAME';
export const K8S_NAMESPACE_ENV = 'THREADLINE_K8S_NAMESPACE';
export const K8S_JOB_NAME_ENV = 'THREADLINE_K8S_JOB_NAME';
export const K8S_POD_NAME_ENV = 'THREADLINE_K8S_POD_NAME';

/** The env names the global propagator writes (`TRACEPARENT`, `TRACESTATE`, `BAGGAGE` for W3C). */
export function propagationEnvNames(): string[] {
  return propagationFields().map(envVarName);
}

/**
 * True when `names` already holds a propagation variable: the caller's context wins. Per the
 * env-carrier spec only the normalised (uppercase) names are carriers; a lowercase `traceparent`
 * counts only when `allowLowercase` is set.
 */
export function holdsPropagationVariable(names: Iterable<string>, allowLowercase: boolean): boolean {
  const exact = new Set(propagationEnvNames());
  const folded = allowLowercase ? new Set([...exact].map((name) => name.toLowerCase())) : undefined;
  for (const name of names) {
    if (exact.has(name)) return true;
    if (folded !== undefined && folded.has(name.toLowerCase())) return true;
  }
  return false;
}
