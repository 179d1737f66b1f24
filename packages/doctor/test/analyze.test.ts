import { DEFAULT_OPTIONS, diagnose, PULL_WORK_WINDOW_MS, resolveOptions } from '../src/analyze';
import { formatReport } from '../src/format';
import type { DoctorSpan } from '../src/types';
import { newSpanId, newTraceId, pipeline, processSpan, send, span, T0 } from './spans';

describe('healthy input', () => {
  test('a pipeline where every hop is parent/child is clean', () => {
    const { spans } = pipeline();
    const report = diagnose(spans);
    expect(report.clean).toBe(true);
    expect(report.gaps).toBe(0);
    expect(report.brokenHops).toEqual([]);
    expect(report.unconsumedSends).toEqual([]);
    expect(report.orphans).toEqual([]);
    expect(report.linkedHops).toEqual([]);
    expect(report.neverEndingTraces).toEqual([]);
    expect(report.rootRatios).toEqual([
      { serviceName: 'ledger', consumerSpans: 3, roots: 0, linkedRoots: 0, ratio: 0, flagged: false },
      { serviceName: 'payments', consumerSpans: 3, roots: 0, linkedRoots: 0, ratio: 0, flagged: false },
    ]);
    expect(report.summary).toEqual({ spans: spans.length, traces: 3, services: ['api', 'ledger', 'payments'] });
    expect(report.options).toEqual(DEFAULT_OPTIONS);
  });

  test('an empty input is clean', () => {
    expect(diagnose([]).clean).toBe(true);
  });

  test('a send nobody in the input consumed is information, not a gap', () => {
    const root = span({ name: 'job', service: 'api', start: 0 });
    const report = diagnose([root, send({ service: 'api', system: 'kafka', destination: 'audit', parent: root, start: 1 })]);
    expect(report.clean).toBe(true);
    expect(report.brokenHops).toEqual([]);
    expect(report.unconsumedSends).toEqual([
      { channel: { type: 'messaging', system: 'kafka', destination: 'audit', label: 'kafka topic' }, producerService: 'api', messages: 1 },
    ]);
  });

  test('the same span twice (overlapping export files) counts once', () => {
    const { spans } = pipeline();
    const report = diagnose([...spans, ...spans.map((s) => ({ ...s }))]);
    expect(report.clean).toBe(true);
    expect(report.summary.spans).toBe(spans.length);
  });
});

/**
 * A worker pulls `count` messages of `system` one by one (await get/receive/claim). The process span
 * is the producer's child; `workFollowed` says whether the work span after it is its child too
 * (followed) or a new root (the pull was not followed).
 */
function pulls(system: string, count: number, workFollowed: (index: number) => boolean, options: { loopSpan?: boolean } = {}) {
  const spans: DoctorSpan[] = [];
  for (let index = 0; index < count; index++) {
    const at = index * 200;
    const request = span({ name: 'POST /jobs', service: 'api', kind: 'SERVER', start: at });
    const sent = send({ service: 'api', system, destination: 'jobs', parent: request, start: at + 1 });
    const loop = options.loopSpan ? span({ name: 'poll', service: 'worker', start: at + 9, end: at + 60 }) : undefined;
    const processed = processSpan({ service: 'worker', system, destination: 'jobs', parent: sent, start: at + 10, end: at + 12 });
    const work = workFollowed(index)
      ? span({ name: 'handle job', service: 'worker', parent: processed, start: at + 13, end: at + 40 })
      : span({ name: 'handle job', service: 'worker', start: at + 13, end: at + 40 });
    spans.push(request, sent, processed, work, ...(loop ? [loop] : []));
  }
  return spans;
}

