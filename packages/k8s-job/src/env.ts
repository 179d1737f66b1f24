import { envVarName, propagationFields, SENT_AT_FIELD } from '@threadline/carrier';

/** Names the job side (@threadline/register) reads to name and describe its `run` span; defined in carrier. */
export { RUN_NAME_ENV, K8S_NAMESPACE_ENV, K8S_JOB_NAME_ENV, K8S_POD_NAME_ENV } from '@threadline/carrier';

/**
 * `THREADLINE_SENT_AT`: when the creator sent the Job (epoch ms), for the job side's queue time.
 * A child of the job's process inherits it and must not count as that Job again: it is dropped.
 */
export const SENT_AT_ENV = envVarName(SENT_AT_FIELD);

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
