import type {
  BrokenHop,
  Channel,
  DoctorOptions,
  DoctorReport,
  DoctorSpan,
  HopEvidence,
  LinkedHop,
  NeverEndingTrace,
  OrphanGroup,
  ResolvedDoctorOptions,
  ServiceRootRatio,
  SpanRef,
  UnconsumedSends,
  UnfollowedPull,
} from './types';

export const DEFAULT_OPTIONS: Readonly<ResolvedDoctorOptions> = Object.freeze({
  windowMs: 10_000,
  maxTraceMs: 600_000,
  rootRatio: 0.5,
  maxLoopChildren: 10,
  clockSkewMs: 100,
});

/**
 * A guess from timing alone is believed only when at least this share of the unanswered sends
 * is followed by a new trace in the service, and this share of that service's new traces in the
 * period follow a send.
 */
const INFERENCE_MIN_SHARE = 0.5;
export const MAX_EXAMPLES = 3;

/** How soon after a pull's consumer span starts the work that follows it is looked for. */
export const PULL_WORK_WINDOW_MS = 1000;

/** Per messaging system, the line that runs a message's work in its context. */
const PULL_FIXES: Record<string, string> = {
  kafka: "await withMessageContext(message, () => work(message)), with withMessageContext from '@threadline/kafkajs'",
  rabbitmq: "await withMessageContext(message, () => work(message)), with withMessageContext from '@threadline/amqplib'",
  aws_sqs: "await withMessageContext(message, () => work(message)), with withMessageContext from '@threadline/sqs'",
  mongodb: "await withDocumentContext(doc, () => work(doc)), with withDocumentContext from '@threadline/mongodb-queue'",
};
const GENERIC_PULL_FIX = 'await context.with(propagation.extract(context.active(), headers), () => work(message)), with context and propagation from @opentelemetry/api';

const SEND_OPERATIONS = new Set(['send', 'publish', 'create']);
const RECEIVE_OPERATIONS = new Set(['receive', 'process', 'deliver']);

const DESTINATION_LABELS: Record<string, string> = {
  kafka: 'kafka topic',
  rabbitmq: 'rabbitmq exchange',
  aws_sqs: 'sqs queue',
  mongodb: 'mongodb collection',
  aws_sns: 'sns topic',
  gcp_pubsub: 'pubsub topic',
  servicebus: 'servicebus queue',
  eventhubs: 'eventhubs hub',
  activemq: 'activemq queue',
  rocketmq: 'rocketmq topic',
  pulsar: 'pulsar topic',
  nats: 'nats subject',
  redis: 'redis stream',
};

/** Fills in defaults and rejects values that make no sense (RangeError naming the option). */
export function resolveOptions(options: DoctorOptions = {}): ResolvedDoctorOptions {
  const resolved: ResolvedDoctorOptions = { ...DEFAULT_OPTIONS };
  for (const key of Object.keys(DEFAULT_OPTIONS) as Array<keyof ResolvedDoctorOptions>) {
    const value = options[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`${key} must be a number ≥ 0, got ${String(value)}`);
    }
    resolved[key] = value;
  }
  if (resolved.rootRatio > 1) throw new RangeError(`rootRatio must be between 0 and 1, got ${resolved.rootRatio}`);
  if (!Number.isInteger(resolved.maxLoopChildren)) {
    throw new RangeError(`maxLoopChildren must be a whole number, got ${resolved.maxLoopChildren}`);
  }
  return resolved;
}

export type Role = 'send' | 'receive';

/** One span with what the analyses derived from it. Internal. */
export interface Node {
  span: DoctorSpan;
  key: string;
  parentKey?: string;
  role?: Role;
  /** Where senders are indexed; receivers resolve theirs against the senders present. */
  groupKey?: string;
  channel?: Channel;
  system?: string;
  operation: string;
  messageId?: string;
  /** Messages one send span carries (batch sends). */
  capacity: number;
  /** A send span whose messages are represented by child or linked send spans (e.g. `create`). */
  envelope: boolean;
}

export const keyOf = (traceId: string, spanId: string) => `${traceId.toLowerCase()}:${spanId.toLowerCase()}`;
const INVALID_PARENT = /^0*$/;

function text(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** SQS and similar name a queue by URL on one side and by name on the other. */
function normalizeDestination(destination: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(destination)) return destination;
  try {
    const segments = new URL(destination).pathname.split('/').filter(Boolean);
    return segments.length > 0 ? segments[segments.length - 1]! : destination;
  } catch {
    return destination;
  }
}

