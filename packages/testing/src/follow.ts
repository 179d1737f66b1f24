import type { CollectedSpan } from './collector';
import { formatSpans } from './assertions';

/** The span's parents, nearest first, as far as the collected spans reach. */
export function ancestry(spans: readonly CollectedSpan[], span: CollectedSpan): CollectedSpan[] {
  const byId = new Map(spans.map((candidate) => [candidate.spanId, candidate]));
  const chain: CollectedSpan[] = [];
  let parent = span.parentSpanId === undefined ? undefined : byId.get(span.parentSpanId);
  while (parent !== undefined && chain.length < 64) {
    chain.push(parent);
    parent = parent.parentSpanId === undefined ? undefined : byId.get(parent.parentSpanId);
  }
  return chain;
}

function one(spans: readonly CollectedSpan[], name: string): CollectedSpan {
  const found = spans.filter((span) => span.name === name);
  if (found.length !== 1) throw new Error(`expected one span "${name}", found ${found.length}\nspans:\n${formatSpans(spans)}`);
  return found[0];
}

/** The span named `work` descends from the span named `producer` (same trace, a parent chain). */
export function assertDescends(spans: readonly CollectedSpan[], producer: string, work: string): void {
  const from = one(spans, producer);
  const to = one(spans, work);
  if (to.traceId !== from.traceId || !ancestry(spans, to).some((span) => span.spanId === from.spanId)) {
    throw new Error(`"${work}" does not descend from "${producer}"\nspans:\n${formatSpans(spans)}`);
  }
}

/** Every span named `name` is in none of the traces of the spans named in `producers`. */
export function assertOutsideTraces(spans: readonly CollectedSpan[], name: string, producers: readonly string[]): void {
  const traces = new Set(spans.filter((span) => producers.includes(span.name)).map((span) => span.traceId));
  const found = spans.filter((span) => span.name === name);
  if (found.length === 0) throw new Error(`no span "${name}"\nspans:\n${formatSpans(spans)}`);
  const inside = found.filter((span) => traces.has(span.traceId));
  if (inside.length > 0) throw new Error(`"${name}" is in a producer's trace (${inside[0].traceId})\nspans:\n${formatSpans(spans)}`);
}
