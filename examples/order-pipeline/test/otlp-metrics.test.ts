// The demo's metrics side on hand-made OTLP/JSON: the parser, the bucket-interpolated percentiles,
// the per-hop rows, the per-order end to end, and the HTTP receiver. Expected numbers are worked out
// by hand in the comments.
import {
  bucketQuantile,
  createMetricStore,
  formatLatencyTable,
  histogramStats,
  latencyNotes,
  latencyReport,
  latencyRows,
  mergeHistograms,
  orderLatencies,
  pointsFromOtlpJson,
  startMetricsReceiver,
} from '../lib/otlp-metrics.mjs';

const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
const BOUNDS = [0.005, 0.01, 0.025, 0.05];

function histogram(name: string, attributes: object[], point: { counts: number[]; count: number; sum?: number; min?: number; max?: number; time?: string }, temporality = 2) {
  return {
    name,
    unit: 's',
    histogram: {
      aggregationTemporality: temporality,
      dataPoints: [
        {
          attributes,
          startTimeUnixNano: '1700000000000000000',
          timeUnixNano: point.time ?? '1700000001000000000',
          // OTLP/JSON: int64 as strings.
          count: String(point.count),
          sum: point.sum,
          min: point.min,
          max: point.max,
          bucketCounts: point.counts.map(String),
          explicitBounds: BOUNDS,
        },
      ],
    },
  };
}

function counter(name: string, attributes: object[], value: number, time = '1700000001000000000') {
  return { name, unit: '{message}', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ attributes, timeUnixNano: time, asInt: String(value) }] } };
}

const resource = (service: string, extra: object[] = []) => ({ attributes: [str('service.name', service), ...extra] });
const kafkaOrders = [str('messaging.system', 'kafka'), str('messaging.destination.name', 'orders')];
const paymentsGroup = [...kafkaOrders, str('messaging.consumer.group.name', 'payments')];
const rabbitQueue = [str('messaging.system', 'rabbitmq'), str('messaging.destination.name', 'shipping')];

/** api → kafka `orders` → payments → rabbitmq `payments` → shipping, and two report jobs. */
function request() {
  return {
    resourceMetrics: [
      {
        resource: resource('api'),
        scopeMetrics: [{ scope: { name: '@threadline/kafkajs' }, metrics: [counter('messaging.client.sent.messages', [...kafkaOrders, str('messaging.operation.name', 'send')], 3)] }],
      },
      {
        resource: resource('payments'),
        scopeMetrics: [
          {
            scope: { name: '@threadline/kafkajs' },
            metrics: [
              // Two in (5, 10] ms and one in (10, 25] ms; min 6 ms, max 20 ms.
              histogram('threadline.messaging.queue.time', [...paymentsGroup, str('threadline.time.source', 'broker')], { counts: [0, 2, 1, 0, 0], count: 3, sum: 0.045, min: 0.006, max: 0.02 }),
              // All three in (0, 5] ms; min 1 ms, max 4 ms.
              histogram('messaging.process.duration', [...paymentsGroup, str('messaging.operation.name', 'process')], { counts: [3, 0, 0, 0, 0], count: 3, sum: 0.0075, min: 0.001, max: 0.004 }),
              counter('messaging.client.consumed.messages', [...paymentsGroup, str('messaging.operation.name', 'process')], 3),
            ],
          },
          {
            scope: { name: '@threadline/amqplib' },
            metrics: [counter('messaging.client.sent.messages', [str('messaging.system', 'rabbitmq'), str('messaging.destination.name', 'payments')], 3)],
          },
        ],
      },
      {
        resource: resource('shipping'),
        scopeMetrics: [
          {
            scope: { name: '@threadline/amqplib' },
            metrics: [
              // No min/max: p50 of one value in (25, 50] is the bucket's middle, 37.5 ms.
              histogram('threadline.messaging.queue.time', [...rabbitQueue, str('threadline.time.source', 'carried')], { counts: [0, 0, 0, 1, 0], count: 1 }),
            ],
          },
        ],
      },
      {
        resource: resource('report-job', [str('order.id', 'a1')]),
        scopeMetrics: [
          {
            scope: { name: '@threadline/k8s-job' },
            // Recorded at receive (3.9 s) and at the end of the process (4.2 s): the max is the end.
            metrics: [histogram('threadline.pipeline.duration', [str('messaging.destination.name', 'report')], { counts: [0, 0, 0, 0, 2], count: 2, sum: 8.1, min: 3.9, max: 4.2 })],
          },
        ],
      },
      {
        resource: resource('report-job', [str('order.id', 'b2')]),
        scopeMetrics: [
          {
            scope: { name: '@threadline/k8s-job' },
            // No min/max: one value in (25, 50] ms → p99 = 25 + 25 × 0.99 = 49.75 ms.
            metrics: [histogram('threadline.pipeline.duration', [str('messaging.destination.name', 'report')], { counts: [0, 0, 0, 1, 0], count: 1 })],
          },
        ],
      },
    ],
  };
}

