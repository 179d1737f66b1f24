// reporter: claims outbox documents one at a time and starts a Kubernetes Job per order that
// writes the order's report. The claim is await-style; under the register hook the code after
// `await findOneAndUpdate()` runs in the claimed document's trace with no code here, until the
// next claim. The Job then carries that trace in its container env (threadline's k8s-job).
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BatchV1Api, KubeConfig } from '@kubernetes/client-node';
import { trace } from '@opentelemetry/api';
import { MongoClient } from 'mongodb';

const mongo = await MongoClient.connect(process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017');
const outbox = mongo.db('shop').collection('outbox');

const kubeConfig = new KubeConfig();
// $KUBECONFIG: the demo passes the one tools/brokers wrote for the local kube-apiserver.
kubeConfig.loadFromDefault();
const batch = kubeConfig.makeApiClient(BatchV1Api);

// The job runs this repository's report-job.mjs under the register hook, like every service.
const registerPath = fileURLToPath(import.meta.resolve('@threadline/register'));
const servicesDir = fileURLToPath(new URL('.', import.meta.url));
const passOn = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_BSP_SCHEDULE_DELAY',
  'OTEL_METRICS_EXPORTER',
  'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
  'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
  'OTEL_METRIC_EXPORT_INTERVAL',
  'REPORT_DIR',
];
// One process per order: its resource names the order, so its metrics give that order's end to
// end (a resource attribute, not a metric attribute: the metric attributes stay bounded).
const resourceAttributes = (orderId) => [process.env.OTEL_RESOURCE_ATTRIBUTES, `order.id=${encodeURIComponent(orderId)}`].filter(Boolean).join(',');

function reportJob(doc) {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `report-${doc.orderId}`, labels: { app: 'order-report' } },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: 60,
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'report',
              image: 'node:20-slim',
              workingDir: servicesDir,
              command: ['node', '--import', registerPath, 'report-job.mjs'],
              env: [
                { name: 'OTEL_SERVICE_NAME', value: 'report-job' },
                { name: 'ORDER_ID', value: doc.orderId },
                { name: 'OTEL_RESOURCE_ATTRIBUTES', value: resourceAttributes(doc.orderId) },
                ...passOn.filter((name) => process.env[name]).map((name) => ({ name, value: process.env[name] })),
              ],
            },
          ],
        },
      },
    },
  };
}

let running = true;
const stop = () => (running = false);
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

console.log('reporter ready: polling shop.outbox');
while (running) {
  const doc = await outbox.findOneAndUpdate(
    { status: 'pending' },
    { $set: { status: 'claimed', claimedAt: new Date() } },
    { sort: { createdAt: 1 }, returnDocument: 'after' },
  );
  if (doc === null) {
    await sleep(100);
    continue;
  }
  trace.getActiveSpan()?.setAttribute('order.id', doc.orderId);
  try {
    const job = await batch.createNamespacedJob({ namespace: 'default', body: reportJob(doc) });
    console.log(`order ${doc.orderId}: started job ${job.metadata.name}`);
  } catch (error) {
    console.error(`order ${doc.orderId}: could not start the report job: ${error.body?.message ?? error.message}`);
  }
}
await mongo.close();
