// The HTML waterfall in a real browser: Debian's chromium runs the page's script and the DOM it
// leaves behind must hold one bar per span. (demo.test.ts does the same with a real run's page.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderHtml } from '../lib/render-html.mjs';
import { PIPELINE } from '../lib/verdict.mjs';
import { chromiumPath, dumpDom, renderedBars } from './helpers';
import { breakAt, pipelineTrace } from './synthetic';

jest.setTimeout(90000);

test('chromium is installed', () => {
  expect(chromiumPath()).toMatch(/chromium/);
});

test('every span is drawn as a bar, with the verdict, the problems and the links', () => {
  const good = pipelineTrace('a1');
  const broken = breakAt(pipelineTrace('b2'), 'shipping', { link: true });
  const sections = [
    { heading: 'order a1', ok: true, spans: good },
    { heading: 'order b2', ok: false, problems: ['trace breaks between payments (send payments) and shipping'], spans: broken.filter((s) => s.traceId === broken[0].traceId) },
    { heading: 'order b2 · another trace', ok: false, spans: broken.filter((s) => s.traceId !== broken[0].traceId) },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'order-pipeline-html-'));
  try {
    const file = join(dir, 'trace.html');
    const latency = {
      rows: [{ producerService: 'api', consumerService: 'payments', system: 'kafka', destination: 'orders', messages: 2, queue: { p50: 9, p99: 19.7 }, processing: { p50: 2.5, p99: 3.97 } }],
      orders: [{ orderId: 'a1', ms: 4200, exact: true }],
    };
    writeFileSync(file, renderHtml({ title: 'synthetic', ok: false, summary: ['VERDICT: FAIL — 1/2'], services: PIPELINE, sections, latency }));
    const dom = dumpDom(file);
    const bars = renderedBars(dom);
    expect(bars.sort()).toEqual([...good, ...broken].map((span) => span.spanId).sort());
    expect(dom).toContain(`data-rendered="${good.length + broken.length}"`);
    expect(dom).toContain('VERDICT: FAIL — 1/2');
    expect(dom).toContain('trace breaks between payments (send payments) and shipping');
    expect(dom).toContain('[shipping] process shipping ↪ links to [payments] send payments');
    expect(dom.match(/<section class="trace">/g)).toHaveLength(3);
    // The metrics table sits in the markup, above the waterfalls.
    expect(dom).toContain('<td>api → payments (kafka orders)</td><td class="num">9.00 ms</td>');
    expect(dom.indexOf('class="latency-table"')).toBeLessThan(dom.indexOf('<section class="trace">'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
