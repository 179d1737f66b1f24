// Protocol-level readiness probes: each one talks the server's own protocol, so "up" means a client can really use it.
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

const HOST = '127.0.0.1';

/** Opens a TCP connection, writes `request`, and feeds the replies to `parse` until it returns a result. */
function exchange(port, request, parse, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    const finish = (err, value) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`no answer on ${HOST}:${port} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        const result = parse(buf);
        if (result !== undefined) finish(undefined, result);
      } catch (err) {
        finish(err);
      }
    });
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error(`connection to ${HOST}:${port} closed before a full answer`)));
  });
}

/** True when something accepts TCP connections on the port. */
export function portOpen(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    const done = (ok) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => done(true));
    socket.on('error', () => done(false));
  });
}

// ---- Kafka: ApiVersions v0, then Metadata v1 (a broker is only listed once it is registered and unfenced).

function kafkaRequest(apiKey, apiVersion, correlationId, body) {
  const clientId = Buffer.from('threadline-brokers');
  const header = Buffer.alloc(10);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(clientId.length, 8);
  const payload = Buffer.concat([header, clientId, body]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length, 0);
  return Buffer.concat([size, payload]);
}

function kafkaFrame(buf, correlationId) {
  if (buf.length < 4) return undefined;
  const size = buf.readInt32BE(0);
  if (buf.length < 4 + size) return undefined;
  const frame = buf.subarray(4, 4 + size);
  if (frame.readInt32BE(0) !== correlationId) throw new Error('Kafka answered with a wrong correlation id');
  return frame.subarray(4);
}

export async function probeKafka(port, timeoutMs = 3000) {
  const versions = await exchange(
    port,
    kafkaRequest(18, 0, 1, Buffer.alloc(0)),
    (buf) => {
      const body = kafkaFrame(buf, 1);
      if (!body) return undefined;
      const errorCode = body.readInt16BE(0);
      if (errorCode !== 0) throw new Error(`Kafka ApiVersions error code ${errorCode}`);
      return body.readInt32BE(2);
    },
    timeoutMs,
  );
  const allTopics = Buffer.alloc(4);
  allTopics.writeInt32BE(-1, 0);
  const brokers = await exchange(
    port,
    kafkaRequest(3, 1, 2, allTopics),
    (buf) => {
      const body = kafkaFrame(buf, 2);
      if (!body) return undefined;
      const count = body.readInt32BE(0);
      const list = [];
      let at = 4;
      for (let i = 0; i < count; i++) {
        const nodeId = body.readInt32BE(at);
        const hostLen = body.readInt16BE(at + 4);
        const host = body.toString('utf8', at + 6, at + 6 + hostLen);
        at += 6 + hostLen;
        const brokerPort = body.readInt32BE(at);
        const rackLen = body.readInt16BE(at + 4);
        at += 6 + Math.max(rackLen, 0);
        list.push({ nodeId, host, port: brokerPort });
      }
      return list;
    },
    timeoutMs,
  );
  if (brokers.length === 0) throw new Error('Kafka lists no live broker yet');
  return `${versions} API keys, broker ${brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`).join(',')}`;
}

// ---- RabbitMQ: the AMQP 0-9-1 protocol header must be answered with Connection.Start.

export function probeAmqp(port, timeoutMs = 3000) {
  return exchange(
    port,
    Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'),
    (buf) => {
      if (buf.length < 11) return undefined;
      if (buf.toString('latin1', 0, 4) === 'AMQP') throw new Error('server refused AMQP 0-9-1');
      const type = buf.readUInt8(0);
      const classId = buf.readUInt16BE(7);
      const methodId = buf.readUInt16BE(9);
      if (type !== 1 || classId !== 10 || methodId !== 10) throw new Error('expected AMQP Connection.Start');
      return 'Connection.Start received';
    },
    timeoutMs,
  );
}

// ---- MongoDB: OP_MSG isMaster on admin, answered with ok: 1 (mongo-java-server has no `hello`; mongod has both).

function bsonDoc(fields) {
  const parts = [];
  for (const [key, value] of Object.entries(fields)) {
    const name = Buffer.from(`${key}\0`);
    if (typeof value === 'number') {
      const v = Buffer.alloc(4);
      v.writeInt32LE(value, 0);
      parts.push(Buffer.from([0x10]), name, v);
    } else {
      const s = Buffer.from(`${value}\0`);
      const len = Buffer.alloc(4);
      len.writeInt32LE(s.length, 0);
      parts.push(Buffer.from([0x02]), name, len, s);
    }
  }
  const body = Buffer.concat([...parts, Buffer.from([0])]);
  const size = Buffer.alloc(4);
  size.writeInt32LE(body.length + 4, 0);
  return Buffer.concat([size, body]);
}

const BSON_FIXED = { 0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0a: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16 };

/** Reads the top-level numeric/string fields of a BSON document (enough for an isMaster reply). */
function bsonTop(doc) {
  const out = {};
  let at = 4;
  while (at < doc.length - 1) {
    const type = doc[at];
    const end = doc.indexOf(0, at + 1);
    const key = doc.toString('utf8', at + 1, end);
    at = end + 1;
    if (type === 0x01) out[key] = doc.readDoubleLE(at);
    else if (type === 0x10) out[key] = doc.readInt32LE(at);
    else if (type === 0x08) out[key] = doc[at] === 1;
    else if (type === 0x02) out[key] = doc.toString('utf8', at + 4, at + 4 + doc.readInt32LE(at) - 1);
    if (type in BSON_FIXED) at += BSON_FIXED[type];
    else if (type === 0x02) at += 4 + doc.readInt32LE(at);
    else if (type === 0x03 || type === 0x04) at += doc.readInt32LE(at);
    else if (type === 0x05) at += 5 + doc.readInt32LE(at);
    else break;
  }
  return out;
}

function opMsg(command) {
  const doc = bsonDoc(command);
  const header = Buffer.alloc(21);
  header.writeInt32LE(21 + doc.length, 0);
  header.writeInt32LE(1, 4);
  header.writeInt32LE(0, 8);
  header.writeInt32LE(2013, 12);
  header.writeUInt32LE(0, 16);
  header.writeUInt8(0, 20);
  return Buffer.concat([header, doc]);
}

export async function probeMongo(port, timeoutMs = 3000) {
  const reply = await exchange(
    port,
    opMsg({ isMaster: 1, $db: 'admin' }),
    (buf) => {
      if (buf.length < 4 || buf.length < buf.readInt32LE(0)) return undefined;
      if (buf.readInt32LE(12) !== 2013) throw new Error('expected an OP_MSG reply');
      return bsonTop(buf.subarray(21, buf.readInt32LE(0)));
    },
    timeoutMs,
  );
  if (reply.ok !== 1) throw new Error(`isMaster failed: ${reply.errmsg ?? JSON.stringify(reply)}`);
  return `maxWireVersion ${reply.maxWireVersion}`;
}

// ---- HTTP servers.

export async function probeSqs(port, timeoutMs = 3000) {
  const res = await fetch(`http://${HOST}:${port}/`, {
    method: 'POST',
    headers: { 'X-Amz-Target': 'AmazonSQS.ListQueues', 'Content-Type': 'application/x-amz-json-1.0' },
    body: '{}',
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`ListQueues answered HTTP ${res.status}: ${text.slice(0, 200)}`);
  JSON.parse(text);
  return 'ListQueues (JSON protocol) answered';
}

/** GET `url`; `check(body)` returns the description when the JSON answer means ready, else false. */
export async function probeHttpJson(url, check, timeoutMs = 3000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
  const ok = check(JSON.parse(text));
  if (!ok) throw new Error(`${url} answered, not ready yet: ${text.slice(0, 200)}`);
  return ok;
}

// etcd's /health is true only once the member has a leader and serves reads.
export function probeEtcd(port, timeoutMs = 3000) {
  return probeHttpJson(`http://${HOST}:${port}/health`, (b) => b.health === 'true' && 'health true', timeoutMs);
}

/** kube-apiserver's /readyz (all post-start hooks done, etcd reachable), over TLS with the bearer token. */
export function probeKubeApiserver(port, { ca, token }, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: HOST,
        port,
        path: '/readyz',
        // Before the first start wrote the certificate there is no CA to check against; the probe only asks "ready?".
        ...(ca ? { ca } : { rejectUnauthorized: false }),
        headers: { authorization: `Bearer ${token}` },
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(`/readyz ${body.trim()}`) : reject(new Error(`/readyz answered HTTP ${res.statusCode}: ${body.slice(0, 300)}`))));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer on ${HOST}:${port} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
