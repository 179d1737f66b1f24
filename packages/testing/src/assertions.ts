import type { CollectedSpan, SpanKindName } from './collector';

/** A span name, a partial description, or a predicate. */
export type SpanMatcher = string | { name?: string | RegExp; service?: string; kind?: SpanKindName } | ((span: CollectedSpan) => boolean);

function matches(span: CollectedSpan, matcher: SpanMatcher): boolean {
  if (typeof matcher === 'string') return span.name === matcher;
  if (typeof matcher === 'function') return matcher(span);
  if (matcher.name !== undefined && !(typeof matcher.name === 'string' ? span.name === matcher.name : matcher.name.test(span.name))) return false;
  if (matcher.service !== undefined && span.serviceName !== matcher.service) return false;
  if (matcher.kind !== undefined && span.kind !== matcher.kind) return false;
  return true;
}

function describe(matcher: SpanMatcher): string {
  if (typeof matcher === 'string') return `"${matcher}"`;
  if (typeof matcher === 'function') return 'the span matching the predicate';
  return JSON.stringify({ ...matcher, name: matcher.name?.toString() });
}

/** A tree of the spans, one line each, indented under their parents; for failure messages. */
export function formatSpans(spans: readonly CollectedSpan[]): string {
  const byParent = new Map<string | undefined, CollectedSpan[]>();
  const ids = new Set(spans.map((span) => span.spanId));
  for (const span of spans) {
    const parent = span.parentSpanId !== undefined && ids.has(span.parentSpanId) ? span.parentSpanId : undefined;
    byParent.set(parent, [...(byParent.get(parent) ?? []), span]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const span of (byParent.get(parent) ?? []).sort((a, b) => a.startTimeMs - b.startTimeMs)) {
      const orphan = parent === undefined && span.parentSpanId !== undefined ? ` (parent ${span.parentSpanId} missing)` : '';
      const links = span.links.length > 0 ? ` links→${span.links.map((l) => l.spanId).join(',')}` : '';
      lines.push(`${'  '.repeat(depth)}[${span.serviceName}] ${span.kind} ${span.name} trace=${span.traceId.slice(0, 8)} span=${span.spanId}${orphan}${links} ${span.status.code === 'ERROR' ? 'ERROR' : ''}`);
      walk(span.spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join('\n');
}

function fail(message: string, spans: readonly CollectedSpan[]): never {
  throw new Error(`${message}\nspans:\n${formatSpans(spans)}`);
}

/** The one span matching `matcher`; fails when there is none or more than one. */
export function findSpan(spans: readonly CollectedSpan[], matcher: SpanMatcher): CollectedSpan {
  const found = spans.filter((span) => matches(span, matcher));
  if (found.length === 0) fail(`no span matches ${describe(matcher)}`, spans);
  if (found.length > 1) fail(`${found.length} spans match ${describe(matcher)}; expected one`, spans);
  return found[0];
}

/** Every span matching `matcher`. */
export function findSpans(spans: readonly CollectedSpan[], matcher: SpanMatcher): CollectedSpan[] {
  return spans.filter((span) => matches(span, matcher));
}

/** All spans share one trace id; returns it. */
export function assertSingleTrace(spans: readonly CollectedSpan[]): string {
  if (spans.length === 0) fail('no spans at all', spans);
  const traceIds = new Set(spans.map((span) => span.traceId));
  if (traceIds.size !== 1) fail(`expected one trace, found ${traceIds.size}: ${[...traceIds].join(', ')}`, spans);
  return spans[0].traceId;
}

/** The span matching `child` is a direct child of the span matching `parent`. */
export function assertParentChild(spans: readonly CollectedSpan[], parent: SpanMatcher, child: SpanMatcher): void {
  const parentSpan = findSpan(spans, parent);
  const childSpan = findSpan(spans, child);
  if (childSpan.parentSpanId !== parentSpan.spanId || childSpan.traceId !== parentSpan.traceId) {
    fail(`${describe(child)} is not a child of ${describe(parent)} (its parent is ${childSpan.parentSpanId ?? 'none'})`, spans);
  }
}

/** The span matching `from` carries a link to the span matching `to`. */
export function assertLink(spans: readonly CollectedSpan[], from: SpanMatcher, to: SpanMatcher): void {
  const fromSpan = findSpan(spans, from);
  const toSpan = findSpan(spans, to);
  if (!fromSpan.links.some((link) => link.spanId === toSpan.spanId && link.traceId === toSpan.traceId)) {
    fail(`${describe(from)} has no link to ${describe(to)}`, spans);
  }
}

/** Every parent span id names a span that arrived. */
export function assertNoOrphans(spans: readonly CollectedSpan[]): void {
  const ids = new Set(spans.map((span) => span.spanId));
  const orphans = spans.filter((span) => span.parentSpanId !== undefined && !ids.has(span.parentSpanId));
  if (orphans.length > 0) fail(`${orphans.length} spans name a parent that never arrived: ${orphans.map((s) => s.name).join(', ')}`, spans);
}
