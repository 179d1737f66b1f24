// The terminal view of one trace: an indented span tree with service, name, kind, duration and a
// waterfall bar on a shared time axis.

const ANSI_COLOURS = [36, 33, 35, 32, 34, 31, 96, 93, 95, 92];
const RESET = '\u001b[0m';
const DIM = '\u001b[2m';

export function formatDuration(ms) {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A stable colour index per service: pipeline services in order, others after them by first appearance. */
export function serviceIndex(services, knownOrder = []) {
  const index = new Map();
  for (const service of [...knownOrder, ...services]) if (!index.has(service)) index.set(service, index.size);
  return index;
}

/**
 * Orders spans depth-first as a tree: roots (and orphans, whose parent never arrived) by start
 * time, each followed by its children by start time.
 * @returns {{ span: object, depth: number, last: boolean, prefix: string, orphan: boolean }[]}
 */
export function flattenTree(spans) {
  const ids = new Set(spans.map((span) => span.spanId));
  const children = new Map();
  const roots = [];
  for (const span of spans) {
    if (span.parentSpanId !== undefined && ids.has(span.parentSpanId)) {
      if (!children.has(span.parentSpanId)) children.set(span.parentSpanId, []);
      children.get(span.parentSpanId).push(span);
    } else {
      roots.push(span);
    }
  }
  const byStart = (a, b) => a.startTimeMs - b.startTimeMs || a.endTimeMs - b.endTimeMs;
  const rows = [];
  const seen = new Set();
  const walk = (span, depth, guide, last) => {
    if (seen.has(span.spanId)) return; // a cycle in broken data must not hang the demo
    seen.add(span.spanId);
    const branch = depth === 0 ? '' : last ? '└─ ' : '├─ ';
    rows.push({ span, depth, last, prefix: guide + branch, orphan: depth === 0 && span.parentSpanId !== undefined });
    const kids = (children.get(span.spanId) ?? []).sort(byStart);
    const childGuide = depth === 0 ? '' : guide + (last ? '   ' : '│  ');
    kids.forEach((kid, i) => walk(kid, depth + 1, childGuide, i === kids.length - 1));
  };
  for (const root of roots.sort(byStart)) walk(root, 0, '', true);
  return rows;
}

function bar(span, start, total, width) {
  const from = Math.min(width - 1, Math.floor(((span.startTimeMs - start) / total) * width));
  const to = Math.max(from + 1, Math.min(width, Math.ceil(((span.endTimeMs - start) / total) * width)));
  return ' '.repeat(from) + '█'.repeat(to - from) + ' '.repeat(width - to);
}

const pad = (text, width) => (text.length >= width ? text : text + ' '.repeat(width - text.length));
const padStart = (text, width) => (text.length >= width ? text : ' '.repeat(width - text.length) + text);

/**
 * Renders spans (normally one trace) as lines of text.
 * @param {object[]} spans
 * @param {{ color?: boolean, barWidth?: number, maxNameWidth?: number, services?: string[], nameOf?: (spanId: string) => string | undefined }} [options]
 */
export function renderTree(spans, options = {}) {
  if (spans.length === 0) return ['(no spans)'];
  const { color = false, barWidth = 40, maxNameWidth = 64, services = [] } = options;
  const rows = flattenTree(spans);
  const start = Math.min(...spans.map((span) => span.startTimeMs));
  const end = Math.max(...spans.map((span) => span.endTimeMs));
  const total = Math.max(end - start, 0.001);
  const colours = serviceIndex(
    spans.map((span) => span.serviceName),
    services,
  );
  const serviceWidth = Math.max(...spans.map((span) => span.serviceName.length));
  const labels = rows.map((row) => row.prefix + row.span.name);
  const nameWidth = Math.min(maxNameWidth, Math.max(...labels.map((label) => label.length)));
  const kindWidth = Math.max(...spans.map((span) => span.kind.length));
  const paint = (service, text) => (color ? `\u001b[${ANSI_COLOURS[colours.get(service) % ANSI_COLOURS.length]}m${text}${RESET}` : text);
  const dim = (text) => (color ? `${DIM}${text}${RESET}` : text);
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  const nameOf = (link) => {
    const target = byId.get(link.spanId);
    return target ? `[${target.serviceName}] ${target.name}` : (options.nameOf?.(link.spanId) ?? `span ${link.spanId.slice(0, 8)}… of trace ${link.traceId.slice(0, 8)}…`);
  };

  const lines = [];
  rows.forEach((row, i) => {
    const { span } = row;
    let label = labels[i];
    if (label.length > nameWidth) label = `${label.slice(0, nameWidth - 1)}…`;
    const error = span.status.code === 'ERROR' ? '  ✖ error' + (span.status.message ? `: ${span.status.message}` : '') : '';
    const orphan = row.orphan ? `  ⚠ parent ${span.parentSpanId.slice(0, 8)}… never arrived` : '';
    lines.push(
      `${paint(span.serviceName, pad(span.serviceName, serviceWidth))}  ${pad(label, nameWidth)}  ${dim(pad(span.kind, kindWidth))}  ` +
        `${padStart(formatDuration(span.endTimeMs - span.startTimeMs), 9)}  ${dim('▕')}${paint(span.serviceName, bar(span, start, total, barWidth))}${dim('▏')}${error}${orphan}`,
    );
    for (const link of span.links) {
      lines.push(dim(`${' '.repeat(serviceWidth)}  ${' '.repeat(row.prefix.length)}   ↪ link to ${nameOf(link)}`));
    }
  });
  const axis = `${' '.repeat(serviceWidth + nameWidth + kindWidth + 9 + 8)} 0${padStart(formatDuration(total), barWidth)}`;
  lines.push(dim(axis));
  return lines;
}
