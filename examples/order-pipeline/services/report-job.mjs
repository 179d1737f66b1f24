// report-job: the process a Kubernetes Job runs for one order. The register hook joins the trace
// the Job's env carries (TRACEPARENT, put there by threadline's k8s-job instrumentation) with a
// `run` span, so the span below lands in the order's trace.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';

const orderId = process.env.ORDER_ID;
const reportDir = process.env.REPORT_DIR ?? '.';

await trace.getTracer('order-pipeline-report-job').startActiveSpan('write report', async (span) => {
  span.setAttribute('order.id', orderId);
  const file = join(reportDir, `order-${orderId}.json`);
  await mkdir(reportDir, { recursive: true });
  await writeFile(file, `${JSON.stringify({ orderId, status: 'shipped', reportedAt: new Date().toISOString() }, null, 2)}\n`);
  span.setAttribute('file.path', file);
  span.end();
  console.log(`report for order ${orderId} written to ${file}`);
});