describe('1d. pulls whose work left the message', () => {
  test.each([
    ['kafka', "withMessageContext from '@threadline/kafkajs'"],
    ['rabbitmq', "withMessageContext from '@threadline/amqplib'"],
    ['aws_sqs', "withMessageContext from '@threadline/sqs'"],
    ['mongodb', "withDocumentContext from '@threadline/mongodb-queue'"],
    ['nats', 'propagation.extract'],
  ])('%s: the hop is named, with the one line that fixes it', (system, fix) => {
    const spans = pulls(system, 4, () => false);
    const report = diagnose(spans);
    expect(report.unfollowedPulls).toHaveLength(1);
    const [pull] = report.unfollowedPulls;
    expect(pull).toMatchObject({ consumerService: 'worker', consumerOperation: 'process', messages: 4, outside: 4 });
    expect(pull!.channel.destination).toBe('jobs');
    expect(pull!.fix).toContain(fix);
    expect(pull!.message).toMatch(/^work after .* `jobs` in service `worker` \(process\) starts a new trace: 4 of 4 messages\.$/);
    const firstWork = spans.find((s) => s.name === 'handle job')!;
    expect(pull!.examples[0]!.work).toMatchObject({ spanId: firstWork.spanId, name: 'handle job' });
    expect(report.brokenHops).toEqual([]);
    expect(report.gaps).toBe(1);
    expect(report.clean).toBe(false);
    const text = formatReport(report);
    expect(text).toContain(`✗ ${pull!.message}`);
    expect(text).toContain(`fix: ${pull!.fix}`);
  });

  test('followed pulls (the work is the process span’s child) are clean', () => {
    const report = diagnose(pulls('rabbitmq', 4, () => true));
    expect(report.unfollowedPulls).toEqual([]);
    expect(report.clean).toBe(true);
  });

  test('one stray new trace among followed pulls is not blamed (below half the messages)', () => {
    const report = diagnose(pulls('aws_sqs', 4, (index) => index !== 2));
    expect(report.unfollowedPulls).toEqual([]);
  });

  test('a poll-loop span around the pull is the caller, not work after it', () => {
    const report = diagnose(pulls('mongodb', 4, () => true, { loopSpan: true }));
    expect(report.unfollowedPulls).toEqual([]);
  });

  test(`a new trace more than ${PULL_WORK_WINDOW_MS} ms after the pull is not tied to it`, () => {
    const spans: DoctorSpan[] = [];
    const sent = send({ service: 'api', system: 'kafka', destination: 'jobs', start: 0 });
    const processed = processSpan({ service: 'worker', system: 'kafka', destination: 'jobs', parent: sent, start: 10 });
    spans.push(sent, processed, span({ name: 'nightly cleanup', service: 'worker', start: 10 + PULL_WORK_WINDOW_MS + 1 }));
    expect(diagnose(spans).unfollowedPulls).toEqual([]);
  });

  test('a consumer span that arrived without context is a broken hop, not an unfollowed pull', () => {
    const sent = send({ service: 'api', system: 'kafka', destination: 'jobs', start: 0 });
    const processed = processSpan({ service: 'worker', system: 'kafka', destination: 'jobs', start: 10 });
    const work = span({ name: 'handle job', service: 'worker', start: 13 });
    const report = diagnose([sent, processed, work]);
    expect(report.unfollowedPulls).toEqual([]);
    expect(report.brokenHops).toHaveLength(1);
  });
});