describe('pointsFromOtlpJson', () => {
  test('histograms and sums, flat, with resource, scope and attributes; int64 strings read as numbers', () => {
    const points = pointsFromOtlpJson(request());
    expect(points).toHaveLength(8);
    const queue = points.find((point: { name: string; resource: Record<string, unknown> }) => point.name === 'threadline.messaging.queue.time' && point.resource['service.name'] === 'payments');
    expect(queue).toMatchObject({
      scope: '@threadline/kafkajs',
      unit: 's',
      kind: 'histogram',
      temporality: 'cumulative',
      count: 3,
      min: 0.006,
      max: 0.02,
      bounds: BOUNDS,
      counts: [0, 2, 1, 0, 0],
      attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': 'orders', 'messaging.consumer.group.name': 'payments', 'threadline.time.source': 'broker' },
    });
    expect(points.find((point: { kind: string }) => point.kind === 'sum')).toMatchObject({ name: 'messaging.client.sent.messages', value: 3, resource: { 'service.name': 'api' } });
  });

  test('garbage is skipped, never thrown', () => {
    expect(pointsFromOtlpJson(undefined)).toEqual([]);
    expect(pointsFromOtlpJson({ resourceMetrics: 'no' })).toEqual([]);
    expect(pointsFromOtlpJson({ resourceMetrics: [null, { scopeMetrics: [{ metrics: [null, { name: 7 }, { name: 'x' }] }] }] })).toEqual([]);
    const broken = histogram('threadline.messaging.queue.time', [], { counts: [1, 2], count: 3 }); // 2 counts for 4 bounds
    const notANumber = counter('messaging.client.consumed.messages', [], 0);
    notANumber.sum.dataPoints[0]!.asInt = 'many';
    expect(pointsFromOtlpJson({ resourceMetrics: [{ resource: resource('x'), scopeMetrics: [{ metrics: [broken, notANumber] }] }] })).toEqual([]);
  });
});