function urlPath(raw: string): string | undefined {
  try {
    return new URL(raw).pathname;
  } catch {
    return raw.startsWith('/') ? raw.split('?')[0] : undefined;
  }
}

function label(type: Channel['type'], system: string | undefined): string {
  if (type === 'request') return system === 'http' || system === undefined ? 'http endpoint' : `${system} method`;
  if (system === undefined) return 'destination';
  return DESTINATION_LABELS[system] ?? `${system} destination`;
}

function classify(node: Node): void {
  const { span } = node;
  const attributes = span.attributes ?? {};
  const destination = text(attributes['messaging.destination.name']) ?? text(attributes['messaging.destination']);
  if (destination !== undefined) {
    const system = text(attributes['messaging.system']);
    const operationType = text(attributes['messaging.operation.type']) ?? text(attributes['messaging.operation']);
    const batch = attributes['messaging.batch.message_count'];
    let role: Role | undefined;
    if (span.kind === 'PRODUCER' || (operationType !== undefined && SEND_OPERATIONS.has(operationType))) role = 'send';
    else if (span.kind === 'CONSUMER' || (operationType !== undefined && RECEIVE_OPERATIONS.has(operationType))) role = 'receive';
    // An empty poll says nothing about propagation.
    if (role === 'receive' && batch === 0) role = undefined;
    if (role === undefined) return;
    node.role = role;
    node.system = system;
    node.groupKey = `m|${normalizeDestination(destination)}`;
    node.channel = { type: 'messaging', system, destination, label: label('messaging', system) };
    node.operation = text(attributes['messaging.operation.name']) ?? operationType ?? (role === 'send' ? 'send' : 'process');
    node.messageId = text(attributes['messaging.message.id']);
    if (role === 'send' && typeof batch === 'number' && Number.isInteger(batch) && batch > 1) node.capacity = batch;
    return;
  }
  if (span.kind !== 'CLIENT' && span.kind !== 'SERVER') return;
  const role: Role = span.kind === 'CLIENT' ? 'send' : 'receive';
  const rpcService = text(attributes['rpc.service']);
  const rpcMethod = text(attributes['rpc.method']);
  let system: string | undefined;
  let endpoint: string | undefined;
  if (rpcService !== undefined && rpcMethod !== undefined) {
    system = text(attributes['rpc.system']) ?? 'rpc';
    endpoint = `${rpcService}/${rpcMethod}`;
  } else {
    const method = (text(attributes['http.request.method']) ?? text(attributes['http.method']))?.toUpperCase();
    const raw =
      role === 'send'
        ? (text(attributes['url.full']) ?? text(attributes['http.url']))
        : (text(attributes['url.path']) ?? text(attributes['http.target']));
    const path = raw === undefined ? undefined : urlPath(raw);
    if (method === undefined || path === undefined) return;
    system = 'http';
    endpoint = `${method} ${path}`;
  }
  node.role = role;
  node.system = system;
  node.groupKey = `r|${system}|${endpoint}`;
  node.channel = { type: 'request', system, destination: endpoint, label: label('request', system) };
  node.operation = role === 'send' ? 'call' : 'serve';
}

export const isRoot = (node: Node) => node.parentKey === undefined;
export const linksOf = (node: Node) => node.span.links ?? [];
const systemsAgree = (a: string | undefined, b: string | undefined) => a === undefined || b === undefined || a === b;

export function ref(node: Node): SpanRef {
  const { traceId, spanId, name, serviceName } = node.span;
  return { traceId, spanId, name, serviceName };
}

function hopSentence(channel: Channel, producer: string, producerOperation: string, consumer: string, consumerOperation: string): string {
  return `${channel.label} \`${channel.destination}\` between service \`${producer}\` (${producerOperation}) and service \`${consumer}\` (${consumerOperation})`;
}

/** The spans, indexed for the analyses. Internal: shared by `diagnose` and `latency`. */
export interface SpanIndex {
  nodes: Node[];
  byKey: Map<string, Node>;
  parentOf: (node: Node) => Node | undefined;
  senders: Node[];
  receivers: Node[];
  /** Sends that carry messages themselves (no envelopes), per hop group, in start order. */
  sendersByGroup: Map<string, Node[]>;
  /** The nearest send of `group` at or above `start`, walking parents inside the input. */
  senderAtOrAbove: (start: Node | undefined, group: string, system: string | undefined) => Node | undefined;
}

