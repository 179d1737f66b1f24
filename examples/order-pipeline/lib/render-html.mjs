// A self-contained HTML waterfall of the demo's traces: inline CSS and JS, the spans embedded as
// JSON, no network loads. The page's script draws one `.bar` element per span.
import { formatMs, hopLabel } from './otlp-metrics.mjs';
import { flattenTree, formatDuration, serviceIndex } from './render-tree.mjs';

const PALETTE = ['#1f9bd1', '#e0a21b', '#b04fd6', '#2fa84f', '#3f5fe0', '#e0483b', '#14b8a6', '#d9467f', '#7c8b1f', '#8d5a3b'];

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]);

/** JSON that is safe inside a <script> element. */
const scriptJson = (value) => JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

function sectionData(section) {
  const start = Math.min(...section.spans.map((span) => span.startTimeMs));
  const end = Math.max(...section.spans.map((span) => span.endTimeMs));
  return {
    heading: section.heading,
    ok: section.ok,
    problems: section.problems ?? [],
    totalMs: Math.max(end - start, 0.001),
    rows: flattenTree(section.spans).map(({ span, depth, orphan }) => ({
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: span.parentSpanId ?? null,
      service: span.serviceName,
      name: span.name,
      kind: span.kind,
      depth,
      orphan,
      offsetMs: span.startTimeMs - start,
      durationMs: span.endTimeMs - span.startTimeMs,
      duration: formatDuration(span.endTimeMs - span.startTimeMs),
      status: span.status,
      attributes: span.attributes,
      links: span.links.map((link) => ({ traceId: link.traceId, spanId: link.spanId })),
    })),
  };
}

/** The per-hop table and the per-order end to end, from the metrics (see lib/otlp-metrics.mjs latencyReport). */
function latencyHtml(latency) {
  if (latency === undefined) return '';
  const cell = (text, className = '') => `<td${className ? ` class="${className}"` : ''}>${escapeHtml(text)}</td>`;
  const body =
    latency.rows.length === 0
      ? '<p class="latency-none">No threadline metrics arrived over OTLP.</p>'
      : `<table class="latency-table">
<thead><tr><th>hop</th><th>queue p50</th><th>queue p99</th><th>processing p50</th><th>processing p99</th><th>messages</th></tr></thead>
<tbody>
${latency.rows
  .map((row) => `<tr>${cell(hopLabel(row))}${[formatMs(row.queue?.p50), formatMs(row.queue?.p99), formatMs(row.processing?.p50), formatMs(row.processing?.p99), String(row.messages)].map((text) => cell(text, 'num')).join('')}</tr>`)
  .join('\n')}
</tbody>
</table>
<ul class="latency-orders">
${latency.orders.map((order) => `<li>order <strong>${escapeHtml(order.orderId)}</strong>: ${escapeHtml(order.ms === undefined ? 'no end-to-end latency arrived' : `${formatMs(order.ms)} end to end${order.exact ? '' : ' (interpolated)'}`)}</li>`).join('\n')}
</ul>
${(latency.notes ?? []).map((note) => `<p class="latency-note">${escapeHtml(note)}</p>`).join('\n')}
<p class="latency-note">queue: threadline.messaging.queue.time · processing: messaging.process.duration · messages: messaging.client.consumed.messages · end to end: threadline.pipeline.duration from the api's send to the order's report job. p50/p99 are interpolated inside the histogram buckets, within each histogram's min and max.</p>`;
  return `<section class="latency" id="latency">
<h2>Where the time goes <span class="info">from the metrics the services sent over OTLP</span></h2>
${body}
</section>
`;
}

/**
 * @param {{ title: string, generatedAt?: string, ok: boolean, summary: string[], services?: string[],
 *   sections: { heading: string, ok?: boolean, problems?: string[], spans: object[] }[],
 *   latency?: { rows: object[], orders: { orderId: string, ms?: number, exact: boolean }[] } }} report
 * @returns {string} the HTML document
 */