describe('bucketQuantile (interpolated inside the bucket, kept within min and max)', () => {
  const h = (counts: number[], extra: { min?: number; max?: number } = {}) => ({ count: counts.reduce((a, b) => a + b, 0), bounds: [5, 10, 25], counts, ...extra });

  test('the rank falls inside a bucket: linear between its bounds', () => {
    // 4 values in (5, 10]: p50 rank 2 → 5 + 5 × 2/4 = 7.5; p99 rank 3.96 → 5 + 5 × 0.99 = 9.95.
    expect(bucketQuantile(h([0, 4, 0, 0]), 0.5)).toBeCloseTo(7.5);
    expect(bucketQuantile(h([0, 4, 0, 0]), 0.99)).toBeCloseTo(9.95);
    // 2 in (5, 10], 1 in (10, 25], min 6, max 20: p50 rank 1.5 → 6 + 4 × 1.5/2 = 9; p99 rank 2.97 → 10 + 10 × 0.97 = 19.7.
    expect(bucketQuantile(h([0, 2, 1, 0], { min: 6, max: 20 }), 0.5)).toBeCloseTo(9);
    expect(bucketQuantile(h([0, 2, 1, 0], { min: 6, max: 20 }), 0.99)).toBeCloseTo(19.7);
  });

  test('first bucket starts at 0 (or min); the overflow bucket ends at max (or its lower bound)', () => {
    expect(bucketQuantile(h([2, 0, 0, 0]), 0.5)).toBeCloseTo(2.5);
    expect(bucketQuantile(h([0, 0, 0, 2], { max: 45 }), 0.5)).toBeCloseTo(35);
    expect(bucketQuantile(h([0, 0, 0, 2]), 0.99)).toBe(25);
  });

  test('one value with min and max is exact; an empty histogram has none', () => {
    expect(bucketQuantile(h([0, 0, 1, 0], { min: 13.3, max: 13.3 }), 0.5)).toBe(13.3);
    expect(bucketQuantile(h([0, 0, 1, 0], { min: 13.3, max: 13.3 }), 0.99)).toBe(13.3);
    expect(bucketQuantile(h([0, 0, 0, 0]), 0.5)).toBeUndefined();
  });

  test('histograms of the same bounds merge; other bounds do not', () => {
    const a = { unit: 's', count: 2, sum: 3, min: 1, max: 2, bounds: [5], counts: [2, 0] };
    const b = { unit: 's', count: 1, sum: 7, min: 7, max: 7, bounds: [5], counts: [0, 1] };
    expect(mergeHistograms(a, b)).toMatchObject({ count: 3, sum: 10, min: 1, max: 7, counts: [2, 1] });
    expect(mergeHistograms(a, { ...b, bounds: [6] })).toBeUndefined();
    // Seconds to milliseconds.
    expect(histogramStats([a, b])).toMatchObject({ count: 3, min: 1000, max: 7000, sum: 10000 });
  });
});

describe('the store: cumulative series keep the newest point, delta series add up', () => {
  test('cumulative', () => {
    const store = createMetricStore();
    const at = (count: number, time: string) => ({
      resourceMetrics: [{ resource: resource('payments'), scopeMetrics: [{ metrics: [histogram('messaging.process.duration', paymentsGroup, { counts: [count, 0, 0, 0, 0], count, time })] }] }],
    });
    store.add(at(2, '1700000002000000000'));
    store.add(at(5, '1700000003000000000'));
    store.add(at(1, '1700000001000000000')); // late, older: ignored
    expect(store.points().map((point: { count: number }) => point.count)).toEqual([5]);
  });

  test('delta', () => {
    const store = createMetricStore();
    const part = (counts: number[], min: number, max: number) => ({
      resourceMetrics: [{ resource: resource('payments'), scopeMetrics: [{ metrics: [histogram('messaging.process.duration', paymentsGroup, { counts, count: counts.reduce((a, b) => a + b, 0), min, max }, 1)] }] }],
    });
    store.add(part([1, 0, 0, 0, 0], 0.002, 0.002));
    store.add(part([0, 1, 1, 0, 0], 0.006, 0.02));
    expect(store.points()).toEqual([expect.objectContaining({ temporality: 'delta', count: 3, counts: [1, 1, 1, 0, 0], min: 0.002, max: 0.02 })]);
  });
});