/** Classifies every span (its side of a hop and the hop's group) and links it to its parent. */
export function indexSpans(spans: readonly DoctorSpan[]): SpanIndex {
  // Index, dropping duplicates (the same span exported twice, or in two input files).
  const nodes: Node[] = [];
  const byKey = new Map<string, Node>();
  for (const span of spans) {
    const key = keyOf(span.traceId, span.spanId);
    if (byKey.has(key)) continue;
    const parent = span.parentSpanId;
    const node: Node = {
      span,
      key,
      parentKey: parent && !INVALID_PARENT.test(parent) ? keyOf(span.traceId, parent) : undefined,
      operation: '',
      capacity: 1,
      envelope: false,
    };
    classify(node);
    nodes.push(node);
    byKey.set(key, node);
  }

  const parentOf = (node: Node): Node | undefined => (node.parentKey === undefined ? undefined : byKey.get(node.parentKey));

  const senders = nodes.filter((node) => node.role === 'send');
  const receivers = nodes.filter((node) => node.role === 'receive');

  for (const sender of senders) {
    const parent = parentOf(sender);
    if (parent?.role === 'send' && parent.groupKey === sender.groupKey) parent.envelope = true;
    for (const link of linksOf(sender)) {
      const target = byKey.get(keyOf(link.traceId, link.spanId));
      if (target?.role === 'send' && target.groupKey === sender.groupKey) sender.envelope = true;
    }
  }
  const sendersByGroup = new Map<string, Node[]>();
  for (const sender of senders) {
    if (sender.envelope) continue;
    const list = sendersByGroup.get(sender.groupKey!) ?? [];
    list.push(sender);
    sendersByGroup.set(sender.groupKey!, list);
  }
  for (const list of sendersByGroup.values()) list.sort((a, b) => a.span.startTimeMs - b.span.startTimeMs);

  // A RabbitMQ consumer names `exchange:key:queue` where the producer named `exchange:key`.
  for (const receiver of receivers) {
    if (receiver.channel!.type !== 'messaging') continue;
    let candidate = receiver.groupKey!;
    while (!sendersByGroup.has(candidate) && candidate.includes(':')) candidate = candidate.slice(0, candidate.lastIndexOf(':'));
    if (sendersByGroup.has(candidate)) receiver.groupKey = candidate;
  }

  /** The nearest send of `group` at or above `start`, walking parents inside the input. */
  const senderAtOrAbove = (start: Node | undefined, group: string, system: string | undefined): Node | undefined => {
    const seen = new Set<string>();
    for (let node = start; node !== undefined && !seen.has(node.key); node = parentOf(node)) {
      seen.add(node.key);
      if (node.role === 'send' && node.groupKey === group && systemsAgree(node.system, system)) return node;
    }
    return undefined;
  };

  return { nodes, byKey, parentOf, senders, receivers, sendersByGroup, senderAtOrAbove };
}

interface HopStats {
  groupKey: string;
  channel: Channel;
  producerService: string;
  consumerService: string;
  producerOperation: string;
  consumerOperation: string;
  healthy: number;
  linked: number;
  broken: number;
  byMessageId: number;
  examples: Array<{ producer: SpanRef; consumer: SpanRef }>;
}

/**
 * Finds where traces break in a set of finished spans from many services. Pure: the same spans
 * and options always give the same report.
 */
