import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { diagnose } from '../src/analyze';
import { EXIT_BAD_INPUT, EXIT_CLEAN, runCli } from '../src/cli';
import { formatLatency, formatLatencyReport } from '../src/format';
import { latency, latencyStats, nearestRank } from '../src/latency';
import type { DoctorSpan, LatencyReport } from '../src/types';
import { pipeline, processSpan, send, span } from './spans';

// Every expected number below is worked out by hand from the span times (ms after T0).

describe('nearestRank and latencyStats', () => {
  test('the smallest value with at least q of all values at or below it', () => {
    const hundred = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(nearestRank(hundred, 0.5)).toBe(50);
    expect(nearestRank(hundred, 0.99)).toBe(99);
    // 5 values: p50 is rank ceil(2.5) = 3, p99 rank ceil(4.95) = 5.
    expect(latencyStats([40, 10, 1000, 30, 20])).toEqual({ count: 5, p50: 30, p99: 1000, min: 10, max: 1000 });
    expect(latencyStats([7])).toEqual({ count: 1, p50: 7, p99: 7, min: 7, max: 7 });
    expect(latencyStats([])).toBeUndefined();
  });
});

/**
 * `api` sends five orders to kafka `orders`; `payments` processes each. Send i starts at 1000·i
 * and lasts 4 ms; its consumer starts QUEUE[i] ms after the send started and runs PROCESS[i] ms.
 * A sixth message's consumer starts 50 ms before its send: the payments clock is behind.
 */
const QUEUE = [10, 20, 30, 40, 1000];
const PROCESS = [5, 1, 4, 2, 3];

function ordersHop(): DoctorSpan[] {
  const spans: DoctorSpan[] = [];
  for (let index = 0; index < 6; index++) {
    const at = index * 1000;
    const sent = send({ service: 'api', system: 'kafka', destination: 'orders', start: at, end: at + 4 });
    const queue = QUEUE[index] ?? -50;
    const processing = PROCESS[index] ?? 8;
    spans.push(sent, processSpan({ service: 'payments', system: 'kafka', destination: 'orders', parent: sent, start: at + queue, end: at + queue + processing }));
  }
  return spans;
}

describe('latency: one hop', () => {
  const report = latency(ordersHop());
  const [hop] = report.hops;

  test('time in queue: consumer start − producer start, nearest-rank p50/p99 over the messages not skewed', () => {
    expect(report.hops).toHaveLength(1);
    expect(hop!.channel).toEqual({ type: 'messaging', system: 'kafka', destination: 'orders', label: 'kafka topic' });
    expect([hop!.producerService, hop!.producerOperation, hop!.consumerService, hop!.consumerOperation]).toEqual(['api', 'send', 'payments', 'process']);
    expect(hop!.messages).toBe(6);
    expect(hop!.linked).toBe(0);
    // 10, 20, 30, 40, 1000: p50 = 3rd = 30, p99 = 5th = 1000. The skewed −50 is not among them.
    expect(hop!.queueTime).toEqual({ count: 5, p50: 30, p99: 1000, min: 10, max: 1000 });
  });

  test('a consumer span that starts before its producer span is skewed, named, and left out', () => {
    expect(hop!.skewed).toBe(1);
    expect(hop!.skewedExamples).toHaveLength(1);
    expect(hop!.skewedExamples[0]!.queueMs).toBe(-50);
    expect(hop!.skewedExamples[0]!.producer.serviceName).toBe('api');
    expect(hop!.skewedExamples[0]!.consumer.serviceName).toBe('payments');
  });

  test('processing: the process span duration, of every message (one clock, so skew does not matter)', () => {
    // 5, 1, 4, 2, 3 and the skewed message's 8: sorted 1 2 3 4 5 8, p50 = 3rd = 3, p99 = 6th = 8.
    expect(hop!.processing).toEqual({ count: 6, p50: 3, p99: 8, min: 1, max: 8 });
  });

  test('end to end per trace: the skewed trace is marked and left out of the percentiles', () => {
    // Each trace is one hop: consumer end − send start = queue + processing: 15, 21, 34, 42, 1003.
    expect(report.traces.map((trace) => [trace.endToEndMs, trace.hops, trace.skewed])).toEqual([
      [15, 1, false],
      [21, 1, false],
      [34, 1, false],
      [42, 1, false],
      [1003, 1, false],
      [-42, 1, true],
    ]);
    expect(report.endToEnd).toEqual({ count: 5, p50: 34, p99: 1003, min: 15, max: 1003 });
    expect(report.skewedTraces).toBe(1);
  });
});

