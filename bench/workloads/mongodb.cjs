// 1 KiB documents enqueued with insertMany (100 per call, inside a request span) into an
// opted-in collection and claimed one at a time with findOneAndUpdate, the usual queue pattern.
const { MongoClient } = require('mongodb');
const { brokerAddresses } = require('@threadline/testing');
const { PAYLOAD, WIRE_CONTEXT, inRequest, measure, RUN_ID } = require('./common.cjs');

async function main() {
  const client = new MongoClient(brokerAddresses().mongodb.url);
  await client.connect();
  const queue = client.db('bench').collection('queue');
  const body = PAYLOAD.toString('utf8');
  const run = RUN_ID;
  let claimed = 0;
  await measure({
    async send(from, count) {
      for (let sent = 0; sent < count; sent += 100) {
        const documents = Array.from({ length: Math.min(100, count - sent) }, () => (WIRE_CONTEXT ? { run, state: 'new', body, _otel: { traceparent: WIRE_CONTEXT } } : { run, state: 'new', body }));
        await inRequest(() => queue.insertMany(documents));
      }
    },
    // Claims drive consumption: each call claims until `total` documents have been claimed.
    async consumedAtLeast(total) {
      while (claimed < total) {
        const document = await queue.findOneAndUpdate({ run, state: 'new' }, { $set: { state: 'done' } }, { returnDocument: 'after' });
        if (!document) throw new Error(`queue ran dry after ${claimed} claims`);
        if (document.body.length !== body.length) throw new Error('payload changed');
        claimed++;
      }
    },
  });
  await queue.deleteMany({ run });
  await client.close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