export function diagnose(spans: readonly DoctorSpan[], options: DoctorOptions = {}): DoctorReport {
  const resolved = resolveOptions(options);
  const { windowMs, clockSkewMs } = resolved;

  const { nodes, byKey, parentOf, senders, receivers, sendersByGroup, senderAtOrAbove } = indexSpans(spans);

  const hops = new Map<string, HopStats>();
  const hopFor = (sender: Node, receiver: Node): HopStats => {
    const key = `${sender.groupKey}\u0000${sender.span.serviceName}\u0000${receiver.span.serviceName}`;
    let hop = hops.get(key);
    if (hop === undefined) {
      hop = {
        groupKey: sender.groupKey!,
        channel: sender.channel!,
        producerService: sender.span.serviceName,
        consumerService: receiver.span.serviceName,
        producerOperation: sender.operation,
        consumerOperation: receiver.operation,
        healthy: 0,
        linked: 0,
        broken: 0,
        byMessageId: 0,
        examples: [],
      };
      hops.set(key, hop);
    }
    return hop;
  };

  /** service → sender keys that service's consumers already answered (as children or by link). */
  const answeredBy = new Map<string, Set<string>>();
  const answered = new Set<string>();
  const markAnswered = (sender: Node, service: string) => {
    answered.add(sender.key);
    const set = answeredBy.get(service) ?? new Set<string>();
    set.add(sender.key);
    answeredBy.set(service, set);
  };

  interface LinkedAccumulator {
    channel?: Channel;
    producerService?: string;
    producerOperation?: string;
    consumerService: string;
    consumerOperation: string;
    messages: number;
    consumers: Set<string>;
  }
  const linked = new Map<string, LinkedAccumulator>();
  const unlinkedRoots: Node[] = [];

  for (const receiver of receivers) {
    const group = receiver.groupKey!;
    const service = receiver.span.serviceName;
    const parentSender = senderAtOrAbove(parentOf(receiver), group, receiver.system);
    if (parentSender !== undefined) {
      markAnswered(parentSender, service);
      hopFor(parentSender, receiver).healthy += 1;
    }
    const links = linksOf(receiver);
    for (const link of links) {
      const target = byKey.get(keyOf(link.traceId, link.spanId));
      const linkedSender = senderAtOrAbove(target, group, receiver.system);
      if (linkedSender !== undefined) markAnswered(linkedSender, service);
      if (!isRoot(receiver)) continue;
      if (linkedSender !== undefined) hopFor(linkedSender, receiver).linked += 1;
      const producerService = (linkedSender ?? target)?.span.serviceName;
      const accumulatorKey = `${receiver.channel!.type}|${group}\u0000${producerService ?? ''}\u0000${service}`;
      const accumulator = linked.get(accumulatorKey) ?? {
        channel: linkedSender?.channel ?? receiver.channel,
        producerService,
        producerOperation: linkedSender?.operation,
        consumerService: service,
        consumerOperation: receiver.operation,
        messages: 0,
        consumers: new Set<string>(),
      };
      accumulator.messages += 1;
      accumulator.consumers.add(receiver.key);
      linked.set(accumulatorKey, accumulator);
    }
    if (isRoot(receiver) && links.length === 0) unlinkedRoots.push(receiver);
  }

  // Section 1a: consumer roots tied to a send by message id.
  const sendersByMessageId = new Map<string, Node[]>();
  for (const sender of senders) {
    if (sender.envelope || sender.messageId === undefined || sender.channel!.type !== 'messaging') continue;
    const list = sendersByMessageId.get(sender.messageId) ?? [];
    list.push(sender);
    sendersByMessageId.set(sender.messageId, list);
  }
  const matchedRoot = new Set<string>();
  const brokenSenders = new Set<string>();
  const recordBreak = (sender: Node, receiver: Node, evidence: HopEvidence) => {
    const hop = hopFor(sender, receiver);
    hop.broken += 1;
    if (evidence === 'message-id') hop.byMessageId += 1;
    if (hop.examples.length < MAX_EXAMPLES) hop.examples.push({ producer: ref(sender), consumer: ref(receiver) });
    matchedRoot.add(receiver.key);
    brokenSenders.add(sender.key);
  };
  for (const receiver of unlinkedRoots) {
    if (receiver.messageId === undefined) continue;
    const sender = (sendersByMessageId.get(receiver.messageId) ?? []).find(
      (candidate) => candidate.groupKey === receiver.groupKey && systemsAgree(candidate.system, receiver.system),
    );
    if (sender !== undefined) recordBreak(sender, receiver, 'message-id');
  }

  // Section 1b: the remaining consumer roots, matched to sends by time, first in first out.
  const rootsByGroupAndService = new Map<string, Node[]>();
  for (const receiver of unlinkedRoots) {
    if (matchedRoot.has(receiver.key) || !sendersByGroup.has(receiver.groupKey!)) continue;
    const key = `${receiver.groupKey}\u0000${receiver.span.serviceName}`;
    const list = rootsByGroupAndService.get(key) ?? [];
    list.push(receiver);
    rootsByGroupAndService.set(key, list);
  }
  for (const roots of rootsByGroupAndService.values()) {
    const service = roots[0]!.span.serviceName;
    const group = roots[0]!.groupKey!;
    const alreadyAnswered = answeredBy.get(service) ?? new Set<string>();
    const candidates = sendersByGroup.get(group)!.filter((sender) => !alreadyAnswered.has(sender.key));
    const matches = matchByTime(
      candidates,
      roots,
      // A server span runs inside its client call; a message may wait in the broker.
      { before: clockSkewMs, after: (receiver) => (receiver.channel!.type === 'request' ? clockSkewMs : windowMs) },
      (sender, receiver) => systemsAgree(sender.system, receiver.system),
    );
    for (const [sender, receiver] of matches) recordBreak(sender, receiver, 'time-window');
  }

  const brokenHops: BrokenHop[] = [];
  for (const hop of hops.values()) {
    if (hop.broken === 0) continue;
    const consumerOperation = hop.consumerOperation;
    const messages = hop.broken + hop.healthy + hop.linked;
    const unit = hop.channel.type === 'request' ? 'requests' : 'messages';
    brokenHops.push({
      channel: hop.channel,
      producerService: hop.producerService,
      producerOperation: hop.producerOperation,
      consumerService: hop.consumerService,
      consumerOperation,
      broken: hop.broken,
      messages,
      evidence: hop.byMessageId === hop.broken ? 'message-id' : 'time-window',
      examples: hop.examples,
      message: `trace breaks at ${hopSentence(hop.channel, hop.producerService, hop.producerOperation, hop.consumerService, consumerOperation)}: ${hop.broken} of ${messages} ${unit}.`,
    });
  }

  // Section 1c: a service with no consumer span for a destination, that starts a new trace right
  // after each send to it: its consumer instrumentation is missing. Other consumer groups of the
  // same destination may be healthy, so every send counts, answered elsewhere or not.
  const servicesWithReceivers = new Map<string, Set<string>>();
  for (const receiver of receivers) {
    const set = servicesWithReceivers.get(receiver.groupKey!) ?? new Set<string>();
    set.add(receiver.span.serviceName);
    servicesWithReceivers.set(receiver.groupKey!, set);
  }
  const newTraceRoots = new Map<string, Node[]>();
  for (const node of nodes) {
    if (!isRoot(node) || node.role === 'receive' || node.span.kind === 'SERVER' || node.span.kind === 'CONSUMER') continue;
    const list = newTraceRoots.get(node.span.serviceName) ?? [];
    list.push(node);
    newTraceRoots.set(node.span.serviceName, list);
  }
  for (const list of newTraceRoots.values()) list.sort((a, b) => a.span.startTimeMs - b.span.startTimeMs);

  const unconsumedSends: UnconsumedSends[] = [];
  for (const [group, groupSenders] of sendersByGroup) {
    if (groupSenders[0]!.channel!.type !== 'messaging') continue;
    const byProducer = new Map<string, Node[]>();
    for (const sender of groupSenders) {
      const list = byProducer.get(sender.span.serviceName) ?? [];
      list.push(sender);
      byProducer.set(sender.span.serviceName, list);
    }
    for (const [producerService, pending] of byProducer) {
      const pendingMessages = pending.reduce((sum, sender) => sum + sender.capacity, 0);
      const explained = new Set<string>();
      for (const [consumerService, roots] of newTraceRoots) {
        if (consumerService === producerService || servicesWithReceivers.get(group)?.has(consumerService)) continue;
        const matches = matchByTime(
          pending,
          roots,
          { before: clockSkewMs, after: () => windowMs },
          (sender, root) => sender.span.traceId !== root.span.traceId,
        );
        if (matches.length === 0 || matches.length < pendingMessages * INFERENCE_MIN_SHARE) continue;
        // A busy service whose new traces mostly have nothing to do with these sends is not blamed.
        const periodStart = pending[0]!.span.startTimeMs - clockSkewMs;
        const periodEnd = pending.reduce((latest, sender) => Math.max(latest, sender.span.endTimeMs), -Infinity) + windowMs;
        const rootsInPeriod = roots.filter((root) => root.span.startTimeMs >= periodStart && root.span.startTimeMs <= periodEnd).length;
        if (matches.length < rootsInPeriod * INFERENCE_MIN_SHARE) continue;
        const first = pending[0]!;
        for (const [sender] of matches) explained.add(sender.key);
        brokenHops.push({
          channel: first.channel!,
          producerService,
          producerOperation: first.operation,
          consumerService,
          consumerOperation: 'process',
          broken: matches.length,
          messages: pendingMessages,
          evidence: 'no-consumer-span',
          examples: matches.slice(0, MAX_EXAMPLES).map(([sender, root]) => ({ producer: ref(sender), consumer: ref(root) })),
          message: `trace breaks at ${hopSentence(first.channel!, producerService, first.operation, consumerService, 'process')}: ${matches.length} of ${pendingMessages} messages.`,
        });
      }
      const left = pending.filter((sender) => !explained.has(sender.key) && !answered.has(sender.key) && !brokenSenders.has(sender.key));
      if (left.length > 0) {
        unconsumedSends.push({
          channel: left[0]!.channel!,
          producerService,
          messages: left.reduce((sum, sender) => sum + sender.capacity, 0),
        });
      }
    }
  }
  brokenHops.sort(
    (a, b) =>
      b.broken - a.broken ||
      a.channel.destination.localeCompare(b.channel.destination) ||
      a.producerService.localeCompare(b.producerService) ||
      a.consumerService.localeCompare(b.consumerService),
  );
  unconsumedSends.sort((a, b) => a.channel.destination.localeCompare(b.channel.destination) || a.producerService.localeCompare(b.producerService));

  const rootRatios = rootRatiosOf(receivers, resolved.rootRatio);
  const orphans = orphansOf(nodes, byKey);

  // Section 4: hops joined by links.
  const linkedHops: LinkedHop[] = [...linked.values()]
    .map((entry) => {
      const where = entry.channel ? `${entry.channel.label} \`${entry.channel.destination}\`` : 'a link';
      const from =
        entry.producerService === undefined
          ? 'a span not in the input'
          : `service \`${entry.producerService}\`${entry.producerOperation ? ` (${entry.producerOperation})` : ''}`;
      return {
        channel: entry.channel,
        producerService: entry.producerService,
        consumerService: entry.consumerService,
        messages: entry.messages,
        consumerSpans: entry.consumers.size,
        message: `joined by link at ${where}: ${from} → service \`${entry.consumerService}\` (${entry.consumerOperation}): ${entry.messages} ${entry.messages === 1 ? 'message' : 'messages'} in ${entry.consumers.size} new ${entry.consumers.size === 1 ? 'trace' : 'traces'}.`,
      };
    })
    .sort((a, b) => b.messages - a.messages || a.consumerService.localeCompare(b.consumerService));

  const neverEndingTraces = neverEndingTracesOf(nodes, receivers, byKey, resolved);
  const unfollowedPulls = unfollowedPullsOf(nodes, receivers);

  const flagged = rootRatios.filter((row) => row.flagged).length;
  const gaps = brokenHops.length + unfollowedPulls.length + flagged + orphans.length + neverEndingTraces.length;
  return {
    clean: gaps === 0,
    gaps,
    summary: {
      spans: nodes.length,
      traces: new Set(nodes.map((node) => node.span.traceId)).size,
      services: [...new Set(nodes.map((node) => node.span.serviceName))].sort(),
    },
    brokenHops,
    unconsumedSends,
    unfollowedPulls,
    rootRatios,
    orphans,
    linkedHops,
    neverEndingTraces,
    options: resolved,
  };
}

