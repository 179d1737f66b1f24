import { join } from 'node:path';
import { packageInfo } from '@threadline/carrier';

/** The instrumentation scope of the Kubernetes spans (this package's name) and its version. */
export const { name: PACKAGE_NAME, version: PACKAGE_VERSION } = packageInfo(join(__dirname, '..'), '@threadline/k8s-job');

/** A plain object (not null, not an array): the shape of API bodies and options objects. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
