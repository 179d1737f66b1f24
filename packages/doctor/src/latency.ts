import { indexSpans, keyOf, linksOf, MAX_EXAMPLES, ref, type Node } from './analyze';
import type { DoctorSpan, HopLatency, LatencyReport, LatencyStats, TraceLatency } from './types';

/**
 * The nearest-rank percentile of ascending `sorted` values: the smallest value with at least
 * `q` of all values at or below it. With one value, every percentile is that value.
 */
export function nearestRank(sorted: readonly number[], q: number): number {
  // The epsilon keeps 0.99 × 100 from rounding up to rank 100.
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length - 1e-9)));
  return sorted[rank - 1]!;
}

/** p50, p99, min and max of `values` (ms); undefined for none. */
export function latencyStats(values: readonly number[]): LatencyStats | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, p50: nearestRank(sorted, 0.5), p99: nearestRank(sorted, 0.99), min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** Kubernetes' generated name suffixes: `-` + 5 chars of its alphabet, or `-` + ≥ 6 hex digits with a digit. */
const GENERATED_SUFFIX = /-(?:[bcdfghjklmnpqrstvwxz2456789]{5}|(?=[0-9a-f]*\d)[0-9a-f]{6,})$/;

/**
 * threadline's k8s-job spans carry no messaging attributes: a PRODUCER `create job …` and the
 * Job's CONSUMER `run …` span, both with `k8s.job.name` (or `k8s.pod.name`). They are given the
 * roles of a send and a process span, on a destination named like the metrics name it: the Job name
 * without its generated suffix, so one row holds every Job of a kind.
 */
function classifyJobs(nodes: readonly Node[]): Node[] {
  const found: Node[] = [];
  for (const node of nodes) {
    if (node.role !== undefined || (node.span.kind !== 'PRODUCER' && node.span.kind !== 'CONSUMER')) continue;
    const attributes = node.span.attributes ?? {};
    const job = attributes['k8s.job.name'];
    const pod = attributes['k8s.pod.name'];
    const name = typeof job === 'string' && job !== '' ? job : typeof pod === 'string' && pod !== '' ? pod : undefined;
    if (name === undefined) continue;
    const kind = name === job ? 'job' : 'pod';
    const destination = name.replace(GENERATED_SUFFIX, '');
    node.role = node.span.kind === 'PRODUCER' ? 'send' : 'receive';
    node.system = 'kubernetes';
    node.groupKey = `k|${kind}|${destination}`;
    node.channel = { type: 'messaging', system: 'kubernetes', destination, label: `kubernetes ${kind}` };
    node.operation = node.role === 'send' ? 'create' : 'process';
    found.push(node);
  }
  return found;
}

const isProcess = (node: Node) => node.operation === 'process' || node.span.attributes?.['messaging.operation.type'] === 'process';
const durationOf = (node: Node) => node.span.endTimeMs - node.span.startTimeMs;

/** One message as the consuming service got it: its send, and the service's first span for it. */
interface Delivery {
  sender: Node;
  /** The outermost consumer span of the service for this message (a receive, or the process span). */
  consumer: Node;
  by: 'parent' | 'link';
  /** Consumer spans of the same message nested under `consumer` in the same service, `consumer` included. */
  members: Node[];
  queueMs: number;
}

/**
 * Time in queue, processing time and end-to-end latency from spans alone. A hop is a producer
 * span and a consumer span of another service tied to it by parent or by link. Pure.
 */