/**
 * Section 1d: pulls whose message arrived with its context but whose work did not get it. For each
 * consumer span that carried a context, the service's first new trace that starts within
 * PULL_WORK_WINDOW_MS of it (not a consumer or server span, and not one that spans the next pull
 * of that destination, as a poll-loop span does). Believed per destination and service when at
 * least INFERENCE_MIN_SHARE of the carried messages are followed by such a trace.
 */
function unfollowedPullsOf(nodes: readonly Node[], receivers: readonly Node[]): UnfollowedPull[] {
  const rootsByService = new Map<string, Node[]>();
  for (const node of nodes) {
    if (!isRoot(node) || node.role !== undefined || node.span.kind === 'SERVER' || node.span.kind === 'CONSUMER') continue;
    const list = rootsByService.get(node.span.serviceName) ?? [];
    list.push(node);
    rootsByService.set(node.span.serviceName, list);
  }
  const groups = new Map<string, Node[]>();
  for (const receiver of receivers) {
    if (receiver.channel!.type !== 'messaging' || (isRoot(receiver) && linksOf(receiver).length === 0)) continue;
    const key = `${receiver.span.serviceName}|${receiver.groupKey}|${receiver.operation}`;
    const list = groups.get(key) ?? [];
    list.push(receiver);
    groups.set(key, list);
  }
  const found: UnfollowedPull[] = [];
  for (const group of groups.values()) {
    const first = group[0]!;
    const roots = rootsByService.get(first.span.serviceName);
    if (roots === undefined) continue;
    group.sort((a, b) => a.span.startTimeMs - b.span.startTimeMs);
    const used = new Set<Node>();
    const examples: UnfollowedPull['examples'] = [];
    let outside = 0;
    for (const [index, receiver] of group.entries()) {
      // Same service, same clock: a span that began before the pull is the caller's, not work after it.
      const from = receiver.span.startTimeMs;
      const until = receiver.span.startTimeMs + PULL_WORK_WINDOW_MS;
      const nextPull = group[index + 1]?.span.startTimeMs ?? Infinity;
      const work = roots
        .filter((root) => !used.has(root) && root.span.traceId !== receiver.span.traceId)
        .filter((root) => root.span.startTimeMs >= from && root.span.startTimeMs <= until && root.span.startTimeMs < nextPull)
        .filter((root) => !group.some((other) => other !== receiver && other.span.startTimeMs > root.span.startTimeMs && other.span.startTimeMs < root.span.endTimeMs))
        .sort((a, b) => a.span.startTimeMs - b.span.startTimeMs)[0];
      if (work === undefined) continue;
      used.add(work);
      outside += 1;
      if (examples.length < MAX_EXAMPLES) examples.push({ consumer: ref(receiver), work: ref(work) });
    }
    if (outside === 0 || outside < group.length * INFERENCE_MIN_SHARE) continue;
    const channel = first.channel!;
    found.push({
      channel,
      consumerService: first.span.serviceName,
      consumerOperation: first.operation,
      messages: group.length,
      outside,
      examples,
      fix: PULL_FIXES[first.system ?? ''] ?? GENERIC_PULL_FIX,
      message: `work after ${channel.label} \`${channel.destination}\` in service \`${first.span.serviceName}\` (${first.operation}) starts a new trace: ${outside} of ${group.length} messages.`,
    });
  }
  return found.sort((a, b) => b.outside - a.outside || a.consumerService.localeCompare(b.consumerService));
}