describe('latency: a hop with one message', () => {
  test('p50 and p99 are that message', () => {
    const sent = send({ service: 'billing', system: 'rabbitmq', destination: 'invoices', start: 100, end: 101.5 });
    const consumed = processSpan({ service: 'mailer', system: 'rabbitmq', destination: 'invoices:mail', parent: sent, start: 112.25, end: 119.75 });
    const report = latency([sent, consumed]);
    expect(report.hops).toHaveLength(1);
    const [hop] = report.hops;
    // The consumer names `exchange:queue`; it is the same hop as the send to the exchange.
    expect(hop!.channel.destination).toBe('invoices');
    expect(hop!.messages).toBe(1);
    expect(hop!.queueTime).toEqual({ count: 1, p50: 12.25, p99: 12.25, min: 12.25, max: 12.25 });
    expect(hop!.processing).toEqual({ count: 1, p50: 7.5, p99: 7.5, min: 7.5, max: 7.5 });
    expect(hop!.skewed).toBe(0);
    expect(report.traces).toEqual([
      expect.objectContaining({ endToEndMs: 19.75, hops: 1, services: ['billing', 'mailer'], skewed: false }),
    ]);
  });
});

/**
 * One order through three hops, in one trace:
 *   api send kafka `orders` 0–6 → payments process 14–40          queue 14, processing 26
 *   payments send rabbitmq `payments` 20–22 → shipping process 31–55  queue 11, processing 24
 *   shipping send sqs `shipments` 45–49 → notifier receive 60–61, process 62–90
 *                                                                  queue 15 (receive start), processing 28
 * End to end: the last consumer span end (90) − the first producer span start (0) = 90.
 */
function threeHops(offset = 0): DoctorSpan[] {
  const o = offset;
  const request = span({ name: 'POST /orders', service: 'api', kind: 'SERVER', start: o - 3, end: o + 8 });
  const order = send({ service: 'api', system: 'kafka', destination: 'orders', parent: request, start: o, end: o + 6 });
  const paid = processSpan({ service: 'payments', system: 'kafka', destination: 'orders', parent: order, start: o + 14, end: o + 40 });
  const payment = send({ service: 'payments', system: 'rabbitmq', destination: 'payments', parent: paid, start: o + 20, end: o + 22 });
  const shipped = processSpan({ service: 'shipping', system: 'rabbitmq', destination: 'payments:shipping', parent: payment, start: o + 31, end: o + 55 });
  const shipment = send({ service: 'shipping', system: 'aws_sqs', destination: 'shipments', parent: shipped, start: o + 45, end: o + 49 });
  const received = span({
    name: 'receive shipments',
    service: 'notifier',
    kind: 'CONSUMER',
    parent: shipment,
    start: o + 60,
    end: o + 61,
    attributes: { 'messaging.system': 'aws_sqs', 'messaging.destination.name': 'shipments', 'messaging.operation.type': 'receive', 'messaging.operation.name': 'receive' },
  });
  const notified = processSpan({ service: 'notifier', system: 'aws_sqs', destination: 'shipments', parent: received, start: o + 62, end: o + 90 });
  const work = span({ name: 'send email', service: 'notifier', parent: notified, start: o + 63, end: o + 89 });
  return [request, order, paid, payment, shipped, shipment, received, notified, work];
}

