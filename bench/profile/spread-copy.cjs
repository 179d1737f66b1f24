// Profiling aid (not part of `pnpm bench`): what it costs to add keys to a copy of a small object,
// by how the copy was made. On Node 20, keys added to a `{ ...source }` copy take V8's slow path;
// this is why carrier's copyForInjection builds its copies key by key. `node profile/spread-copy.cjs`
const headers = { app: 'bench' };
const attributes = { 'server.address': '127.0.0.1', 'server.port': 9092, 'messaging.client.id': 'bench' };
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function bench(label, fn) {
  let sink;
  for (let i = 0; i < 1e5; i++) sink = fn();
  const started = process.hrtime.bigint();
  const n = 1e6;
  for (let i = 0; i < n; i++) sink = fn();
  if (sink === undefined) throw new Error('unreachable');
  console.log(label.padEnd(42), (Number(process.hrtime.bigint() - started) / n).toFixed(0), 'ns');
}

bench('spread copy, one key added', () => {
  const copy = { ...headers };
  copy.traceparent = TRACEPARENT;
  return copy;
});
bench('key-by-key copy, one key added', () => {
  const copy = {};
  for (const key of Object.keys(headers)) copy[key] = headers[key];
  copy.traceparent = TRACEPARENT;
  return copy;
});
bench('spread copy, two keys added', () => {
  const copy = { ...attributes };
  copy['messaging.consumer.group.name'] = 'g';
  copy['messaging.destination.partition.id'] = '0';
  return copy;
});
bench('Object.assign copy, two keys added', () => {
  const copy = Object.assign({}, attributes);
  copy['messaging.consumer.group.name'] = 'g';
  copy['messaging.destination.partition.id'] = '0';
  return copy;
});
bench('spread copy, an existing key overwritten', () => {
  const copy = { ...headers };
  copy.app = 'other';
  return copy;
});