/** Section 2: how many of each service's consumer spans start a new trace. */
function rootRatiosOf(receivers: readonly Node[], threshold: number): ServiceRootRatio[] {
  const ratios = new Map<string, ServiceRootRatio>();
  for (const receiver of receivers) {
    if (receiver.channel!.type !== 'messaging') continue;
    const service = receiver.span.serviceName;
    const row = ratios.get(service) ?? { serviceName: service, consumerSpans: 0, roots: 0, linkedRoots: 0, ratio: 0, flagged: false };
    row.consumerSpans += 1;
    if (isRoot(receiver)) {
      if (linksOf(receiver).length > 0) row.linkedRoots += 1;
      else row.roots += 1;
    }
    ratios.set(service, row);
  }
  const rows = [...ratios.values()].sort((a, b) => a.serviceName.localeCompare(b.serviceName));
  for (const row of rows) {
    row.ratio = row.roots / row.consumerSpans;
    row.flagged = row.ratio > threshold;
  }
  return rows;
}

/** Section 3: spans whose parent never arrived, per service. */
function orphansOf(nodes: readonly Node[], byKey: ReadonlyMap<string, Node>): OrphanGroup[] {
  const groups = new Map<string, { group: OrphanGroup; parents: Set<string>; traces: Set<string>; names: Map<string, number> }>();
  for (const node of nodes) {
    if (node.parentKey === undefined || byKey.has(node.parentKey)) continue;
    const service = node.span.serviceName;
    let entry = groups.get(service);
    if (entry === undefined) {
      entry = {
        group: { serviceName: service, spans: 0, missingParents: 0, traces: 0, remoteParent: 0, localParent: 0, examples: [] },
        parents: new Set(),
        traces: new Set(),
        names: new Map(),
      };
      groups.set(service, entry);
    }
    entry.group.spans += 1;
    // Entry spans are parented from another process; any other span by its own process.
    if (node.span.kind === 'CONSUMER' || node.span.kind === 'SERVER') entry.group.remoteParent += 1;
    else entry.group.localParent += 1;
    entry.parents.add(node.parentKey);
    entry.traces.add(node.span.traceId);
    entry.names.set(node.span.name, (entry.names.get(node.span.name) ?? 0) + 1);
  }
  return [...groups.values()]
    .map(({ group, parents, traces, names }) => ({
      ...group,
      missingParents: parents.size,
      traces: traces.size,
      examples: [...names]
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, MAX_EXAMPLES)
        .map(([name, count]) => ({ name, count })),
    }))
    .sort((a, b) => b.spans - a.spans || a.serviceName.localeCompare(b.serviceName));
}