describe('latencyRows and orderLatencies', () => {
  const store = createMetricStore();
  store.add(request());
  const points = store.points();
  const pipeline = ['api', 'payments', 'shipping', 'notifier', 'reporter', 'report-job'];
  const rows = latencyRows(points, { upstreamOf: (service: string) => pipeline[pipeline.indexOf(service) - 1], order: (service: string) => pipeline.indexOf(service) });

  test('one row per consuming service and destination, in pipeline order', () => {
    expect(rows.map((row: { producerService: string; consumerService: string; destination: string }) => [row.producerService, row.consumerService, row.destination])).toEqual([
      // payments' consumer matched by the api's sent-messages series on kafka `orders`.
      ['api', 'payments', 'orders'],
      // The queue `shipping` matches no send (the producer names the exchange): the pipeline order says payments.
      ['payments', 'shipping', 'shipping'],
      ['reporter', 'report-job', 'report'],
    ]);
  });

  test('queue and processing percentiles in ms, messages from the consumed counter', () => {
    const [payments, shipping, reportJob] = rows;
    expect(payments.queue.p50).toBeCloseTo(9);
    expect(payments.queue.p99).toBeCloseTo(19.7);
    // (0, 5] ms narrowed to [1, 4]: p50 rank 1.5 → 1 + 3 × 0.5 = 2.5; p99 rank 2.97 → 1 + 3 × 0.99 = 3.97.
    expect(payments.processing.p50).toBeCloseTo(2.5);
    expect(payments.processing.p99).toBeCloseTo(3.97);
    expect(payments.messages).toBe(3);
    expect(payments.timeSources).toEqual(['broker']);
    // No counter and no processing: messages from the queue histogram's count.
    expect([shipping.messages, shipping.processing, shipping.timeSources]).toEqual([1, undefined, ['carried']]);
    expect(shipping.queue.p50).toBeCloseTo(37.5);
    // Only pipeline durations (which may be two records per message): no count to show.
    expect(reportJob.messages).toBe(0);
    expect(reportJob.queue).toBeUndefined();
  });

  test('the text table', () => {
    const lines = formatLatencyTable(rows);
    expect(lines[0]).toMatch(/^hop +queue p50 +queue p99 +processing p50 +processing p99 +messages$/);
    expect(lines[2]).toMatch(/^api → payments \(kafka orders\) +9\.00 ms +19\.7 ms +2\.50 ms +3\.97 ms +3$/);
    expect(lines[3]).toMatch(/^payments → shipping \(rabbitmq shipping\) +37\.5 ms +49\.8 ms +– +– +1$/);
  });

  test('end to end per order: the max when known (exact), else the interpolated p99', () => {
    const orders = orderLatencies(points);
    expect(orders).toEqual([
      { orderId: 'a1', ms: expect.closeTo(4200, 6), exact: true, records: 2 },
      { orderId: 'b2', ms: expect.closeTo(49.75, 6), exact: false, records: 1 },
    ]);
  });
});

describe('latencyReport and its notes', () => {
  test('the rows, each order (found or not), the table and the notes', () => {
    const store = createMetricStore();
    store.add(request());
    const report = latencyReport(store.points(), { pipeline: ['api', 'payments', 'shipping', 'notifier', 'reporter', 'report-job'], orderIds: ['a1', 'zz'] });
    expect(report.rows).toHaveLength(3);
    expect(report.orders.map((order: { orderId: string; ms?: number }) => [order.orderId, order.ms === undefined])).toEqual([
      ['a1', false],
      ['zz', true],
    ]);
    expect(report.table[2]).toMatch(/^api → payments/);
    expect(report.notes).toEqual(['payments → shipping (rabbitmq shipping): no processing time was recorded (e.g. an await-style pull, whose work has no end threadline can see)']);
  });

  test('MongoDB queue times from the ObjectId are whole seconds: said so', () => {
    const row = { producerService: 'notifier', consumerService: 'reporter', system: 'mongodb', destination: 'shop.outbox', timeSources: ['broker'], queue: { p50: 943 }, processing: { p50: 50 } };
    expect(latencyNotes([row])).toEqual([
      "notifier → reporter (mongodb shop.outbox): the queue time comes from the document's ObjectId, which holds whole seconds: it reads up to 1 s more than the real wait",
    ]);
    expect(latencyNotes([{ ...row, timeSources: ['carried'] }])).toEqual([]);
  });
});

describe('startMetricsReceiver', () => {
  test('takes OTLP/HTTP JSON on /v1/metrics, refuses protobuf and other paths', async () => {
    const receiver = await startMetricsReceiver();
    try {
      expect(receiver.endpoint).toBe(`${receiver.url}/v1/metrics`);
      const ok = await fetch(receiver.endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request()) });
      expect(ok.status).toBe(200);
      expect(receiver.store.points()).toHaveLength(8);
      const protobuf = await fetch(receiver.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: 'x' });
      expect(protobuf.status).toBe(415);
      const garbage = await fetch(receiver.endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
      expect(garbage.status).toBe(400);
      expect((await fetch(`${receiver.url}/v1/traces`, { method: 'POST', body: '{}' })).status).toBe(404);
      expect(receiver.stats()).toMatchObject({ requests: 1, points: 8, rejected: 2 });
    } finally {
      await receiver.close();
    }
  });
});
