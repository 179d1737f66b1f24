/**
 * The subset of Kubernetes API validation the Jobs stand-in applies, with the real messages, field paths and
 * cause reasons (k8s.io/apimachinery validation + pkg/apis/core|batch/validation), so a body the real API
 * server rejects is rejected here too.
 */

export type Json = Record<string, unknown>;

export interface Cause {
  reason: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueDuplicate' | 'FieldValueNotSupported' | 'FieldValueForbidden';
  message: string;
  field: string;
}

/** A body whose JSON types do not fit the object (the real server fails decoding with 400, not 422). */
export class DecodeError extends Error {}

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

const MSG_SUBDOMAIN =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const MSG_LABEL =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const MSG_LABEL_VALUE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const MSG_QUALIFIED_NAME =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const MSG_ENV_VAR_NAME =
  "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')";

/** Field paths a downward-API fieldRef may name in a container env var (core validation's validEnvDownwardAPIFieldPathExpressions). */
export const SUPPORTED_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
];

const quote = (value: unknown): string => JSON.stringify(typeof value === 'string' ? value : String(value));

export const invalid = (field: string, value: unknown, detail: string): Cause => ({
  reason: 'FieldValueInvalid',
  message: `Invalid value: ${quote(value)}: ${detail}`,
  field,
});
export const required = (field: string, detail?: string): Cause => ({
  reason: 'FieldValueRequired',
  message: detail ? `Required value: ${detail}` : 'Required value',
  field,
});
const duplicate = (field: string, value: string): Cause => ({
  reason: 'FieldValueDuplicate',
  message: `Duplicate value: ${quote(value)}`,
  field,
});
const notSupported = (field: string, value: unknown, supported: string[]): Cause => ({
  reason: 'FieldValueNotSupported',
  message: `Unsupported value: ${quote(value)}: supported values: ${supported.map((s) => quote(s)).join(', ')}`,
  field,
});

// ------------------------------------------------------------------ primitive checks (each returns error details)

export function dns1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push('must be no more than 253 characters');
  if (!DNS1123_SUBDOMAIN.test(value)) errs.push(MSG_SUBDOMAIN);
  return errs;
}

export function dns1123Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!DNS1123_LABEL.test(value)) errs.push(MSG_LABEL);
  return errs;
}

export function labelValue(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(value)) errs.push(MSG_LABEL_VALUE);
  return errs;
}