/** Section 5: traces that never end, or a poll loop that parents every message it handles. */
function neverEndingTracesOf(
  nodes: readonly Node[],
  receivers: readonly Node[],
  byKey: ReadonlyMap<string, Node>,
  options: ResolvedDoctorOptions,
): NeverEndingTrace[] {
  const traces = new Map<string, Node[]>();
  for (const node of nodes) {
    const list = traces.get(node.span.traceId) ?? [];
    list.push(node);
    traces.set(node.span.traceId, list);
  }
  const consumerChildren = new Map<string, Node[]>();
  for (const receiver of receivers) {
    if (receiver.parentKey === undefined || receiver.channel!.type !== 'messaging') continue;
    const list = consumerChildren.get(receiver.parentKey) ?? [];
    list.push(receiver);
    consumerChildren.set(receiver.parentKey, list);
  }
  const loops = new Map<string, NonNullable<NeverEndingTrace['loop']>>();
  for (const [parentKey, children] of consumerChildren) {
    const parent = byKey.get(parentKey);
    // A send (a batch fanning out) or a batch consumer span legitimately parents many consumers.
    if (parent !== undefined && (parent.role !== undefined || parent.span.attributes?.['messaging.destination.name'] !== undefined)) continue;
    const service = parent?.span.serviceName ?? children[0]!.span.serviceName;
    const sameService = children.filter((child) => child.span.serviceName === service).length;
    if (sameService <= options.maxLoopChildren) continue;
    const traceId = children[0]!.span.traceId;
    if ((loops.get(traceId)?.consumerChildren ?? 0) >= sameService) continue;
    loops.set(traceId, {
      spanId: parentKey.slice(parentKey.indexOf(':') + 1),
      name: parent?.span.name,
      serviceName: service,
      consumerChildren: sameService,
    });
  }
  const found: NeverEndingTrace[] = [];
  for (const [traceId, members] of traces) {
    let first = members[0]!;
    let end = -Infinity;
    for (const member of members) {
      if (member.span.startTimeMs < first.span.startTimeMs || (member.span.startTimeMs === first.span.startTimeMs && isRoot(member))) first = member;
      end = Math.max(end, member.span.endTimeMs);
    }
    const durationMs = end - first.span.startTimeMs;
    const reasons: NeverEndingTrace['reasons'] = [];
    if (durationMs > options.maxTraceMs) reasons.push('duration');
    const loop = loops.get(traceId);
    if (loop !== undefined) reasons.push('poll-loop');
    if (reasons.length === 0) continue;
    found.push({
      traceId,
      first: ref(first),
      durationMs,
      spanCount: members.length,
      services: [...new Set(members.map((member) => member.span.serviceName))].sort(),
      reasons,
      ...(loop ? { loop } : {}),
    });
  }
  return found.sort((a, b) => b.durationMs - a.durationMs || a.traceId.localeCompare(b.traceId));
}