describe('1. broken hops', () => {
  test('instrumentation missing on the consumer: exactly that hop is named', () => {
    const { spans, sends } = pipeline({ payments: 'no-instrumentation' });
    const report = diagnose(spans);
    expect(report.brokenHops).toHaveLength(1);
    const [hop] = report.brokenHops;
    expect(hop!.message).toBe(
      'trace breaks at kafka topic `orders` between service `api` (send) and service `payments` (process): 3 of 3 messages.',
    );
    expect(hop).toMatchObject({
      channel: { type: 'messaging', system: 'kafka', destination: 'orders', label: 'kafka topic' },
      producerService: 'api',
      consumerService: 'payments',
      broken: 3,
      messages: 3,
      evidence: 'no-consumer-span',
    });
    // Each example pairs a real send with the new trace that followed it.
    const firstHandler = spans.find((s) => s.name === 'charge order')!;
    expect(hop!.examples[0]).toEqual({
      producer: { traceId: sends[0]!.traceId, spanId: sends[0]!.spanId, name: 'send orders', serviceName: 'api' },
      consumer: { traceId: firstHandler.traceId, spanId: firstHandler.spanId, name: 'charge order', serviceName: 'payments' },
    });
    // The rabbitmq hop downstream is intact, so nothing else is reported.
    expect(report.gaps).toBe(1);
    expect(report.clean).toBe(false);
    expect(report.unconsumedSends).toEqual([]);
    expect(report.rootRatios.find((row) => row.serviceName === 'ledger')!.flagged).toBe(false);
  });

  test('instrumentation missing and no span around the handler: the new traces start with the next send', () => {
    const { spans } = pipeline({ payments: 'no-instrumentation', handlerSpan: false });
    const report = diagnose(spans);
    expect(report.brokenHops.map((hop) => hop.message)).toEqual([
      'trace breaks at kafka topic `orders` between service `api` (send) and service `payments` (process): 3 of 3 messages.',
    ]);
    expect(report.brokenHops[0]!.examples.map((example) => example.consumer.name)).toEqual(['send payments', 'send payments', 'send payments']);
    expect(report.gaps).toBe(1);
  });

  test('a consumer span that starts a new trace is matched to the send by time', () => {
    const { spans, sends } = pipeline({ payments: 'no-context' });
    const report = diagnose(spans);
    expect(report.brokenHops).toHaveLength(1);
    expect(report.brokenHops[0]).toMatchObject({
      producerService: 'api',
      consumerService: 'payments',
      broken: 3,
      messages: 3,
      evidence: 'time-window',
      message: 'trace breaks at kafka topic `orders` between service `api` (send) and service `payments` (process): 3 of 3 messages.',
    });
    const consumers = spans.filter((s) => s.name === 'process orders');
    expect(report.brokenHops[0]!.examples.map((example) => [example.producer.spanId, example.consumer.spanId])).toEqual(
      sends.map((sendSpan, index) => [sendSpan.spanId, consumers[index]!.spanId]),
    );
    // The same service also shows in section 2.
    expect(report.rootRatios.find((row) => row.serviceName === 'payments')).toMatchObject({ roots: 3, ratio: 1, flagged: true });
    expect(report.gaps).toBe(2);
  });

  test('only the messages that lost their context are counted', () => {
    const { spans } = pipeline({ messages: 4 });
    // The third message arrives without context: its consumer span is a new trace.
    const broken = spans.filter((s) => s.name === 'process orders')[2]!;
    const orphanedChildren = spans.filter((s) => s.parentSpanId === broken.spanId);
    const newTrace = newTraceId();
    broken.parentSpanId = undefined;
    const retraced = new Set([broken.spanId]);
    for (const s of spans) {
      if (s === broken || retraced.has(s.parentSpanId ?? '') || orphanedChildren.includes(s)) {
        s.traceId = newTrace;
        retraced.add(s.spanId);
      }
    }
    const report = diagnose(spans);
    expect(report.brokenHops.map((hop) => hop.message)).toEqual([
      'trace breaks at kafka topic `orders` between service `api` (send) and service `payments` (process): 1 of 4 messages.',
    ]);
    expect(report.orphans).toEqual([]);
    expect(report.rootRatios.find((row) => row.serviceName === 'payments')).toMatchObject({ roots: 1, consumerSpans: 4, ratio: 0.25, flagged: false });
  });

  test('the same message id ties the two sides together whatever the delay', () => {
    const publish = send({ service: 'billing', system: 'rabbitmq', destination: 'invoices', messageId: 'inv-42', start: 0 });
    const decoy = send({ service: 'billing', system: 'rabbitmq', destination: 'invoices', messageId: 'inv-41', start: 100_000 });
    // An hour later, well outside the time window; a different send is closer in time.
    const consume = processSpan({ service: 'mailer', system: 'rabbitmq', destination: 'invoices:mail', messageId: 'inv-42', start: 100_010 });
    const report = diagnose([publish, decoy, consume]);
    expect(report.brokenHops).toHaveLength(1);
    expect(report.brokenHops[0]).toMatchObject({
      evidence: 'message-id',
      message: 'trace breaks at rabbitmq exchange `invoices` between service `billing` (send) and service `mailer` (process): 1 of 1 messages.',
    });
    expect(report.brokenHops[0]!.examples[0]!.producer.spanId).toBe(publish.spanId);
  });

  test('system names read as the destination kind', () => {
    const labels = ['aws_sqs', 'mongodb', 'kafka', 'rabbitmq', 'nats', 'custom'].map((system) => {
      const producer = send({ service: 'a', system, destination: 'd', start: 0 });
      const consumer = processSpan({ service: 'b', system, destination: 'd', start: 10 });
      return diagnose([producer, consumer]).brokenHops[0]!.channel.label;
    });
    expect(labels).toEqual(['sqs queue', 'mongodb collection', 'kafka topic', 'rabbitmq exchange', 'nats subject', 'custom destination']);
  });

  test('a queue named by URL on one side and by name on the other still matches', () => {
    const producer = send({ service: 'a', system: 'aws_sqs', destination: 'http://127.0.0.1:9324/000000000000/jobs', start: 0 });
    const consumer = processSpan({ service: 'b', system: 'aws_sqs', destination: 'jobs', start: 10 });
    expect(diagnose([producer, consumer]).brokenHops[0]).toMatchObject({ producerService: 'a', consumerService: 'b', broken: 1 });
  });

  test('a consumer that starts after the time window is not matched (but its service is flagged)', () => {
    const producer = send({ service: 'a', system: 'kafka', destination: 't', start: 0, end: 10 });
    const consumer = processSpan({ service: 'b', system: 'kafka', destination: 't', start: 10 + 10_001 });
    const report = diagnose([producer, consumer]);
    expect(report.brokenHops).toEqual([]);
    expect(report.rootRatios[0]).toMatchObject({ serviceName: 'b', flagged: true });
    expect(diagnose([producer, consumer], { windowMs: 20_000 }).brokenHops).toHaveLength(1);
  });

  test('a consumer that starts before the send (beyond clock skew) is not matched', () => {
    const producer = send({ service: 'a', system: 'kafka', destination: 't', start: 1000 });
    const consumer = processSpan({ service: 'b', system: 'kafka', destination: 't', start: 800 });
    expect(diagnose([producer, consumer]).brokenHops).toEqual([]);
    expect(diagnose([producer, consumer], { clockSkewMs: 300 }).brokenHops).toHaveLength(1);
  });

  test('a batch send carries as many messages as its message count', () => {
    const producer = send({ service: 'a', system: 'kafka', destination: 't', start: 0, batch: 3 });
    const consumers = [20, 21, 22, 23].map((start) => processSpan({ service: 'b', system: 'kafka', destination: 't', start }));
    const report = diagnose([producer, ...consumers]);
    expect(report.brokenHops[0]).toMatchObject({ broken: 3, messages: 3 });
  });

  test('two consumer groups on one topic: only the broken one is named', () => {
    const { spans, sends } = pipeline({ messages: 2 });
    const audit = sends.map((_send, index) =>
      processSpan({ service: 'audit', system: 'kafka', destination: 'orders', start: index * 1000 + 40 }),
    );
    const report = diagnose([...spans, ...audit]);
    expect(report.brokenHops.map((hop) => hop.message)).toEqual([
      'trace breaks at kafka topic `orders` between service `api` (send) and service `audit` (process): 2 of 2 messages.',
    ]);
  });

  test('a healthy consumer group does not hide another group with no instrumentation', () => {
    const { spans, sends } = pipeline({ payments: 'no-instrumentation' });
    const audit = sends.map((sendSpan) =>
      processSpan({ service: 'audit', system: 'kafka', destination: 'orders', parent: sendSpan, start: sendSpan.startTimeMs - T0 + 15 }),
    );
    const report = diagnose([...spans, ...audit]);
    expect(report.brokenHops.map((hop) => hop.message)).toEqual([
      'trace breaks at kafka topic `orders` between service `api` (send) and service `payments` (process): 3 of 3 messages.',
    ]);
    expect(report.gaps).toBe(1);
  });

  test('rabbitmq: the consumer destination `exchange:queue` matches the producer `exchange`', () => {
    const producer = send({ service: 'a', system: 'rabbitmq', destination: 'events', start: 0 });
    const consumer = processSpan({ service: 'b', system: 'rabbitmq', destination: 'events:b-queue', start: 10 });
    expect(diagnose([producer, consumer]).brokenHops[0]!.channel.destination).toBe('events');
  });

  test('different messaging systems with the same destination name do not match', () => {
    const producer = send({ service: 'a', system: 'kafka', destination: 'orders', start: 0 });
    const consumer = processSpan({ service: 'b', system: 'rabbitmq', destination: 'orders', start: 10 });
    expect(diagnose([producer, consumer]).brokenHops).toEqual([]);
  });

  test('an HTTP server span that starts a new trace inside a client call is a broken hop', () => {
    const caller = span({ name: 'checkout', service: 'web', start: 0, end: 100 });
    const client = span({
      name: 'GET',
      service: 'web',
      kind: 'CLIENT',
      parent: caller,
      start: 10,
      end: 90,
      attributes: { 'http.request.method': 'GET', 'url.full': 'http://stock:8080/stock/42?fresh=1' },
    });
    const server = span({ name: 'GET /stock/:id', service: 'stock', kind: 'SERVER', start: 20, end: 80, attributes: { 'http.request.method': 'GET', 'url.path': '/stock/42' } });
    const report = diagnose([caller, client, server]);
    expect(report.brokenHops.map((hop) => hop.message)).toEqual([
      'trace breaks at http endpoint `GET /stock/42` between service `web` (call) and service `stock` (serve): 1 of 1 requests.',
    ]);
    const healthy = diagnose([caller, client, { ...server, traceId: client.traceId, parentSpanId: client.spanId }]);
    expect(healthy.clean).toBe(true);
  });

  test('a busy service whose new traces have nothing to do with the sends is not blamed', () => {
    const spans: DoctorSpan[] = [];
    for (let index = 0; index < 3; index++) spans.push(send({ service: 'api', system: 'kafka', destination: 'orders', start: index * 1000 }));
    // A timer every 100 ms: some of its traces happen to start after a send.
    for (let at = 0; at < 3000; at += 100) spans.push(span({ name: 'tick', service: 'cron', start: at + 50 }));
    const report = diagnose(spans);
    expect(report.brokenHops).toEqual([]);
    expect(report.unconsumedSends).toHaveLength(1);
  });

  test("the producer's own new traces are not taken for a consumer", () => {
    const spans: DoctorSpan[] = [];
    for (let index = 0; index < 3; index++) {
      const root = span({ name: 'tick', service: 'api', start: index * 100 });
      spans.push(root, send({ service: 'api', system: 'kafka', destination: 'orders', parent: root, start: index * 100 + 1 }));
    }
    expect(diagnose(spans).brokenHops).toEqual([]);
  });
});

