import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The instrumentation scope of the Kubernetes spans, and this package's name. */
export const PACKAGE_NAME = '@threadline/k8s-job';
export const PACKAGE_VERSION = readVersion();

function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** A plain object (not null, not an array): the shape of API bodies and options objects. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
