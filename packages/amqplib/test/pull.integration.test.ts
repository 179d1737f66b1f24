// `const msg = await ch.get(q)` keeps the work after the await in the message's trace, with no
// code change, until ack (or, with noAck, the next get). ESM and CJS fixtures under the register
// hook, real RabbitMQ.
import { join } from 'node:path';
import { assertDescends, assertOutsideTraces, brokerAddresses, describePullFixture } from '@threadline/testing';
import { requireRabbitMq } from './helpers';

jest.setTimeout(120000);
const FORMS = ['get', 'noAck', 'helper'];

describePullFixture(
  {
    describe: 'channel.get',
    test: 'the work after await get descends from the producer; the bad message, the code after ack and the next get do not',
    dir: join(__dirname, 'fixtures/pull'),
    service: 'amqp-pull',
    propagationOnly: 'pull.mjs',
    before: requireRabbitMq,
    env: ({ mode }) => ({ AMQP_URL: brokerAddresses().rabbitmq.url, QUEUE_PREFIX: `pull-${Date.now()}-${mode}` }),
    until: FORMS.map((form) => `done:${form}`),
  },
  ({ mode, spans, producers }) => {
    for (const form of FORMS) {
      for (const index of [0, 2]) {
        assertDescends(spans, `produce:${form}:${index}`, `work:${form}:${index}`);
        assertDescends(spans, `work:${form}:${index}`, `inner:${form}:${index}`);
      }
      assertOutsideTraces(spans, `work:${form}:1`, producers);
      assertOutsideTraces(spans, `done:${form}`, producers);
      if (form !== 'noAck') for (const index of [0, 1, 2]) assertOutsideTraces(spans, `after:${form}:${index}`, producers);
    }
    if (mode === 'propagation-only') {
      expect(spans.filter((span) => span.kind !== 'INTERNAL')).toHaveLength(0);
      expect(spans.find((span) => span.name === 'work:get:0')!.parentSpanId).toBe(spans.find((span) => span.name === 'produce:get:0')!.spanId);
    }
  },
);