describe('2. root-span ratio', () => {
  const consumers = (roots: number, children: number) => {
    const spans: DoctorSpan[] = [];
    for (let index = 0; index < roots; index++) spans.push(processSpan({ service: 'worker', system: 'kafka', destination: 'jobs', start: index }));
    for (let index = 0; index < children; index++) {
      const producer = send({ service: 'api', system: 'kafka', destination: 'jobs', start: 100_000 + index * 100_000 });
      spans.push(producer, processSpan({ service: 'worker', system: 'kafka', destination: 'jobs', parent: producer, start: 100_010 + index * 100_000 }));
    }
    return spans;
  };

  test('a service whose consumer spans are mostly new traces is flagged', () => {
    const report = diagnose(consumers(3, 1));
    expect(report.rootRatios).toEqual([{ serviceName: 'worker', consumerSpans: 4, roots: 3, linkedRoots: 0, ratio: 0.75, flagged: true }]);
    expect(report.clean).toBe(false);
    // No send is near these roots: nothing to name as a hop.
    expect(report.brokenHops).toEqual([]);
  });

  test('exactly at the threshold is not flagged; a lower threshold flags it', () => {
    expect(diagnose(consumers(1, 1)).rootRatios[0]).toMatchObject({ ratio: 0.5, flagged: false });
    expect(diagnose(consumers(1, 1), { rootRatio: 0.4 }).rootRatios[0]!.flagged).toBe(true);
  });

  test('an empty poll (a receive of zero messages) is not a consumer span', () => {
    const empty = span({
      name: 'receive jobs',
      service: 'worker',
      kind: 'CLIENT',
      start: 0,
      attributes: { 'messaging.system': 'aws_sqs', 'messaging.destination.name': 'jobs', 'messaging.operation.type': 'receive', 'messaging.batch.message_count': 0 },
    });
    expect(diagnose([empty]).rootRatios).toEqual([]);
  });
});