export function latency(spans: readonly DoctorSpan[]): LatencyReport {
  const { nodes, byKey, parentOf, receivers, senderAtOrAbove } = indexSpans(spans);
  const jobs = classifyJobs(nodes);
  const consumers = [...receivers.filter((node) => node.channel!.type === 'messaging'), ...jobs.filter((node) => node.role === 'receive')];

  // The sends each consumer span answers: the one above it, and the ones it links to.
  const sendersOf = new Map<Node, Map<Node, 'parent' | 'link'>>();
  for (const consumer of consumers) {
    const found = new Map<Node, 'parent' | 'link'>();
    const parentSender = senderAtOrAbove(parentOf(consumer), consumer.groupKey!, consumer.system);
    if (parentSender !== undefined) found.set(parentSender, 'parent');
    for (const link of linksOf(consumer)) {
      const linked = senderAtOrAbove(byKey.get(keyOf(link.traceId, link.spanId)), consumer.groupKey!, consumer.system);
      if (linked !== undefined && !found.has(linked)) found.set(linked, 'link');
    }
    sendersOf.set(consumer, found);
  }

  /** The nearest consumer span of the same destination above `node` in the same service. */
  const outerOf = (node: Node): Node | undefined => {
    const seen = new Set<string>([node.key]);
    for (let up = parentOf(node); up !== undefined && !seen.has(up.key) && up.span.serviceName === node.span.serviceName; up = parentOf(up)) {
      seen.add(up.key);
      if (up.role === 'receive' && up.groupKey === node.groupKey) return up;
    }
    return undefined;
  };

  // A receive span and the process span under it are one message: keyed by the outermost.
  const deliveries = new Map<string, Delivery>();
  for (const consumer of consumers) {
    for (const sender of sendersOf.get(consumer)!.keys()) {
      let outermost = consumer;
      const seen = new Set<Node>([consumer]);
      for (let outer = outerOf(outermost); outer !== undefined && !seen.has(outer) && sendersOf.get(outer)?.has(sender); outer = outerOf(outermost)) {
        seen.add(outer);
        outermost = outer;
      }
      if (outermost.span.serviceName === sender.span.serviceName) continue;
      const key = `${sender.key}\u0000${outermost.key}`;
      let delivery = deliveries.get(key);
      if (delivery === undefined) {
        delivery = {
          sender,
          consumer: outermost,
          by: sendersOf.get(outermost)!.get(sender)!,
          members: [],
          queueMs: outermost.span.startTimeMs - sender.span.startTimeMs,
        };
        deliveries.set(key, delivery);
      }
      delivery.members.push(consumer);
    }
  }

  interface HopAccumulator {
    hop: HopLatency;
    firstSend: number;
    queue: number[];
    processing: number[];
  }
  const hops = new Map<string, HopAccumulator>();
  for (const delivery of deliveries.values()) {
    const { sender, consumer } = delivery;
    const key = `${sender.groupKey}\u0000${sender.span.serviceName}\u0000${consumer.span.serviceName}`;
    let entry = hops.get(key);
    if (entry === undefined) {
      entry = {
        hop: {
          channel: sender.channel!,
          producerService: sender.span.serviceName,
          producerOperation: sender.operation,
          consumerService: consumer.span.serviceName,
          consumerOperation: consumer.operation,
          messages: 0,
          linked: 0,
          skewed: 0,
          skewedExamples: [],
        },
        firstSend: Infinity,
        queue: [],
        processing: [],
      };
      hops.set(key, entry);
    }
    const { hop } = entry;
    hop.messages += 1;
    if (delivery.by === 'link') hop.linked += 1;
    entry.firstSend = Math.min(entry.firstSend, sender.span.startTimeMs);
    if (delivery.queueMs < 0) {
      hop.skewed += 1;
      if (hop.skewedExamples.length < MAX_EXAMPLES) hop.skewedExamples.push({ producer: ref(sender), consumer: ref(consumer), queueMs: delivery.queueMs });
    } else {
      entry.queue.push(delivery.queueMs);
    }
    // The outermost span when it is the process span; else the first process span inside it.
    const processSpan = isProcess(consumer)
      ? consumer
      : delivery.members.filter(isProcess).sort((a, b) => a.span.startTimeMs - b.span.startTimeMs)[0];
    if (processSpan !== undefined) entry.processing.push(durationOf(processSpan));
  }
  const hopRows = [...hops.values()]
    .sort(
      (a, b) =>
        a.firstSend - b.firstSend ||
        a.hop.channel.destination.localeCompare(b.hop.channel.destination) ||
        a.hop.consumerService.localeCompare(b.hop.consumerService),
    )
    .map(({ hop, queue, processing }) => {
      const queueTime = latencyStats(queue);
      const processingTime = latencyStats(processing);
      return { ...hop, ...(queueTime ? { queueTime } : {}), ...(processingTime ? { processing: processingTime } : {}) };
    });

  // End to end: per trace holding at least one hop joined by parent.
  const byTrace = new Map<string, Delivery[]>();
  for (const delivery of deliveries.values()) {
    if (delivery.by !== 'parent') continue;
    const list = byTrace.get(delivery.consumer.span.traceId) ?? [];
    list.push(delivery);
    byTrace.set(delivery.consumer.span.traceId, list);
  }
  const members = new Map<string, Node[]>();
  for (const node of nodes) {
    if (node.channel?.type !== 'messaging' || !byTrace.has(node.span.traceId)) continue;
    const list = members.get(node.span.traceId) ?? [];
    list.push(node);
    members.set(node.span.traceId, list);
  }
  const traces: TraceLatency[] = [];
  for (const [traceId, traceDeliveries] of byTrace) {
    const inTrace = members.get(traceId)!;
    let first: Node | undefined;
    let last: Node | undefined;
    for (const node of inTrace) {
      if (node.role === 'send' && (first === undefined || node.span.startTimeMs < first.span.startTimeMs)) first = node;
      if (node.role === 'receive' && (last === undefined || node.span.endTimeMs > last.span.endTimeMs)) last = node;
    }
    // A parent-joined delivery puts a send and a consumer span in the trace: both exist.
    const endToEndMs = last!.span.endTimeMs - first!.span.startTimeMs;
    traces.push({
      traceId,
      first: ref(first!),
      last: ref(last!),
      endToEndMs,
      hops: traceDeliveries.length,
      services: [...new Set(inTrace.map((node) => node.span.serviceName))].sort(),
      skewed: endToEndMs < 0 || traceDeliveries.some((delivery) => delivery.queueMs < 0),
    });
  }
  traces.sort((a, b) => byKey.get(keyOf(a.traceId, a.first.spanId))!.span.startTimeMs - byKey.get(keyOf(b.traceId, b.first.spanId))!.span.startTimeMs || a.traceId.localeCompare(b.traceId));
  const endToEnd = latencyStats(traces.filter((entry) => !entry.skewed).map((entry) => entry.endToEndMs));

  return {
    summary: {
      spans: nodes.length,
      traces: new Set(nodes.map((node) => node.span.traceId)).size,
      services: [...new Set(nodes.map((node) => node.span.serviceName))].sort(),
    },
    hops: hopRows,
    traces,
    ...(endToEnd ? { endToEnd } : {}),
    skewedTraces: traces.filter((entry) => entry.skewed).length,
  };
}