/** Label and annotation keys: an optional DNS-subdomain prefix and "/", then a name of at most 63 characters. */
export function qualifiedName(value: string): string[] {
  const parts = value.split('/');
  let name = value;
  const errs: string[] = [];
  if (parts.length === 2) {
    const [prefix, rest] = parts as [string, string];
    name = rest;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...dns1123Subdomain(prefix).map((e) => `prefix part ${e}`));
  } else if (parts.length > 2) {
    return [
      `a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  if (name.length > 0 && !QUALIFIED_NAME.test(name)) errs.push(MSG_QUALIFIED_NAME);
  return errs;
}

export function envVarName(value: string): string[] {
  const errs: string[] = [];
  if (!ENV_VAR_NAME.test(value)) errs.push(MSG_ENV_VAR_NAME);
  if (value === '.') errs.push("must not be '.'");
  else if (value === '..') errs.push("must not be '..'");
  else if (value.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

// ------------------------------------------------------------------ typed access (wrong JSON types are decode errors)

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'number' ? 'number' : typeof value;
}

function want(kind: string, field: string, value: unknown, expected: string): never {
  throw new DecodeError(`${kind} in version "v1" cannot be handled as a ${kind}: json: cannot unmarshal ${typeName(value)} into Go struct field ${field} of type ${expected}`);
}

export function optString(kind: string, field: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') want(kind, field, value, 'string');
  return value;
}

function optObject(kind: string, field: string, value: unknown): Json | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) want(kind, field, value, 'object');
  return value;
}

function optArray(kind: string, field: string, value: unknown): unknown[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) want(kind, field, value, 'array');
  return value;
}

function optInteger(kind: string, field: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) want(kind, field, value, 'int32');
  return value;
}

function stringArray(kind: string, field: string, value: unknown): string[] | undefined {
  const arr = optArray(kind, field, value);
  arr?.forEach((v, i) => optString(kind, `${field}[${i}]`, v));
  return arr as string[] | undefined;
}

function stringMap(kind: string, field: string, value: unknown): Record<string, string> | undefined {
  const obj = optObject(kind, field, value);
  if (obj) for (const [k, v] of Object.entries(obj)) optString(kind, `${field}[${k}]`, v);
  return obj as Record<string, string> | undefined;
}

// ------------------------------------------------------------------ object metadata

export interface MetadataRules {
  kind: string;
  /** Jobs put their name into a label value (batch.kubernetes.io/job-name), so it must fit one. */
  nameIsLabelValue: boolean;
}

/** Validates metadata after the server filled the name (from generateName) in. */
export function validateMetadata(meta: Json, rules: MetadataRules): Cause[] {
  const causes: Cause[] = [];
  const name = optString(rules.kind, 'ObjectMeta.metadata.name', meta.name);
  optString(rules.kind, 'ObjectMeta.metadata.generateName', meta.generateName);
  optString(rules.kind, 'ObjectMeta.metadata.namespace', meta.namespace);
  if (name === undefined || name === '') {
    causes.push(required('metadata.name', 'name or generateName is required'));
  } else {
    for (const e of dns1123Subdomain(name)) causes.push(invalid('metadata.name', name, e));
    if (rules.nameIsLabelValue) for (const e of labelValue(name)) causes.push(invalid('metadata.name', name, e));
  }
  causes.push(...validateLabels(rules.kind, 'metadata.labels', meta.labels));
  const annotations = stringMap(rules.kind, 'ObjectMeta.metadata.annotations', meta.annotations) ?? {};
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) {
    for (const e of qualifiedName(k.toLowerCase())) causes.push(invalid('metadata.annotations', k, e));
    total += k.length + v.length;
  }
  if (total > 256 * 1024) {
    causes.push({ reason: 'FieldValueInvalid', message: `Too long: must have at most ${256 * 1024} bytes`, field: 'metadata.annotations' });
  }
  return causes;
}

export function validateLabels(kind: string, field: string, value: unknown): Cause[] {
  const causes: Cause[] = [];
  const labels = stringMap(kind, `ObjectMeta.${field}`, value) ?? {};
  for (const [k, v] of Object.entries(labels)) {
    for (const e of qualifiedName(k)) causes.push(invalid(field, k, e));
    for (const e of labelValue(v)) causes.push(invalid(field, v, e));
  }
  return causes;
}

// ------------------------------------------------------------------ pod spec

function validateEnv(kind: string, path: string, value: unknown): Cause[] {
  const causes: Cause[] = [];
  const env = optArray(kind, path, value) ?? [];
  env.forEach((entry, i) => {
    const at = `${path}[${i}]`;
    const e = optObject(kind, at, entry) ?? {};
    const name = optString(kind, `EnvVar.${at}.name`, e.name);
    const val = optString(kind, `EnvVar.${at}.value`, e.value);
    if (!name) causes.push(required(`${at}.name`));
    else for (const d of envVarName(name)) causes.push(invalid(`${at}.name`, name, d));
    // Duplicate names are accepted, as by the real API server (the last one wins in the container).
    const from = optObject(kind, `EnvVar.${at}.valueFrom`, e.valueFrom);
    if (from) {
      if (val !== undefined && val !== '') {
        causes.push(invalid(`${at}.valueFrom`, '', 'may not be specified when `value` is not empty'));
      }
      const sources = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'].filter((s) => from[s] !== undefined && from[s] !== null);
      if (sources.length === 0) {
        causes.push(invalid(`${at}.valueFrom`, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
      } else if (sources.length > 1) {
        causes.push(invalid(`${at}.valueFrom`, '', 'may not have more than one field specified at a time'));
      }
      const fieldRef = optObject(kind, `EnvVarSource.${at}.valueFrom.fieldRef`, from.fieldRef);
      if (fieldRef && sources.length === 1) {
        const fieldPath = optString(kind, 'ObjectFieldSelector.fieldPath', fieldRef.fieldPath);
        const fp = `${at}.valueFrom.fieldRef.fieldPath`;
        if (!fieldPath) causes.push(required(fp));
        else if (!SUPPORTED_FIELD_PATHS.includes(fieldPath) && !/^metadata\.(labels|annotations)\['[^']+'\]$/.test(fieldPath)) {
          causes.push(notSupported(fp, fieldPath, [...SUPPORTED_FIELD_PATHS.slice(0, 3), "metadata.labels['<KEY>']", "metadata.annotations['<KEY>']", ...SUPPORTED_FIELD_PATHS.slice(3)]));
        }
      }
      for (const ref of ['configMapKeyRef', 'secretKeyRef']) {
        const r = optObject(kind, `EnvVarSource.${at}.valueFrom.${ref}`, from[ref]);
        if (r && sources.length === 1) {
          if (!optString(kind, `${ref}.key`, r.key)) causes.push(required(`${at}.valueFrom.${ref}.key`));
          if (!optString(kind, `${ref}.name`, r.name)) causes.push(required(`${at}.valueFrom.${ref}.name`));
        }
      }
    }
  });
  return causes;
}

function validateEnvFrom(kind: string, path: string, value: unknown): Cause[] {
  const causes: Cause[] = [];
  const list = optArray(kind, path, value) ?? [];
  list.forEach((entry, i) => {
    const at = `${path}[${i}]`;
    const e = optObject(kind, at, entry) ?? {};
    const prefix = optString(kind, `EnvFromSource.${at}.prefix`, e.prefix);
    if (prefix) for (const d of envVarName(prefix)) causes.push(invalid(`${at}.prefix`, prefix, d));
    const refs = ['configMapRef', 'secretRef'].filter((r) => e[r] !== undefined && e[r] !== null);
    if (refs.length === 0) causes.push(invalid(at, '', 'must specify one of: `configMapRef` or `secretRef`'));
    else if (refs.length > 1) causes.push(invalid(at, '', 'may not have more than one field specified at a time'));
    for (const r of refs) {
      const ref = optObject(kind, `EnvFromSource.${at}.${r}`, e[r]) ?? {};
      const name = optString(kind, `${r}.name`, ref.name);
      if (!name) causes.push(required(`${at}.${r}.name`));
      else for (const d of dns1123Subdomain(name)) causes.push(invalid(`${at}.${r}.name`, name, d));
    }
  });
  return causes;
}

function validateContainer(kind: string, path: string, value: unknown, seen: Set<string>): Cause[] {
  const causes: Cause[] = [];
  const c = optObject(kind, path, value) ?? {};
  const name = optString(kind, `Container.${path}.name`, c.name);
  if (!name) causes.push(required(`${path}.name`));
  else {
    for (const e of dns1123Label(name)) causes.push(invalid(`${path}.name`, name, e));
    if (seen.has(name)) causes.push(duplicate(`${path}.name`, name));
    seen.add(name);
  }
  const image = optString(kind, `Container.${path}.image`, c.image);
  if (!image) causes.push(required(`${path}.image`));
  else if (image.trim() !== image) causes.push(invalid(`${path}.image`, image, 'must not have leading or trailing whitespace'));
  stringArray(kind, `Container.${path}.command`, c.command);
  stringArray(kind, `Container.${path}.args`, c.args);
  optString(kind, `Container.${path}.workingDir`, c.workingDir);
  causes.push(...validateEnv(kind, `${path}.env`, c.env));
  causes.push(...validateEnvFrom(kind, `${path}.envFrom`, c.envFrom));
  return causes;
}

export interface PodSpecRules {
  kind: string;
  /** Job templates only allow OnFailure and Never. */
  restartPolicies: string[];
}

export function validatePodSpec(spec: Json, path: string, rules: PodSpecRules): Cause[] {
  const { kind } = rules;
  const causes: Cause[] = [];
  const seen = new Set<string>();
  const init = optArray(kind, `PodSpec.${path}.initContainers`, spec.initContainers) ?? [];
  init.forEach((c, i) => causes.push(...validateContainer(kind, `${path}.initContainers[${i}]`, c, seen)));
  const containers = optArray(kind, `PodSpec.${path}.containers`, spec.containers) ?? [];
  if (containers.length === 0) causes.push(required(`${path}.containers`));
  containers.forEach((c, i) => causes.push(...validateContainer(kind, `${path}.containers[${i}]`, c, seen)));
  const restartPolicy = optString(kind, `PodSpec.${path}.restartPolicy`, spec.restartPolicy);
  // An empty policy defaults to Always before validation, as in the real server.
  const policy = restartPolicy || 'Always';
  if (!rules.restartPolicies.includes(policy)) causes.push(notSupported(`${path}.restartPolicy`, policy, rules.restartPolicies));
  const grace = optInteger(kind, `PodSpec.${path}.terminationGracePeriodSeconds`, spec.terminationGracePeriodSeconds);
  if (grace !== undefined && grace < 0) causes.push(invalid(`${path}.terminationGracePeriodSeconds`, grace, 'must be greater than or equal to 0'));
  const deadline = optInteger(kind, `PodSpec.${path}.activeDeadlineSeconds`, spec.activeDeadlineSeconds);
  if (deadline !== undefined && deadline <= 0) causes.push(invalid(`${path}.activeDeadlineSeconds`, deadline, 'must be between 1 and 2147483647, inclusive'));
  return causes;
}

// ------------------------------------------------------------------ whole objects

export function validateJob(job: Json): Cause[] {
  const kind = 'Job';
  const causes = validateMetadata(optObject(kind, 'Job.metadata', job.metadata) ?? {}, { kind, nameIsLabelValue: true });
  const spec = optObject(kind, 'Job.spec', job.spec) ?? {};
  for (const f of ['parallelism', 'completions', 'backoffLimit', 'ttlSecondsAfterFinished']) {
    const v = optInteger(kind, `JobSpec.spec.${f}`, spec[f]);
    if (v !== undefined && v < 0) causes.push(invalid(`spec.${f}`, v, 'must be greater than or equal to 0'));
  }
  const deadline = optInteger(kind, 'JobSpec.spec.activeDeadlineSeconds', spec.activeDeadlineSeconds);
  if (deadline !== undefined && deadline <= 0) causes.push(invalid('spec.activeDeadlineSeconds', deadline, 'must be greater than or equal to 1'));
  const mode = optString(kind, 'JobSpec.spec.completionMode', spec.completionMode);
  if (mode !== undefined && !['NonIndexed', 'Indexed'].includes(mode)) causes.push(notSupported('spec.completionMode', mode, ['NonIndexed', 'Indexed']));
  if (spec.selector !== undefined && spec.selector !== null && spec.manualSelector !== true) {
    causes.push(invalid('spec.selector', JSON.stringify(spec.selector), '`selector` will be auto-generated'));
  }
  const template = optObject(kind, 'JobSpec.spec.template', spec.template) ?? {};
  const tmeta = optObject(kind, 'PodTemplateSpec.spec.template.metadata', template.metadata) ?? {};
  causes.push(...validateLabels(kind, 'spec.template.metadata.labels', tmeta.labels));
  causes.push(
    ...validatePodSpec(optObject(kind, 'PodTemplateSpec.spec.template.spec', template.spec) ?? {}, 'spec.template.spec', {
      kind,
      restartPolicies: ['OnFailure', 'Never'],
    }),
  );
  return causes;
}

export function validatePod(pod: Json): Cause[] {
  const kind = 'Pod';
  const causes = validateMetadata(optObject(kind, 'Pod.metadata', pod.metadata) ?? {}, { kind, nameIsLabelValue: false });
  causes.push(
    ...validatePodSpec(optObject(kind, 'Pod.spec', pod.spec) ?? {}, 'spec', { kind, restartPolicies: ['Always', 'OnFailure', 'Never'] }),
  );
  return causes;
}

// ------------------------------------------------------------------ selectors

export type Matcher = (labels: Record<string, string>) => boolean;

/** Splits on commas that are not inside parentheses ("a in (x,y),b=c"). */
function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** Parses a label selector (=, ==, !=, in, notin, exists, !exists); throws on bad syntax. */
export function parseLabelSelector(selector: string | undefined): Matcher {
  if (!selector) return () => true;
  const tests: Matcher[] = splitTopLevel(selector).map((req) => {
    let m = /^([^\s!=,()]+)\s*(==|=|!=)\s*([^\s!=,()]*)$/.exec(req);
    if (m) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
    }
    m = /^([^\s!=,()]+)\s+(in|notin)\s+\(([^()]*)\)$/.exec(req);
    if (m) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      return op === 'in' ? (l) => l[key] !== undefined && values.includes(l[key]) : (l) => l[key] === undefined || !values.includes(l[key]);
    }
    m = /^(!?)([^\s!=,()]+)$/.exec(req);
    if (m) {
      const [, not, key] = m as unknown as [string, string, string];
      return not ? (l) => !(key in l) : (l) => key in l;
    }
    throw new Error(`unable to parse requirement: ${JSON.stringify(req)}`);
  });
  return (labels) => tests.every((t) => t(labels));
}

/** Field selectors the stand-in understands: metadata.name and metadata.namespace, with = / == / !=. */
export function parseFieldSelector(selector: string | undefined): (obj: Json) => boolean {
  if (!selector) return () => true;
  const tests = splitTopLevel(selector).map((req) => {
    const m = /^(metadata\.name|metadata\.namespace|status\.phase)\s*(==|=|!=)\s*(.*)$/.exec(req);
    if (!m) throw new Error(`field label not supported: ${req.split(/[=!]/)[0]}`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    const get = (o: Json): unknown => {
      const [top, key] = field.split('.') as [string, string];
      const section = o[top];
      return isObject(section) ? section[key] : undefined;
    };
    return op === '!=' ? (o: Json) => get(o) !== value : (o: Json) => get(o) === value;
  });
  return (obj) => tests.every((t) => t(obj));
}
