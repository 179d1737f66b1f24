// N documents of 1 KiB enqueued with insertMany (100 per call, inside a request span) into an
// opted-in collection and claimed one at a time with findOneAndUpdate, the usual queue pattern.
const { MongoClient } = require('mongodb');
const { brokerAddresses } = require('@threadline/testing');
const { PAYLOAD, inRequest, report, now, rssAfterGc, N, RUN_ID } = require('./common.cjs');

async function main() {
  const client = new MongoClient(brokerAddresses().mongodb.url);
  await client.connect();
  const queue = client.db('bench').collection('queue');
  const body = PAYLOAD.toString('utf8');
  const run = RUN_ID;
  const cpuStart = process.cpuUsage();
  const started = now();
  for (let sent = 0; sent < N; sent += 100) {
    const documents = Array.from({ length: Math.min(100, N - sent) }, () => ({ run, state: 'new', body }));
    await inRequest(() => queue.insertMany(documents));
  }
  let claimed = 0;
  while (claimed < N) {
    const document = await queue.findOneAndUpdate({ run, state: 'new' }, { $set: { state: 'done' } }, { returnDocument: 'after' });
    if (!document) throw new Error(`queue ran dry after ${claimed} claims`);
    if (document.body.length !== body.length) throw new Error('payload changed');
    claimed++;
  }
  const seconds = now() - started;
  await queue.deleteMany({ run });
  await globalThis.__benchFlush();
  const rssAfterGcMb = await rssAfterGc();
  report({ messages: N, seconds, cpuStart, rssAfterGcMb });
  await client.close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
