// Decides whether every order became one unbroken trace, and if not, names the hop that broke.
// Works on the flat spans @threadline/testing's collector returns; no I/O, so it is unit-tested on
// synthetic spans.

/** The processes an order passes through, in order. */
export const PIPELINE = ['api', 'payments', 'shipping', 'notifier', 'reporter', 'report-job'];

/** The attribute each service puts on its span to say which order it worked on. */
export const ORDER_ATTRIBUTE = 'order.id';

const OUTBOUND_KINDS = new Set(['PRODUCER', 'CLIENT']);

export const shortId = (id) => (id ? `${id.slice(0, 8)}…` : 'none');

export function describeSpan(span) {
  return `[${span.serviceName}] ${span.name} (${span.kind})`;
}

function groupByTrace(spans) {
  const traces = new Map();
  for (const span of spans) {
    if (!traces.has(span.traceId)) traces.set(span.traceId, []);
    traces.get(span.traceId).push(span);
  }
  return traces;
}

/** Spans of `spans` whose parent is not among them: the roots and the orphans. */
export function topSpans(spans) {
  const ids = new Set(spans.map((span) => span.spanId));
  return spans.filter((span) => span.parentSpanId === undefined || !ids.has(span.parentSpanId));
}

/** Spans that name a parent which never arrived. */
export function orphanSpans(spans) {
  return topSpans(spans).filter((span) => span.parentSpanId !== undefined);
}

/** Parent → child edges that cross from one service to the next: the hops the trace survived. */
export function serviceHops(spans) {
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  const hops = [];
  for (const child of [...spans].sort((a, b) => a.startTimeMs - b.startTimeMs)) {
    const parent = child.parentSpanId === undefined ? undefined : byId.get(child.parentSpanId);
    if (parent !== undefined && parent.serviceName !== child.serviceName) hops.push({ from: parent, to: child });
  }
  return hops;
}

/** The span through which `service` handed the order on: its last PRODUCER/CLIENT span, else its last span. */
function handOffSpan(spans, service) {
  const own = spans.filter((span) => span.serviceName === service).sort((a, b) => a.startTimeMs - b.startTimeMs);
  const outbound = own.filter((span) => OUTBOUND_KINDS.has(span.kind));
  return (outbound.length > 0 ? outbound : own).at(-1);
}

/**
 * The job of an order is finished when a `lastService` span for it arrived together with its
 * process's entry span (the chain of parents reaches a span of another service, or a root).
 */
export function orderFinished(spans, orderId, lastService = PIPELINE.at(-1)) {
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  const marked = spans.filter((span) => span.serviceName === lastService && span.attributes[ORDER_ATTRIBUTE] === orderId);
  return marked.some((span) => {
    let current = span;
    for (let guard = 0; guard < 1000; guard++) {
      if (current.parentSpanId === undefined) return true;
      const parent = byId.get(current.parentSpanId);
      if (parent === undefined) return false;
      if (parent.serviceName !== lastService) return true;
      current = parent;
    }
    return false;
  });
}

/**
 * Assigns traces to orders. An order's trace is the one its `api` span is in (or the trace id the API
 * returned). Other traces belong to the order when a span carries its `order.id` or links into its
 * trace; with a single order, traces that name no order at all are counted as its too.
 */
function attributeTraces(spans, orders, pipeline) {
  const traces = groupByTrace(spans);
  const orderIds = new Set(orders.map((order) => order.id));
  const result = new Map(orders.map((order) => [order.id, { mainTraceId: undefined, otherTraceIds: [] }]));
  const claimed = new Set();

  for (const order of orders) {
    const entry = result.get(order.id);
    const first = spans.find((span) => span.serviceName === pipeline[0] && span.attributes[ORDER_ATTRIBUTE] === order.id);
    entry.mainTraceId = order.traceId ?? first?.traceId;
    if (entry.mainTraceId !== undefined) claimed.add(entry.mainTraceId);
  }

  const unattributed = [];
  const earlier = [];
  for (const [traceId, traceSpans] of traces) {
    if (claimed.has(traceId)) continue;
    const named = new Set(traceSpans.map((span) => span.attributes[ORDER_ATTRIBUTE]).filter((id) => id !== undefined));
    const owners = orders.filter(
      (order) =>
        named.has(order.id) ||
        traceSpans.some((span) => span.links.some((link) => link.traceId === result.get(order.id).mainTraceId)),
    );
    if (owners.length > 0) {
      for (const owner of owners) result.get(owner.id).otherTraceIds.push(traceId);
    } else if (named.size > 0 && [...named].every((id) => !orderIds.has(id))) {
      earlier.push(traceId);
    } else if (orders.length === 1) {
      result.get(orders[0].id).otherTraceIds.push(traceId);
    } else {
      unattributed.push(traceId);
    }
  }
  return { traces, result, unattributed, earlier };
}

