import type { BrokenHop, DoctorReport, LatencyReport, LatencyStats, SpanRef } from './types';

/** Left-aligned columns, two spaces apart, with a header row and a rule under it. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>, indent = '  '): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    indent +
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

function evidence(hop: BrokenHop): string {
  switch (hop.evidence) {
    case 'message-id':
      return 'the same messaging.message.id on both sides';
    case 'time-window':
      return `\`${hop.consumerService}\` consumer spans start a new trace right after each send (the message arrived without context)`;
    case 'no-consumer-span':
      return `\`${hop.consumerService}\` has no consumer span for it, and a new trace starts there right after each send (consumer instrumentation missing or disabled?)`;
  }
}

const spanText = (span: SpanRef) => `${span.serviceName} "${span.name}" (trace ${span.traceId} span ${span.spanId})`;

function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function heading(number: number, title: string, count: number, none: string): string {
  return count === 0 ? `${number}. ${title}: ${none}` : `${number}. ${title} (${count})`;
}

/** The report as the CLI prints it: one numbered section per finding kind, then the verdict. */
export function formatReport(report: DoctorReport): string {
  const { summary, options } = report;
  const out: string[] = [];
  const services = summary.services.length === 1 ? 'service' : 'services';
  out.push(
    `threadline-doctor: ${summary.spans} spans, ${summary.traces} traces, ${summary.services.length} ${services}` +
      (summary.services.length > 0 ? ` (${summary.services.join(', ')})` : ''),
    '',
  );

  out.push(heading(1, 'Broken hops', report.brokenHops.length + report.unfollowedPulls.length, 'none'));
  for (const hop of report.brokenHops) {
    out.push(`  ✗ ${hop.message}`, `    evidence: ${evidence(hop)}`);
    for (const example of hop.examples) out.push(`    e.g. ${spanText(example.producer)} → ${spanText(example.consumer)}`);
  }
  for (const pull of report.unfollowedPulls) {
    out.push(
      `  ✗ ${pull.message}`,
      "    evidence: the consumer span carried the producer's context, and a new trace started right after it in the same service",
      `    fix: ${pull.fix}`,
    );
    for (const example of pull.examples) out.push(`    e.g. ${spanText(example.consumer)} → ${spanText(example.work)}`);
  }
  if (report.unconsumedSends.length > 0) {
    out.push('  sends no consumer span in the input answered (information, not a gap: the consumer may not be in the input):');
    for (const sends of report.unconsumedSends) {
      out.push(`    ${sends.channel.label} \`${sends.channel.destination}\` from service \`${sends.producerService}\`: ${sends.messages} ${sends.messages === 1 ? 'message' : 'messages'}`);
    }
  }
  out.push('');

  const flagged = report.rootRatios.filter((row) => row.flagged).length;
  out.push(
    report.rootRatios.length === 0
      ? '2. Consumer spans that start a new trace: no consumer spans'
      : `2. Consumer spans that start a new trace, per service (flagged above ${options.rootRatio})${flagged ? `: ${flagged} flagged` : ''}`,
  );
  if (report.rootRatios.length > 0) {
    out.push(
      table(
        ['service', 'consumer spans', 'new traces', 'by link', 'ratio', 'verdict'],
        report.rootRatios.map((row) => [
          row.serviceName,
          String(row.consumerSpans),
          String(row.roots),
          String(row.linkedRoots),
          row.ratio.toFixed(2),
          row.flagged ? '✗ mostly new traces' : 'ok',
        ]),
      ),
    );
  }
  out.push('');

  out.push(heading(3, 'Orphans (parent span never arrived)', report.orphans.length, 'none'));
  if (report.orphans.length > 0) {
    out.push(
      table(
        ['service', 'spans', 'missing parents', 'remote parent', 'local parent', 'examples'],
        report.orphans.map((group) => [
          group.serviceName,
          String(group.spans),
          String(group.missingParents),
          String(group.remoteParent),
          String(group.localParent),
          group.examples.map((example) => `${example.name} ×${example.count}`).join(', '),
        ]),
      ),
      '  remote parent: the calling service sent no spans (exporter not configured, or not in the input);',
      '  local parent: a span in the same process never ended or was dropped (export queue full, process killed).',
    );
  }
  out.push('');

  out.push(heading(4, 'Joined by link (not breaks)', report.linkedHops.length, 'none'));
  for (const hop of report.linkedHops) out.push(`  ↪ ${hop.message}`);
  out.push('');

  out.push(heading(5, 'Never-ending traces', report.neverEndingTraces.length, 'none'));
  if (report.neverEndingTraces.length > 0) {
    out.push(
      table(
        ['trace', 'first span', 'duration', 'spans', 'why'],
        report.neverEndingTraces.map((trace) => [
          trace.traceId,
          `${trace.first.serviceName} "${trace.first.name}"`,
          duration(trace.durationMs),
          String(trace.spanCount),
          trace.reasons
            .map((reason) =>
              reason === 'duration'
                ? `longer than ${duration(options.maxTraceMs)}`
                : `poll loop: ${trace.loop!.serviceName} ${trace.loop!.name === undefined ? `span ${trace.loop!.spanId} (never ended)` : `"${trace.loop!.name}"`} parents ${trace.loop!.consumerChildren} consumer spans`,
            )
            .join('; '),
        ]),
      ),
    );
  }
  out.push('');

  out.push(report.clean ? 'Result: clean (exit 0)' : `Result: ${report.gaps} ${report.gaps === 1 ? 'gap' : 'gaps'} found (exit 1)`);
  return out.join('\n') + '\n';
}

