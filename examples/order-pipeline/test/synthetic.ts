// Synthetic spans shaped like the pipeline's real ones, for the unit tests.
export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: string;
  serviceName: string;
  scope: string;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string; attributes: Record<string, unknown> }[];
  events: never[];
  status: { code: string; message?: string };
  startTimeMs: number;
  endTimeMs: number;
}

let counter = 0;
export const id = (length: number) => (++counter).toString(16).padStart(length, '0');

/** [service, span name, kind, tags the order?] per step, parents chain in this order. */
export const STEPS: [string, string, string, boolean][] = [
  ['api', 'POST /orders', 'SERVER', true],
  ['api', 'send orders', 'PRODUCER', false],
  ['payments', 'process orders', 'CONSUMER', true],
  ['payments', 'send payments', 'PRODUCER', false],
  ['shipping', 'process shipping', 'CONSUMER', true],
  ['shipping', 'send shipments', 'PRODUCER', false],
  ['notifier', 'process shipments', 'CONSUMER', true],
  ['notifier', 'send shop.outbox', 'PRODUCER', false],
  ['reporter', 'process shop.outbox', 'CONSUMER', true],
  ['reporter', 'create job report-x', 'PRODUCER', false],
  ['report-job', 'run report-x', 'CONSUMER', false],
  ['report-job', 'write report', 'INTERNAL', true],
];

/** One order's healthy trace: every step the child of the one before. */
export function pipelineTrace(orderId: string, start = 1_700_000_000_000): Span[] {
  const traceId = id(32);
  const spans: Span[] = [];
  STEPS.forEach(([serviceName, name, kind, tagged], i) => {
    const parent = spans[i - 1];
    spans.push({
      traceId,
      spanId: id(16),
      parentSpanId: parent?.spanId,
      name,
      kind,
      serviceName,
      scope: 'test',
      attributes: tagged ? { 'order.id': orderId } : {},
      links: [],
      events: [],
      status: { code: 'UNSET' },
      startTimeMs: start + i * 10,
      endTimeMs: start + i * 10 + (STEPS.length - i) * 10,
    });
  });
  return spans;
}

/**
 * Breaks the trace where `service`'s first span should have continued it: that span and everything
 * after it move to a new trace; with `link`, the new root links to the old parent instead.
 */
export function breakAt(spans: Span[], service: string, options: { link?: boolean } = {}): Span[] {
  const at = spans.findIndex((span) => span.serviceName === service);
  const newTrace = id(32);
  const oldParent = spans[at - 1];
  return spans.map((span, i) => {
    if (i < at) return span;
    const moved = { ...span, traceId: newTrace };
    if (i === at) {
      delete moved.parentSpanId;
      moved.links = options.link ? [{ traceId: oldParent.traceId, spanId: oldParent.spanId, attributes: {} }] : [];
    }
    return moved;
  });
}
