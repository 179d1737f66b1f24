import { flattenTree, formatDuration, renderTree } from '../lib/render-tree.mjs';
import { renderHtml } from '../lib/render-html.mjs';
import { PIPELINE } from '../lib/verdict.mjs';
import { breakAt, pipelineTrace } from './synthetic';

describe('renderTree', () => {
  test('one line per span, indented under its parent, with kind, duration and a bar', () => {
    const spans = pipelineTrace('o1');
    const lines = renderTree(spans, { barWidth: 20 });
    expect(lines).toHaveLength(spans.length + 1); // + the time axis
    expect(lines[0]).toMatch(/^api\s+POST \/orders\s+SERVER\s+120\.0 ms {2}▕█{20}▏$/);
    expect(lines[1]).toMatch(/^api\s+└─ send orders\s+PRODUCER\s+110\.0 ms {2}▕ █{19}▏$/);
    expect(lines[2]).toMatch(/^payments\s+└─ process orders\s+CONSUMER/);
    expect(lines[11]).toMatch(/^report-job\s+ {30}└─ write report\s+INTERNAL\s+10\.0 ms {2}▕ {18}██▏$/);
    expect(lines.at(-1)).toMatch(/0\s+120\.0 ms$/);
  });

  test('siblings get ├─ and the last one └─', () => {
    const [root, child] = pipelineTrace('o1');
    const sibling = { ...child, spanId: 'abcabcabcabcabca', name: 'second', startTimeMs: child.startTimeMs + 1 };
    const rows = flattenTree([root, child, sibling]);
    expect(rows.map((row) => row.prefix + row.span.name)).toEqual(['POST /orders', '├─ send orders', '└─ second']);
  });

  test('orphans start their own tree and say so; links are listed', () => {
    const spans = breakAt(pipelineTrace('o1'), 'shipping', { link: true });
    const orphaned = { ...spans[6], parentSpanId: 'deadbeefdeadbeef' };
    const text = renderTree([...spans.slice(0, 6), orphaned]).join('\n');
    expect(text).toContain('⚠ parent deadbeef… never arrived');
    expect(text).toContain('↪ link to [payments] send payments');
  });

  test('colour codes only when asked', () => {
    expect(renderTree(pipelineTrace('o1')).join('')).not.toContain('\u001b[');
    expect(renderTree(pipelineTrace('o1'), { color: true }).join('')).toContain('\u001b[');
  });

  test('durations', () => {
    expect(formatDuration(0.123)).toBe('0.12 ms');
    expect(formatDuration(12.34)).toBe('12.3 ms');
    expect(formatDuration(1234)).toBe('1.23 s');
  });
});

describe('renderHtml', () => {
  const spans = pipelineTrace('o1');
  const html = renderHtml({
    title: 'order-pipeline',
    ok: true,
    summary: ['VERDICT: PASS'],
    services: PIPELINE,
    sections: [{ heading: 'order o1', ok: true, spans }],
  });

  test('is self-contained: no external scripts, styles, images or fonts', () => {
    expect(html).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=/i);
    expect(html).not.toMatch(/url\(|@import|https?:\/\//i);
  });

  test('embeds every span and draws bars from a script, not in the markup', () => {
    const json = /<script type="application\/json" id="trace-data">(.*?)<\/script>/s.exec(html)![1];
    const data = JSON.parse(json);
    expect(data.sections[0].rows.map((row: { spanId: string }) => row.spanId).sort()).toEqual(spans.map((span) => span.spanId).sort());
    expect(html).toContain(`data-span-count="${spans.length}"`);
    expect(html).not.toContain('class="bar');
  });

  test('attribute values cannot close the script element', () => {
    const hostile = [{ ...spans[0], attributes: { note: '</script><script>alert(1)</script>' }, name: '<b>x</b>' }];
    const page = renderHtml({ title: '<t>', ok: false, summary: [], sections: [{ heading: 'h', spans: hostile }] });
    expect(page.match(/<\/script>/g)).toHaveLength(2);
    expect(page).toContain('<title>&lt;t&gt;</title>');
  });

  test('empty sections are left out', () => {
    const page = renderHtml({ title: 't', ok: false, summary: [], sections: [{ heading: 'empty', spans: [] }] });
    expect(page).toContain('data-span-count="0"');
  });

  test('the latency table from the metrics: the same rows and orders the terminal prints, escaped', () => {
    const latency = {
      rows: [
        { producerService: 'api', consumerService: 'payments', system: 'kafka', destination: 'orders', messages: 3, queue: { p50: 9, p99: 19.7 }, processing: { p50: 2.5, p99: 3.97 } },
        { producerService: 'payments', consumerService: 'shipping', system: 'rabbitmq', destination: '<q>', messages: 1, queue: { p50: 37.5, p99: 49.75 } },
      ],
      orders: [
        { orderId: 'a1', ms: 4200, exact: true },
        { orderId: 'b2', ms: undefined, exact: false },
      ],
    };
    const page = renderHtml({ title: 't', ok: true, summary: [], sections: [{ heading: 'h', spans }], latency });
    expect(page).toContain('<h2>Where the time goes');
    expect(page).toContain('<tr><td>api → payments (kafka orders)</td><td class="num">9.00 ms</td><td class="num">19.7 ms</td><td class="num">2.50 ms</td><td class="num">3.97 ms</td><td class="num">3</td></tr>');
    expect(page).toContain('<td>payments → shipping (rabbitmq &lt;q&gt;)</td><td class="num">37.5 ms</td><td class="num">49.8 ms</td><td class="num">–</td><td class="num">–</td><td class="num">1</td>');
    expect(page).toContain('order <strong>a1</strong>: 4.20 s end to end</li>');
    expect(page).toContain('order <strong>b2</strong>: no end-to-end latency arrived</li>');
    expect(page).not.toMatch(/url\(|@import|https?:\/\//i);
    expect(renderHtml({ title: 't', ok: true, summary: [], sections: [], latency: { rows: [], orders: [] } })).toContain('No threadline metrics arrived over OTLP.');
    expect(html).not.toContain('Where the time goes');
  });
});
