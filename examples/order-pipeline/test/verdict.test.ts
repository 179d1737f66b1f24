import { formatVerdict, judge, orderFinished, PIPELINE, serviceHops } from '../lib/verdict.mjs';
import { breakAt, id, pipelineTrace, STEPS } from './synthetic';

describe('judge', () => {
  test('a healthy order is one trace over all six services', () => {
    const spans = pipelineTrace('o1');
    const verdict = judge({ spans, orders: [{ id: 'o1' }] });
    expect(verdict.ok).toBe(true);
    expect(verdict.orders[0].traceId).toBe(spans[0].traceId);
    expect(verdict.orders[0].services).toEqual(PIPELINE);
    expect(verdict.orders[0].problems).toEqual([]);
    expect(formatVerdict(verdict).at(-1)).toMatch(/^VERDICT: PASS/);
  });

  test('the five service hops are found in pipeline order', () => {
    const hops = serviceHops(pipelineTrace('o1'));
    expect(hops.map((hop) => `${hop.from.serviceName}:${hop.from.name} -> ${hop.to.serviceName}:${hop.to.name}`)).toEqual([
      'api:send orders -> payments:process orders',
      'payments:send payments -> shipping:process shipping',
      'shipping:send shipments -> notifier:process shipments',
      'notifier:send shop.outbox -> reporter:process shop.outbox',
      'reporter:create job report-x -> report-job:run report-x',
    ]);
  });

  test.each([
    ['payments', 'api', 'send orders'],
    ['shipping', 'payments', 'send payments'],
    ['notifier', 'shipping', 'send shipments'],
    ['reporter', 'notifier', 'send shop.outbox'],
    ['report-job', 'reporter', 'create job report-x'],
  ])('a break before %s names the hop from %s (%s)', (downstream, upstream, handOff) => {
    const spans = breakAt(pipelineTrace('o1'), downstream);
    const verdict = judge({ spans, orders: [{ id: 'o1' }] });
    expect(verdict.ok).toBe(false);
    const [problem] = verdict.orders[0].problems;
    expect(problem.type).toBe('broken-hop');
    expect(problem.message).toContain(`trace breaks between ${upstream} (${handOff}) and ${downstream}`);
    expect(problem.message).toContain('started a new trace');
    expect(verdict.orders[0].traceCount).toBe(2);
    expect(formatVerdict(verdict).join('\n')).toContain(`trace breaks between ${upstream} (${handOff}) and ${downstream}`);
  });

  test('the trace id the API returned wins over attribute search', () => {
    const spans = pipelineTrace('o1');
    const verdict = judge({ spans, orders: [{ id: 'o1', traceId: 'f'.repeat(32) }] });
    expect(verdict.ok).toBe(false);
    expect(verdict.orders[0].problems[0].message).toMatch(/no api span for order o1/);
  });

  test('a consumer that links instead of continuing is reported as a link', () => {
    const spans = breakAt(pipelineTrace('o1'), 'notifier', { link: true });
    const verdict = judge({ spans, orders: [{ id: 'o1' }] });
    expect(verdict.orders[0].problems[0].message).toMatch(
      /trace breaks between shipping \(send shipments\) and notifier: .*links to the order’s trace instead of continuing it/,
    );
  });

  test('a service that left no span at all is named', () => {
    const spans = pipelineTrace('o1').filter((span) => !['reporter', 'report-job'].includes(span.serviceName));
    const verdict = judge({ spans, orders: [{ id: 'o1' }] });
    expect(verdict.orders[0].problems).toHaveLength(1);
    expect(verdict.orders[0].problems[0].message).toBe(
      'trace breaks between notifier (send shop.outbox) and reporter: reporter left no span for this order (did it receive it? see its log)',
    );
  });

  test('a span whose parent never arrived is an orphan and fails the order', () => {
    const spans = pipelineTrace('o1');
    const lost = spans.find((span) => span.name === 'send shipments')!;
    const verdict = judge({ spans: spans.filter((span) => span !== lost), orders: [{ id: 'o1' }] });
    expect(verdict.ok).toBe(false);
    expect(verdict.orders[0].services).toEqual(PIPELINE);
    expect(verdict.orders[0].problems.map((problem) => problem.message)).toEqual([
      `orphan span [notifier] process shipments (CONSUMER): its parent ${lost.spanId.slice(0, 8)}… never arrived`,
    ]);
  });

  test('a service missing in the middle while later ones joined is not called a break', () => {
    const spans = pipelineTrace('o1').filter((span) => span.serviceName !== 'shipping');
    // re-parent notifier onto payments, as a propagation-only shipping would leave it
    const payments = spans.find((span) => span.name === 'send payments')!;
    spans.find((span) => span.name === 'process shipments')!.parentSpanId = payments.spanId;
    const verdict = judge({ spans, orders: [{ id: 'o1' }] });
    expect(verdict.ok).toBe(false);
    expect(verdict.orders[0].problems).toHaveLength(1);
    expect(verdict.orders[0].problems[0].message).toMatch(/^shipping has no span in the trace although notifier, reporter, report-job joined it/);
  });

  test('with several orders, the broken one is named and the others pass', () => {
    const good = pipelineTrace('a1');
    const bad = breakAt(pipelineTrace('b2'), 'shipping');
    const verdict = judge({ spans: [...good, ...bad], orders: [{ id: 'a1' }, { id: 'b2' }] });
    expect(verdict.ok).toBe(false);
    expect(verdict.orders[0].ok).toBe(true);
    expect(verdict.orders[1].ok).toBe(false);
    expect(verdict.orders[1].problems[0].message).toContain('trace breaks between payments (send payments) and shipping');
    expect(verdict.unattributedSpans).toEqual([]);
  });

  test('two orders in one trace are both one trace, but a third trace naming an order splits it', () => {
    const spans = pipelineTrace('a1');
    const extra = { ...spans[2], traceId: id(32), spanId: id(16), parentSpanId: undefined };
    const verdict = judge({ spans: [...spans, extra], orders: [{ id: 'a1' }] });
    expect(verdict.ok).toBe(false);
    expect(verdict.orders[0].problems[0].type).toBe('split');
  });

  test('spans of orders from an earlier run are ignored', () => {
    const old = pipelineTrace('old').slice(2); // the api span is gone: payments picked up a stale message
    const verdict = judge({ spans: [...pipelineTrace('new'), ...old], orders: [{ id: 'new' }] });
    expect(verdict.ok).toBe(true);
    expect(verdict.earlierRunSpans).toHaveLength(old.length);
  });

  test('an orphan in no order’s trace fails the verdict', () => {
    const stray = { ...pipelineTrace('x')[4], traceId: id(32), attributes: {} };
    const verdict = judge({ spans: [...pipelineTrace('a1'), ...pipelineTrace('b2'), stray], orders: [{ id: 'a1' }, { id: 'b2' }] });
    expect(verdict.orders.every((order) => order.ok)).toBe(true);
    expect(verdict.ok).toBe(false);
    expect(formatVerdict(verdict).join('\n')).toContain('orphan span [shipping] process shipping (CONSUMER) in no order');
  });

  test('no orders means no pass', () => {
    expect(judge({ spans: [], orders: [] }).ok).toBe(false);
  });
});

describe('orderFinished', () => {
  test('waits for the job process’s entry span, then is done', () => {
    const spans = pipelineTrace('o1');
    const withoutRun = spans.filter((span) => span.name !== 'run report-x');
    expect(orderFinished(withoutRun, 'o1')).toBe(false);
    expect(orderFinished(spans, 'o1')).toBe(true);
    expect(orderFinished(spans, 'other')).toBe(false);
  });

  test('is done for a job whose trace broke, once its root arrived', () => {
    const spans = breakAt(pipelineTrace('o1'), 'report-job');
    expect(orderFinished(spans, 'o1')).toBe(true);
  });

  test('a job span with no order attribute does not finish anything', () => {
    const spans = pipelineTrace('o1').map((span) => ({ ...span, attributes: {} }));
    expect(orderFinished(spans, 'o1')).toBe(false);
    expect(STEPS.at(-1)![0]).toBe('report-job');
  });
});
