// What the tests against the real kube-apiserver and its job runner share (tools/brokers:
// `node tools/brokers/cli.mjs up k8s-runner`).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { brokerAddresses, KubeClient, readKubeconfig, registerEntry, startCollector, type SpanCollector } from '@threadline/testing';
import { assertBuilt } from './built';

export const FIXTURES = join(__dirname, 'fixtures');
export const PACKAGE_DIR = join(__dirname, '..');
/** What a job container starts under: `node --import <this> …`. */
export const REGISTER_URL = pathToFileURL(registerEntry()).href;
export const KUBECONFIG = brokerAddresses().k8s.kubeconfig;
/** Unique to this test run: namespaces, Job names and service names carry it. */
export const RUN_ID = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;

/** A client of the API server once it and the job runner answer, and `namespace` created in it. */
export async function openCluster(namespace: string): Promise<KubeClient> {
  let api: KubeClient;
  try {
    api = new KubeClient(readKubeconfig(KUBECONFIG));
    await api.call('GET', '/version');
    const runner = await fetch(`http://${brokerAddresses().host}:${brokerAddresses().k8s.runnerPort}/healthz`).then((r) => r.json() as Promise<{ watching?: boolean }>);
    if (runner.watching !== true) throw new Error('the job runner is not watching');
  } catch (error) {
    throw new Error(
      `kube-apiserver (kubeconfig ${KUBECONFIG}) or its job runner is not reachable (${(error as Error).message}). Start them with: node tools/brokers/cli.mjs up k8s-runner`,
    );
  }
  // A real server refuses objects in a namespace that does not exist (NamespaceLifecycle admission).
  await api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  return api;
}

/**
 * The file's cluster and collector: checked and opened before its tests (`namespace` created,
 * this package built), the collector closed after them.
 */
export function useCluster(namespace: string): { api: KubeClient; collector: SpanCollector } {
  const cluster = {} as { api: KubeClient; collector: SpanCollector };
  beforeAll(async () => {
    assertBuilt();
    cluster.api = await openCluster(namespace);
    cluster.collector = await startCollector();
  });
  afterAll(async () => {
    await cluster.collector?.close();
  });
  return cluster;
}