describe('latency: a trace with three hops', () => {
  const spans = threeHops();
  const report = latency(spans);

  test('each hop in pipeline order, with its queue and processing time', () => {
    expect(report.hops.map((hop) => [hop.channel.destination, hop.producerService, hop.consumerService, hop.messages, hop.queueTime?.p50, hop.processing?.p50])).toEqual([
      ['orders', 'api', 'payments', 1, 14, 26],
      ['payments', 'payments', 'shipping', 1, 11, 24],
      // A receive span and the process span under it are one message: queue to the receive, processing of the process span.
      ['shipments', 'shipping', 'notifier', 1, 15, 28],
    ]);
    expect(report.hops[2]!.consumerOperation).toBe('receive');
  });

  test('end to end: first producer span start → last consumer span end', () => {
    expect(report.traces).toEqual([
      {
        traceId: spans[0]!.traceId,
        first: expect.objectContaining({ serviceName: 'api', name: 'send orders' }),
        last: expect.objectContaining({ serviceName: 'notifier', name: 'process shipments' }),
        endToEndMs: 90,
        hops: 3,
        services: ['api', 'notifier', 'payments', 'shipping'],
        skewed: false,
      },
    ]);
    expect(report.endToEnd).toEqual({ count: 1, p50: 90, p99: 90, min: 90, max: 90 });
    expect(report.summary).toEqual({ spans: 9, traces: 1, services: ['api', 'notifier', 'payments', 'shipping'] });
  });

  test('a skewed hop marks its trace; the other traces still give the percentiles', () => {
    const skewed = threeHops(1000);
    // shipping's clock runs 40 ms behind: its process span (31–55) now seems to start at −9.
    for (const entry of skewed) {
      if (entry.serviceName === 'shipping') Object.assign(entry, { startTimeMs: entry.startTimeMs - 40, endTimeMs: entry.endTimeMs - 40 });
    }
    const both = latency([...threeHops(), ...skewed, ...threeHops(2000)]);
    const payments = both.hops.find((hop) => hop.channel.destination === 'payments')!;
    // payments → shipping in the skewed trace: 31 − 40 − 20 = −29.
    expect([payments.messages, payments.skewed, payments.skewedExamples[0]!.queueMs]).toEqual([3, 1, -29]);
    expect(payments.queueTime).toEqual({ count: 2, p50: 11, p99: 11, min: 11, max: 11 });
    // shipping → notifier in the skewed trace: 60 − (45 − 40) = 55, not negative, so it counts.
    const shipments = both.hops.find((hop) => hop.channel.destination === 'shipments')!;
    expect(shipments.queueTime).toEqual({ count: 3, p50: 15, p99: 55, min: 15, max: 55 });
    expect(both.traces.map((trace) => trace.skewed)).toEqual([false, true, false]);
    expect(both.endToEnd).toEqual({ count: 2, p50: 90, p99: 90, min: 90, max: 90 });
    expect(both.skewedTraces).toBe(1);
  });
});