/** Milliseconds with the precision a queue time needs: 0.42 ms, 4.2 ms, 42 ms, 4.20 s. */
export function formatLatency(ms: number): string {
  const size = Math.abs(ms);
  if (size < 10) return `${ms.toFixed(2)} ms`;
  if (size < 100) return `${ms.toFixed(1)} ms`;
  if (size < 1000) return `${Math.round(ms)} ms`;
  if (size < 120_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

const stat = (stats: LatencyStats | undefined, key: 'p50' | 'p99') => (stats === undefined ? '–' : formatLatency(stats[key]));
const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

/** The `latency` view as the CLI prints it: per hop, then per trace. */
export function formatLatencyReport(report: LatencyReport): string {
  const { summary } = report;
  const out: string[] = [
    `threadline-doctor latency: ${summary.spans} spans, ${summary.traces} traces, ${plural(summary.services.length, 'service', 'services')}` +
      (summary.services.length > 0 ? ` (${summary.services.join(', ')})` : ''),
    '',
  ];

  if (report.hops.length === 0) {
    out.push('1. Hops: none (no producer span with a consumer span of another service tied to it by parent or link)');
  } else {
    out.push(
      `1. Hops (${report.hops.length})`,
      table(
        ['hop', 'messages', 'queue p50', 'queue p99', 'processing p50', 'processing p99', 'skewed'],
        report.hops.map((hop) => [
          `${hop.channel.label} \`${hop.channel.destination}\`: ${hop.producerService} → ${hop.consumerService}`,
          String(hop.messages) + (hop.linked > 0 ? ` (${hop.linked} by link)` : ''),
          stat(hop.queueTime, 'p50'),
          stat(hop.queueTime, 'p99'),
          stat(hop.processing, 'p50'),
          stat(hop.processing, 'p99'),
          String(hop.skewed),
        ]),
      ),
      '  queue: consumer span start − producer span start (the send time a message carries, so the',
      '  send itself is included); processing: the process span\'s duration (– when only receive spans);',
      '  percentiles: nearest rank over the hop\'s messages, skewed ones left out of the queue columns.',
    );
    for (const hop of report.hops) {
      if (hop.skewed === 0) continue;
      out.push(
        `  ⚠ ${hop.channel.label} \`${hop.channel.destination}\` ${hop.producerService} → ${hop.consumerService}: ${hop.skewed} of ${plural(hop.messages, 'message', 'messages')} skewed: ` +
          'the consumer span started before its producer span, so the two clocks disagree; left out of the percentiles',
      );
      for (const example of hop.skewedExamples) {
        out.push(`    e.g. ${formatLatency(example.queueMs)}: ${spanText(example.producer)} → ${spanText(example.consumer)}`);
      }
    }
  }
  out.push('');

  if (report.traces.length === 0) {
    out.push('2. End-to-end per trace: none (no trace holds a hop joined by parent)');
  } else {
    out.push(
      `2. End-to-end per trace (${report.traces.length}): first producer span start → last consumer span end`,
      table(
        ['trace', 'first producer span', 'last consumer span', 'hops', 'services', 'end-to-end'],
        report.traces.map((trace) => [
          trace.traceId,
          `${trace.first.serviceName} "${trace.first.name}"`,
          `${trace.last.serviceName} "${trace.last.name}"`,
          String(trace.hops),
          String(trace.services.length),
          formatLatency(trace.endToEndMs) + (trace.skewed ? ' (skewed)' : ''),
        ]),
      ),
    );
    const left = report.skewedTraces > 0 ? `; ${plural(report.skewedTraces, 'skewed trace', 'skewed traces')} left out` : '';
    out.push(
      report.endToEnd === undefined
        ? `  p50 –, p99 –: every trace is skewed${left}`
        : `  p50 ${formatLatency(report.endToEnd.p50)}, p99 ${formatLatency(report.endToEnd.p99)} over ${plural(report.endToEnd.count, 'trace', 'traces')} (nearest rank)${left}`,
    );
  }
  return out.join('\n') + '\n';
}