export function renderHtml(report) {
  const sections = report.sections.filter((section) => section.spans.length > 0).map(sectionData);
  const services = [...serviceIndex(sections.flatMap((section) => section.rows.map((row) => row.service)), report.services ?? []).keys()];
  const colours = Object.fromEntries(services.map((service, i) => [service, PALETTE[i % PALETTE.length]]));
  const data = { title: report.title, ok: report.ok, summary: report.summary, colours, sections };
  const spanCount = sections.reduce((n, section) => n + section.rows.length, 0);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${escapeHtml(report.title)}</title>
<style>
  :root { --bg: #fff; --fg: #1d2330; --muted: #6b7385; --grid: #eceff4; --ok: #2fa84f; --bad: #d63b2f; }
  * { box-sizing: border-box; }
  body { margin: 0; padding: 24px 28px 60px; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .meta { color: var(--muted); margin-bottom: 12px; }
  .verdict { padding: 10px 14px; border-radius: 6px; margin: 12px 0 18px; font-family: ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap; }
  .verdict.ok { background: #eaf7ee; border: 1px solid #b7e2c3; }
  .verdict.bad { background: #fdecea; border: 1px solid #f3b9b3; }
  .legend { display: flex; flex-wrap: wrap; gap: 6px 14px; margin-bottom: 16px; }
  .legend span { display: inline-flex; align-items: center; gap: 6px; }
  .swatch { width: 12px; height: 12px; border-radius: 3px; display: inline-block; }
  section.trace { margin-bottom: 28px; border: 1px solid var(--grid); border-radius: 8px; overflow: hidden; }
  section.trace > header { padding: 8px 12px; background: #f6f7fa; border-bottom: 1px solid var(--grid); display: flex; gap: 10px; align-items: baseline; }
  section.trace > header .state { font-weight: 600; }
  section.trace > header .state.ok { color: var(--ok); }
  section.trace > header .state.bad { color: var(--bad); }
  .problems { margin: 0; padding: 6px 12px 6px 30px; color: var(--bad); background: #fff7f6; border-bottom: 1px solid var(--grid); }
  .row, .axis { display: grid; grid-template-columns: minmax(280px, 38%) 1fr; align-items: center; }
  .row { height: 24px; border-bottom: 1px solid #f4f5f8; }
  .row:hover, .row.linked { background: #f3f6ff; }
  .row.linked { outline: 2px solid #8fa6ff; outline-offset: -2px; }
  .label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; padding: 0 8px; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
  .label .svc { display: inline-block; min-width: 74px; padding: 0 5px; margin-right: 6px; border-radius: 3px; color: #fff; font-size: 11px; }
  .label .kind { color: var(--muted); font-size: 10px; margin-left: 6px; }
  .label .warn { color: var(--bad); margin-left: 6px; }
  .lane { position: relative; height: 100%; background-image: linear-gradient(to right, var(--grid) 1px, transparent 1px); background-size: 10% 100%; }
  .bar { position: absolute; top: 5px; height: 14px; min-width: 2px; border-radius: 3px; cursor: default; }
  .bar.error { outline: 2px solid var(--bad); }
  .bar .dur { position: absolute; left: calc(100% + 4px); top: -1px; font-size: 10px; color: var(--muted); white-space: nowrap; }
  .bar.late .dur { left: auto; right: calc(100% + 4px); }
  .bar.wide .dur { left: auto; right: 4px; color: #fff; }
  .label .link { color: #3f5fe0; margin-left: 6px; }
  section.trace > header .info { color: var(--muted); }
  .axis { height: 20px; color: var(--muted); font-size: 10px; border-bottom: 1px solid var(--grid); }
  .axis .ticks { position: relative; height: 100%; }
  .axis .ticks span { position: absolute; top: 3px; transform: translateX(-50%); white-space: nowrap; }
  .links { margin: 0; padding: 6px 12px 8px 30px; color: var(--muted); font-size: 12px; }
  section.latency { margin: 0 0 18px; }
  section.latency h2 { font-size: 15px; margin: 0 0 6px; }
  section.latency h2 .info, .latency-note { color: var(--muted); font-weight: normal; font-size: 12px; }
  .latency-table { border-collapse: collapse; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
  .latency-table th, .latency-table td { padding: 3px 10px; border-bottom: 1px solid var(--grid); text-align: left; }
  .latency-table td.num, .latency-table th:not(:first-child) { text-align: right; }
  .latency-orders { margin: 8px 0; padding-left: 20px; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
  #tooltip { position: fixed; pointer-events: none; display: none; max-width: 520px; background: #1d2330; color: #f2f4f8; padding: 8px 10px; border-radius: 6px; font-size: 12px; box-shadow: 0 4px 18px rgba(0,0,0,.25); z-index: 10; }
  #tooltip table { border-collapse: collapse; margin-top: 4px; }
  #tooltip td { padding: 0 8px 0 0; vertical-align: top; font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
  #tooltip td:first-child { color: #a9b3c7; white-space: nowrap; }
</style>
</head>
<body data-span-count="${spanCount}">
<h1>${escapeHtml(report.title)}</h1>
<div class="meta">${escapeHtml(report.generatedAt ?? '')} · ${sections.length} trace(s) · ${spanCount} spans · hover a bar for details</div>
<noscript><p>This page draws the waterfall with an inline script; enable JavaScript to see it.</p></noscript>
${latencyHtml(report.latency)}<div id="app"></div>
<div id="tooltip"></div>
<script type="application/json" id="trace-data">${scriptJson(data)}</script>
<script>
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('trace-data').textContent);
  var app = document.getElementById('app');
  var tooltip = document.getElementById('tooltip');
  var rowsBySpan = {};
  var rowData = {};

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(ms) { return ms < 1 ? ms.toFixed(2) + ' ms' : ms < 1000 ? ms.toFixed(1) + ' ms' : (ms / 1000).toFixed(2) + ' s'; }
  function describe(link) {
    var target = rowData[link.spanId];
    return target ? '[' + target.service + '] ' + target.name : 'span ' + link.spanId.slice(0, 8) + '… (trace ' + link.traceId.slice(0, 8) + '…)';
  }

  var verdict = el('div', 'verdict ' + (data.ok ? 'ok' : 'bad'), data.summary.join('\\n'));
  app.appendChild(verdict);
  var legend = el('div', 'legend');
  Object.keys(data.colours).forEach(function (service) {
    var item = el('span');
    var swatch = el('i', 'swatch');
    swatch.style.background = data.colours[service];
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(service));
    legend.appendChild(item);
  });
  app.appendChild(legend);

  data.sections.forEach(function (section) {
    section.rows.forEach(function (row) { rowData[row.spanId] = row; });
  });

  data.sections.forEach(function (section) {
    var box = el('section', 'trace');
    var header = el('header');
    header.appendChild(el('span', 'state ' + (section.ok === false ? 'bad' : 'ok'), section.ok === false ? '✖' : '✔'));
    header.appendChild(el('strong', '', section.heading));
    header.appendChild(el('span', 'info', section.rows.length + ' spans · ' + fmt(section.totalMs)));
    box.appendChild(header);
    if (section.problems.length) {
      var list = el('ul', 'problems');
      section.problems.forEach(function (problem) { list.appendChild(el('li', '', problem)); });
      box.appendChild(list);
    }
    var axis = el('div', 'axis');
    axis.appendChild(el('div', 'label', 'service · span'));
    var ticks = el('div', 'ticks');
    for (var t = 0; t <= 10; t += 2) {
      var tick = el('span', '', fmt((section.totalMs * t) / 10));
      tick.style.left = (t * 10) + '%';
      if (t === 10) tick.style.transform = 'translateX(-100%)';
      if (t === 0) tick.style.transform = 'none';
      ticks.appendChild(tick);
    }
    axis.appendChild(ticks);
    box.appendChild(axis);

    var linkLines = [];
    section.rows.forEach(function (row) {
      var line = el('div', 'row');
      line.dataset.spanId = row.spanId;
      var label = el('div', 'label');
      label.style.paddingLeft = (8 + row.depth * 14) + 'px';
      var svc = el('span', 'svc', row.service);
      svc.style.background = data.colours[row.service];
      label.appendChild(svc);
      label.appendChild(document.createTextNode(row.name));
      label.appendChild(el('span', 'kind', row.kind));
      if (row.orphan) label.appendChild(el('span', 'warn', '⚠ parent missing'));
      if (row.status.code === 'ERROR') label.appendChild(el('span', 'warn', '✖ error'));
      line.appendChild(label);
      var lane = el('div', 'lane');
      var share = row.durationMs / section.totalMs;
      var place = share > 0.2 ? ' wide' : (row.offsetMs + row.durationMs) / section.totalMs > 0.85 ? ' late' : '';
      var bar = el('div', 'bar' + (row.status.code === 'ERROR' ? ' error' : '') + place);
      bar.dataset.spanId = row.spanId;
      bar.style.left = ((row.offsetMs / section.totalMs) * 100) + '%';
      bar.style.width = ((row.durationMs / section.totalMs) * 100) + '%';
      bar.style.background = data.colours[row.service];
      bar.appendChild(el('span', 'dur', row.duration));
      lane.appendChild(bar);
      if (row.links.length) {
        label.appendChild(el('span', 'link', '↪ ' + row.links.length + (row.links.length === 1 ? ' link' : ' links')));
        row.links.forEach(function (link) { linkLines.push('[' + row.service + '] ' + row.name + ' ↪ links to ' + describe(link)); });
      }
      line.appendChild(lane);
      box.appendChild(line);
      rowsBySpan[row.spanId] = line;

      line.addEventListener('mouseenter', function () { show(row); });
      line.addEventListener('mousemove', move);
      line.addEventListener('mouseleave', hide);
    });
    section.rows.forEach(function (row) {
      var parent = row.parentSpanId && rowData[row.parentSpanId];
      if (parent && parent.service !== row.service) {
        linkLines.push(parent.service + ' (' + parent.name + ') → ' + row.service + ' (' + row.name + '): parent → child across processes');
      }
    });
    if (linkLines.length) {
      var links = el('ul', 'links');
      linkLines.forEach(function (text) { links.appendChild(el('li', '', text)); });
      box.appendChild(links);
    }
    app.appendChild(box);
  });

  function setLinked(row, on) {
    row.links.forEach(function (link) {
      var target = rowsBySpan[link.spanId];
      if (target) target.classList.toggle('linked', on);
    });
  }
  var current = null;
  function show(row) {
    current = row;
    setLinked(row, true);
    tooltip.textContent = '';
    tooltip.appendChild(el('strong', '', '[' + row.service + '] ' + row.name));
    var table = el('table');
    function add(key, value) {
      var tr = el('tr');
      tr.appendChild(el('td', '', key));
      tr.appendChild(el('td', '', String(value)));
      table.appendChild(tr);
    }
    add('kind', row.kind);
    add('duration', row.duration);
    add('starts at', '+' + fmt(row.offsetMs));
    add('status', row.status.code + (row.status.message ? ': ' + row.status.message : ''));
    add('trace', row.traceId);
    add('span', row.spanId);
    add('parent', row.parentSpanId ? (rowData[row.parentSpanId] ? describe({ spanId: row.parentSpanId, traceId: row.traceId }) : row.parentSpanId + ' (never arrived)') : '— (root)');
    row.links.forEach(function (link) { add('link', describe(link)); });
    Object.keys(row.attributes).sort().forEach(function (key) {
      var value = row.attributes[key];
      add(key, typeof value === 'object' ? JSON.stringify(value) : value);
    });
    tooltip.appendChild(table);
    tooltip.style.display = 'block';
  }
  function move(event) {
    var x = Math.min(event.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
    var y = event.clientY + 14;
    if (y + tooltip.offsetHeight > window.innerHeight) y = Math.max(8, event.clientY - tooltip.offsetHeight - 10);
    tooltip.style.left = x + 'px';
    tooltip.style.top = y + 'px';
  }
  function hide() {
    if (current) setLinked(current, false);
    current = null;
    tooltip.style.display = 'none';
  }
  document.body.dataset.rendered = String(document.querySelectorAll('.bar').length);
})();
</script>
</body>
</html>
`;
}