/**
 * Pairs each receiver, in start order, with the earliest send (sorted by start) that still has
 * room and that it started within: `send.start - before <= receiver.start <= send.end + after`.
 */
function matchByTime(
  sends: readonly Node[],
  receivers: readonly Node[],
  window: { before: number; after: (receiver: Node) => number },
  accept: (send: Node, receiver: Node) => boolean = () => true,
): Array<[Node, Node]> {
  const room = sends.map((send) => send.capacity);
  const ordered = [...receivers].sort((a, b) => a.span.startTimeMs - b.span.startTimeMs);
  const pairs: Array<[Node, Node]> = [];
  let first = 0;
  for (const receiver of ordered) {
    const start = receiver.span.startTimeMs;
    const after = window.after(receiver);
    // Receivers only get later, so a full or expired send at the front is done with for good.
    while (first < sends.length && (room[first] === 0 || sends[first]!.span.endTimeMs + after < start)) first++;
    for (let index = first; index < sends.length; index++) {
      const send = sends[index]!;
      if (send.span.startTimeMs - window.before > start) break;
      if (room[index] === 0 || send.span.endTimeMs + after < start || !accept(send, receiver)) continue;
      room[index]! -= 1;
      pairs.push([send, receiver]);
      break;
    }
  }
  return pairs;
}