function breakProblem(order, mainSpans, otherSpans, pipeline) {
  const present = new Set(mainSpans.map((span) => span.serviceName));
  const problems = [];
  const firstMissing = pipeline.findIndex((service) => !present.has(service));
  if (firstMissing === -1) return problems;
  if (firstMissing === 0) {
    problems.push({
      type: 'missing-root',
      service: pipeline[0],
      message: `no ${pipeline[0]} span for order ${order.id}: the order never started a trace`,
    });
    return problems;
  }
  const upstream = pipeline[firstMissing - 1];
  const downstream = pipeline[firstMissing];
  const laterJoined = pipeline.slice(firstMissing + 1).filter((service) => present.has(service));
  if (laterJoined.length > 0) {
    // Context went through (later services joined) but this service left no spans in the trace.
    for (const service of pipeline.slice(firstMissing).filter((name) => !present.has(name))) {
      problems.push({
        type: 'missing-service',
        service,
        message: `${service} has no span in the trace although ${laterJoined.join(', ')} joined it (spans not exported, or propagation-only?)`,
      });
    }
    return problems;
  }
  const handOff = handOffSpan(mainSpans, upstream);
  const elsewhere = otherSpans.filter((span) => span.serviceName === downstream);
  let detail;
  if (elsewhere.length > 0) {
    const top = topSpans(elsewhere).sort((a, b) => a.startTimeMs - b.startTimeMs)[0] ?? elsewhere[0];
    const linked = elsewhere.some((span) => span.links.some((link) => link.traceId === mainSpans[0]?.traceId));
    detail =
      `${downstream} started a new trace ${shortId(top.traceId)} (its span ${top.name} ` +
      (linked ? 'links to the order’s trace instead of continuing it' : 'has no parent from the message') +
      ')';
  } else {
    detail = `${downstream} left no span for this order (did it receive it? see its log)`;
  }
  problems.push({
    type: 'broken-hop',
    from: upstream,
    fromSpan: handOff?.name,
    to: downstream,
    message: `trace breaks between ${upstream}${handOff ? ` (${handOff.name})` : ''} and ${downstream}: ${detail}`,
  });
  return problems;
}

/**
 * The verdict for every order.
 * @param {{ spans: object[], orders: { id: string, traceId?: string }[], pipeline?: string[] }} input
 */
export function judge({ spans, orders, pipeline = PIPELINE }) {
  const { traces, result, unattributed, earlier } = attributeTraces(spans, orders, pipeline);
  const verdicts = orders.map((order) => {
    const { mainTraceId, otherTraceIds } = result.get(order.id);
    const mainSpans = mainTraceId === undefined ? [] : (traces.get(mainTraceId) ?? []);
    const otherSpans = otherTraceIds.flatMap((traceId) => traces.get(traceId));
    const services = [...new Set(mainSpans.map((span) => span.serviceName))];
    const problems = breakProblem(order, mainSpans, otherSpans, pipeline);
    for (const orphan of orphanSpans(mainSpans)) {
      problems.push({
        type: 'orphan',
        service: orphan.serviceName,
        spanId: orphan.spanId,
        message: `orphan span ${describeSpan(orphan)}: its parent ${shortId(orphan.parentSpanId)} never arrived`,
      });
    }
    if (otherTraceIds.length > 0 && !problems.some((problem) => problem.type === 'broken-hop')) {
      problems.push({
        type: 'split',
        message: `order ${order.id} is spread over ${otherTraceIds.length + 1} traces: ${[mainTraceId, ...otherTraceIds].map(shortId).join(', ')}`,
      });
    }
    return {
      orderId: order.id,
      traceId: mainTraceId,
      ok: problems.length === 0 && pipeline.every((service) => services.includes(service)),
      services,
      spans: mainSpans,
      otherSpans,
      traceCount: (mainTraceId === undefined ? 0 : 1) + otherTraceIds.length,
      hops: serviceHops(mainSpans),
      problems,
    };
  });
  const unattributedSpans = unattributed.flatMap((traceId) => traces.get(traceId));
  const strayOrphans = orphanSpans(unattributedSpans);
  return {
    ok: verdicts.length > 0 && verdicts.every((verdict) => verdict.ok) && strayOrphans.length === 0,
    orders: verdicts,
    unattributedSpans,
    strayOrphans,
    earlierRunSpans: earlier.flatMap((traceId) => traces.get(traceId)),
    pipeline,
  };
}

/** Human-readable lines for the verdict. */
export function formatVerdict(verdict) {
  const lines = [];
  const expected = verdict.pipeline.length;
  for (const order of verdict.orders) {
    if (order.ok) {
      lines.push(
        `✔ order ${order.orderId}: one trace ${order.traceId}, ${order.services.length}/${expected} services, ${order.spans.length} spans, no orphans`,
      );
    } else {
      lines.push(`✖ order ${order.orderId}: ${order.traceCount} trace(s), ${order.services.length}/${expected} services in ${shortId(order.traceId)}`);
      for (const problem of order.problems) lines.push(`    ${problem.message}`);
    }
  }
  if (verdict.unattributedSpans.length > 0) {
    lines.push(`! ${verdict.unattributedSpans.length} spans in traces that belong to no order: ${[...new Set(verdict.unattributedSpans.map(describeSpan))].join(', ')}`);
  }
  for (const orphan of verdict.strayOrphans) {
    lines.push(`✖ orphan span ${describeSpan(orphan)} in no order's trace: its parent ${shortId(orphan.parentSpanId)} never arrived`);
  }
  if (verdict.earlierRunSpans.length > 0) {
    lines.push(`· not judged: ${verdict.earlierRunSpans.length} spans of orders from an earlier, interrupted run (their messages were still queued)`);
  }
  const good = verdict.orders.filter((order) => order.ok).length;
  lines.push(
    verdict.ok
      ? `VERDICT: PASS — ${good}/${verdict.orders.length} orders, each exactly one trace across all ${expected} processes`
      : `VERDICT: FAIL — ${good}/${verdict.orders.length} orders came through as one unbroken trace`,
  );
  return lines;
}