describe('latency: what is and is not a hop', () => {
  test('a consumer joined by link is a hop (counted as linked) but not part of any trace', () => {
    const sent = send({ service: 'api', system: 'kafka', destination: 'audit', start: 0, end: 2 });
    const audited = processSpan({ service: 'audit', system: 'kafka', destination: 'audit', links: [sent], start: 9, end: 12 });
    const report = latency([sent, audited]);
    expect(report.hops.map((hop) => [hop.messages, hop.linked, hop.queueTime?.p50, hop.processing?.p50])).toEqual([[1, 1, 9, 3]]);
    expect(report.traces).toEqual([]);
    expect(report.endToEnd).toBeUndefined();
  });

  test('a send and consumer of the same service, a broken hop, and HTTP calls are not hops', () => {
    const self = send({ service: 'worker', system: 'kafka', destination: 'retry', start: 0 });
    const again = processSpan({ service: 'worker', system: 'kafka', destination: 'retry', parent: self, start: 10 });
    const lost = send({ service: 'api', system: 'kafka', destination: 'orders', start: 0 });
    const fresh = processSpan({ service: 'payments', system: 'kafka', destination: 'orders', start: 20 });
    const call = span({ name: 'GET', service: 'web', kind: 'CLIENT', start: 0, end: 20, attributes: { 'http.request.method': 'GET', 'url.full': 'http://api/x' } });
    const served = span({ name: 'GET /x', service: 'api', kind: 'SERVER', parent: call, start: 1, end: 19, attributes: { 'http.request.method': 'GET', 'url.path': '/x' } });
    const report = latency([self, again, lost, fresh, call, served]);
    expect(report.hops).toEqual([]);
    expect(report.traces).toEqual([]);
  });

  test('receive spans only: processing is unknown, queue time still measured', () => {
    const sent = send({ service: 'api', system: 'rabbitmq', destination: 'jobs', start: 0, end: 1 });
    const got = span({
      name: 'receive jobs',
      service: 'worker',
      kind: 'CONSUMER',
      parent: sent,
      start: 4,
      end: 5,
      attributes: { 'messaging.system': 'rabbitmq', 'messaging.destination.name': 'jobs', 'messaging.operation.type': 'receive', 'messaging.operation.name': 'get' },
    });
    const [hop] = latency([sent, got]).hops;
    expect(hop!.queueTime?.p50).toBe(4);
    expect(hop!.processing).toBeUndefined();
    expect(hop!.consumerOperation).toBe('get');
  });

  test('the doctor pipeline fixture: two hops, three messages each', () => {
    // Send at +2, consumer at +30 (queue 28) running 30 ms; publish at +40, ledger at +50 (queue 10) running 20 ms.
    const report = latency(pipeline().spans);
    expect(report.hops.map((hop) => [hop.channel.destination, hop.messages, hop.queueTime?.p99, hop.processing?.p99])).toEqual([
      ['orders', 3, 28, 30],
      ['payments', 3, 10, 20],
    ]);
    // +70 − +2.
    expect(report.endToEnd).toEqual({ count: 3, p50: 68, p99: 68, min: 68, max: 68 });
  });
});

describe('latency: Kubernetes Jobs (threadline k8s-job spans carry no messaging attributes)', () => {
  const job = (name: string, at: number, queue: number, run: number) => {
    const created = span({ name: 'create job default', service: 'reporter', kind: 'PRODUCER', start: at, end: at + 90, attributes: { 'k8s.namespace.name': 'default', 'k8s.job.name': name } });
    const ran = span({ name: `run ${name}`, service: 'report-job', kind: 'CONSUMER', parent: created, start: at + queue, end: at + queue + run, attributes: { 'k8s.job.name': name } });
    return [created, ran];
  };

  test('create job → run: a hop named by the Job name without its generated suffix', () => {
    const report = latency([...job('report-8c804eff', 0, 310, 88.5), ...job('report-x7k2m', 1000, 400, 100), ...job('nightly', 2000, 50, 10)]);
    expect(report.hops.map((hop) => [hop.channel.label, hop.channel.destination, hop.producerService, hop.consumerService, hop.producerOperation, hop.messages, hop.queueTime, hop.processing?.p99])).toEqual([
      // 310 and 400: p50 = 1st = 310, p99 = 2nd = 400; processing 88.5 and 100.
      ['kubernetes job', 'report', 'reporter', 'report-job', 'create', 2, { count: 2, p50: 310, p99: 400, min: 310, max: 400 }, 100],
      ['kubernetes job', 'nightly', 'reporter', 'report-job', 'create', 1, { count: 1, p50: 50, p99: 50, min: 50, max: 50 }, 10],
    ]);
    // Each trace: run end − create start.
    expect(report.traces.map((trace) => [trace.last.name, trace.endToEndMs])).toEqual([
      ['run report-8c804eff', 398.5],
      ['run report-x7k2m', 500],
      ['run nightly', 60],
    ]);
  });

  test('the default view is unchanged by them: no hop, no broken hop', () => {
    const spans = job('report-8c804eff', 0, 310, 88);
    const report = diagnose(spans);
    expect([report.clean, report.brokenHops, report.unconsumedSends, report.rootRatios]).toEqual([true, [], [], []]);
  });
});