describe('3. orphans', () => {
  test('spans whose parent never arrived are grouped per service', () => {
    const { spans } = pipeline({ messages: 2 });
    // The api service exports nothing: its send spans are gone.
    const withoutApi = spans.filter((s) => s.serviceName !== 'api');
    const lostLocalParent = span({ name: 'db query', service: 'ledger', kind: 'CLIENT', parentSpanId: newSpanId(), start: 5 });
    const report = diagnose([...withoutApi, lostLocalParent]);
    expect(report.orphans).toEqual([
      {
        serviceName: 'payments',
        spans: 2,
        missingParents: 2,
        traces: 2,
        remoteParent: 2,
        localParent: 0,
        examples: [{ name: 'process orders', count: 2 }],
      },
      { serviceName: 'ledger', spans: 1, missingParents: 1, traces: 1, remoteParent: 0, localParent: 1, examples: [{ name: 'db query', count: 1 }] },
    ]);
    expect(report.brokenHops).toEqual([]);
    expect(report.gaps).toBe(2);
  });

  test('an all-zero parent id means no parent', () => {
    const root = span({ name: 'root', service: 'a', start: 0 });
    root.parentSpanId = '0000000000000000';
    expect(diagnose([root]).orphans).toEqual([]);
  });
});

describe('4. links instead of parents', () => {
  test('useLinks hops are reported as links, not breaks', () => {
    const { spans } = pipeline({ payments: 'links' });
    const report = diagnose(spans);
    expect(report.brokenHops).toEqual([]);
    expect(report.linkedHops).toEqual([
      {
        channel: { type: 'messaging', system: 'kafka', destination: 'orders', label: 'kafka topic' },
        producerService: 'api',
        consumerService: 'payments',
        messages: 3,
        consumerSpans: 3,
        message: 'joined by link at kafka topic `orders`: service `api` (send) → service `payments` (process): 3 messages in 3 new traces.',
      },
    ]);
    expect(report.rootRatios.find((row) => row.serviceName === 'payments')).toMatchObject({ roots: 0, linkedRoots: 3, ratio: 0, flagged: false });
    expect(report.unconsumedSends).toEqual([]);
    expect(report.clean).toBe(true);
  });

  test('a batch span linking several messages counts each message', () => {
    const sends = [0, 1, 2].map((index) => send({ service: 'api', system: 'kafka', destination: 'orders', start: index }));
    const batch = span({
      name: 'process orders',
      service: 'payments',
      kind: 'CONSUMER',
      start: 50,
      links: sends,
      attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': 'orders', 'messaging.operation.type': 'process', 'messaging.batch.message_count': 3 },
    });
    const report = diagnose([...sends, batch]);
    expect(report.linkedHops[0]).toMatchObject({ messages: 3, consumerSpans: 1 });
    expect(report.clean).toBe(true);
  });

  test('a link to a span that is not in the input is still a link', () => {
    const missing = send({ service: 'api', system: 'kafka', destination: 'orders', start: 0 });
    const consumer = processSpan({ service: 'payments', system: 'kafka', destination: 'orders', start: 10, links: [missing] });
    const report = diagnose([consumer]);
    expect(report.linkedHops).toHaveLength(1);
    expect(report.linkedHops[0]!.producerService).toBeUndefined();
    expect(report.linkedHops[0]!.message).toContain('a span not in the input');
    expect(report.clean).toBe(true);
  });
});

describe('5. never-ending traces', () => {
  test('a trace longer than maxTraceMs is reported', () => {
    const root = span({ name: 'session', service: 'gateway', start: 0, end: 11 * 60_000 });
    const child = span({ name: 'work', service: 'gateway', parent: root, start: 10 });
    const short = span({ name: 'quick', service: 'gateway', start: 0, end: 1000 });
    const report = diagnose([root, child, short]);
    expect(report.neverEndingTraces).toEqual([
      {
        traceId: root.traceId,
        first: { traceId: root.traceId, spanId: root.spanId, name: 'session', serviceName: 'gateway' },
        durationMs: 11 * 60_000,
        spanCount: 2,
        services: ['gateway'],
        reasons: ['duration'],
      },
    ]);
    expect(diagnose([root, child], { maxTraceMs: 12 * 60_000 }).neverEndingTraces).toEqual([]);
    expect(diagnose([short], { maxTraceMs: 500 }).neverEndingTraces).toHaveLength(1);
  });

  test('a poll-loop span that parents many unrelated consumer spans is reported', () => {
    const loop = span({ name: 'consume loop', service: 'worker', start: 0, end: 5000 });
    const children = Array.from({ length: 11 }, (_, index) =>
      processSpan({ service: 'worker', system: 'kafka', destination: 'jobs', parent: loop, start: 100 + index * 100 }),
    );
    const report = diagnose([loop, ...children]);
    expect(report.neverEndingTraces).toHaveLength(1);
    expect(report.neverEndingTraces[0]).toMatchObject({
      traceId: loop.traceId,
      reasons: ['poll-loop'],
      loop: { spanId: loop.spanId, name: 'consume loop', serviceName: 'worker', consumerChildren: 11 },
    });
    expect(diagnose([loop, ...children.slice(0, 10)]).neverEndingTraces).toEqual([]);
    expect(diagnose([loop, ...children], { maxLoopChildren: 11 }).neverEndingTraces).toEqual([]);
  });

  test('a poll loop that never ended shows as orphans and as a loop without a name', () => {
    const loopSpanId = newSpanId();
    const traceId = newTraceId();
    const children = Array.from({ length: 12 }, (_, index) =>
      processSpan({ service: 'worker', system: 'kafka', destination: 'jobs', traceId, parentSpanId: loopSpanId, start: index * 10 }),
    );
    const report = diagnose(children);
    expect(report.neverEndingTraces[0]!.loop).toEqual({ spanId: loopSpanId, name: undefined, serviceName: 'worker', consumerChildren: 12 });
    expect(report.orphans[0]).toMatchObject({ serviceName: 'worker', spans: 12, missingParents: 1, remoteParent: 12 });
  });

  test('a batch send that fans out to many consumers is not a poll loop', () => {
    const producer = send({ service: 'api', system: 'kafka', destination: 'jobs', start: 0, batch: 20 });
    const children = Array.from({ length: 20 }, (_, index) =>
      processSpan({ service: 'worker', system: 'kafka', destination: 'jobs', parent: producer, start: 10 + index }),
    );
    expect(diagnose([producer, ...children]).clean).toBe(true);
  });
});

describe('options', () => {
  test('defaults', () => {
    expect(resolveOptions()).toEqual({ windowMs: 10_000, maxTraceMs: 600_000, rootRatio: 0.5, maxLoopChildren: 10, clockSkewMs: 100 });
  });

  test.each([
    [{ windowMs: -1 }, /windowMs must be a number ≥ 0/],
    [{ maxTraceMs: Number.NaN }, /maxTraceMs/],
    [{ rootRatio: 1.5 }, /rootRatio must be between 0 and 1/],
    [{ maxLoopChildren: 2.5 }, /maxLoopChildren must be a whole number/],
    [{ clockSkewMs: '5' as unknown as number }, /clockSkewMs/],
  ])('%j is rejected', (options, message) => {
    expect(() => diagnose([], options)).toThrow(message);
  });
});