describe('formatLatency and formatLatencyReport', () => {
  test('precision follows the size', () => {
    expect([0.4213, 4.2, 42.04, 420.4, 4200, -50, 300_000].map(formatLatency)).toEqual(['0.42 ms', '4.20 ms', '42.0 ms', '420 ms', '4.20 s', '-50.0 ms', '5.0 min']);
  });

  test('the hop table, the skew warning and the end-to-end lines', () => {
    const text = formatLatencyReport(latency(ordersHop()));
    expect(text).toContain('threadline-doctor latency: 12 spans, 6 traces, 2 services (api, payments)');
    expect(text).toMatch(/hop +messages +queue p50 +queue p99 +processing p50 +processing p99 +skewed/);
    expect(text).toMatch(/kafka topic `orders`: api → payments +6 +30\.0 ms +1\.00 s +3\.00 ms +8\.00 ms +1\n/);
    expect(text).toContain('⚠ kafka topic `orders` api → payments: 1 of 6 messages skewed');
    expect(text).toContain('e.g. -50.0 ms: api "send orders"');
    expect(text).toContain('-42.0 ms (skewed)');
    expect(text).toContain('p50 34.0 ms, p99 1.00 s over 5 traces (nearest rank); 1 skewed trace left out');
  });

  test('no hops', () => {
    const text = formatLatencyReport(latency([span({ name: 'job', service: 'cron', start: 0 })]));
    expect(text).toContain('1. Hops: none');
    expect(text).toContain('2. End-to-end per trace: none');
  });
});

describe('threadline-doctor latency', () => {
  const folder = mkdtempSync(join(tmpdir(), 'doctor-latency-'));
  const file = join(folder, 'spans.json');
  writeFileSync(file, JSON.stringify(ordersHop()));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  async function run(argv: string[]) {
    let stdout = '';
    let stderr = '';
    const stdin = Object.assign(Readable.from([]), { isTTY: true });
    const code = await runCli(argv, { stdin, stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } });
    return { code, stdout, stderr };
  }

  test('prints the latency view and exits 0; the default view is unchanged', async () => {
    const view = await run(['latency', file]);
    expect([view.code, view.stderr]).toEqual([EXIT_CLEAN, '']);
    expect(view.stdout).toMatch(/^threadline-doctor latency: 12 spans/);
    expect(view.stdout).not.toContain('Broken hops');
    const report = await run([file]);
    expect(report.stdout).toMatch(/^threadline-doctor: 12 spans/);
    expect(report.stdout).toContain('1. Broken hops: none');
    expect(report.stdout).not.toContain('queue p50');
  });

  test('--json prints the LatencyReport', async () => {
    const { code, stdout } = await run(['latency', '--json', file]);
    expect(code).toBe(EXIT_CLEAN);
    const parsed = JSON.parse(stdout) as LatencyReport;
    expect(parsed.hops[0]!.queueTime).toEqual({ count: 5, p50: 30, p99: 1000, min: 10, max: 1000 });
    expect(parsed.hops[0]!.skewed).toBe(1);
    expect(parsed.endToEnd?.p50).toBe(34);
  });

  test('options of the default view are refused, and bad input is still exit 2', async () => {
    const refused = await run(['latency', file, '--window-ms', '5']);
    expect(refused.code).toBe(EXIT_BAD_INPUT);
    expect(refused.stderr).toContain('--window-ms does not apply to the latency view');
    const missing = await run(['latency', join(folder, 'nope.json')]);
    expect(missing.code).toBe(EXIT_BAD_INPUT);
    expect(missing.stderr).toContain('no such file or folder');
    const noInput = await run(['latency']);
    expect(noInput.code).toBe(EXIT_BAD_INPUT);
    expect(noInput.stderr).toContain('no input');
  });
});
