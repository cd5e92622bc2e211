// Node's ws (8.23.0, package-lock.json) compressing and inflating the corpus benches/deflate.rs wrote,
// in-process: ws's own PerMessageDeflate, negotiated as ws negotiates it, with zlib's defaults (level
// 6, memLevel 8, 15-bit windows) and threshold 0. No sockets and no framing: this measures ws's
// compression path, where nearly all of a compressed message's time goes. Inflated text is checked
// as UTF-8 as ws's Receiver does (buffer.isUtf8); masking and framing are left out, though our side
// pays for them (a few percent at most: they run at GiB/s, deflate at tens of MB/s).
//
//   node benches/deflate/node.mjs [CORPUS_DIR]     # default target/deflate-corpus
//   WARMUP=1 MEASURE=3 (seconds per case)
//
// Then zlib alone (zlib.deflateRawSync, inflateRawSync): how much of ws's time is zlib itself.
// Writes CORPUS_DIR/node.json for benches/deflate/report.py and prints a summary.

import { readFileSync, writeFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

// ws's ES module wrapper leaves PerMessageDeflate out; its CommonJS entry hangs it on WebSocket.
const { PerMessageDeflate, extension } = createRequire(import.meta.url)('ws');
const here = dirname(fileURLToPath(import.meta.url));
const dir = process.argv[2] ?? join(here, '..', '..', 'target', 'deflate-corpus');
const WARMUP_NS = BigInt(Math.round(Number(process.env.WARMUP ?? 1) * 1e9));
const MEASURE_NS = BigInt(Math.round(Number(process.env.MEASURE ?? 3) * 1e9));
// ws's own default (WebSocketServer's maxPayload): the inflate limit is checked as ws checks it.
const MAX_PAYLOAD = 100 * 1024 * 1024;

/** The lines of chat.jsonl as they are on disk, byte for byte. */
function lines(buffer) {
  const out = [];
  let start = 0;
  for (let i = buffer.indexOf(0x0a); i !== -1; i = buffer.indexOf(0x0a, start)) {
    out.push(buffer.subarray(start, i));
    start = i + 1;
  }
  return out;
}

/** A client and a server PerMessageDeflate that agreed through the real header strings. */
function negotiate(noContextTakeover) {
  const options = { threshold: 0, maxPayload: MAX_PAYLOAD };
  if (noContextTakeover) {
    options.serverNoContextTakeover = true;
    options.clientNoContextTakeover = true;
  }
  const client = new PerMessageDeflate({ ...options, isServer: false });
  const server = new PerMessageDeflate({ ...options, isServer: true });
  const offer = extension.format({ 'permessage-deflate': client.offer() });
  server.accept(extension.parse(offer)['permessage-deflate']);
  const response = extension.format({ 'permessage-deflate': server.params });
  client.accept(extension.parse(response)['permessage-deflate']);
  return { client, server, response };
}

/** Runs `step(input, callback)` over every input in order, one at a time as ws's Sender and Receiver
 * do, then `done()`. */
function each(inputs, step, done) {
  let i = 0;
  const next = (err) => {
    if (err) throw err;
    if (i === inputs.length) return done();
    step(inputs[i++], next);
  };
  next();
}

/** Mean nanoseconds per iteration after the warm-up, of wall time and of CPU time: ws's zlib work runs
 * on libuv's thread pool while the main thread waits for it, so the two differ (a server with many
 * connections overlaps the waits, and CPU is what it runs out of). An iteration runs `step` over all
 * `inputs`. */
async function measure(inputs, step) {
  const once = () => new Promise((resolve) => each(inputs, step, resolve));
  const warmupStart = process.hrtime.bigint();
  while (process.hrtime.bigint() - warmupStart < WARMUP_NS) await once();
  let iterations = 0;
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  let elapsed;
  do {
    await once();
    iterations++;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < MEASURE_NS);
  const { user, system } = process.cpuUsage(cpu);
  return { ns: Number(elapsed) / iterations, cpu_ns: ((user + system) * 1e3) / iterations };
}

const compress = (pmd) => (data, cb) => pmd.compress(data, true, cb);
const inflate = (pmd) => (data, cb) =>
  pmd.decompress(data, true, (err, text) => {
    if (err) return cb(err);
    if (!isUtf8(text)) return cb(new Error('inflated text is not UTF-8'));
    cb(null, text);
  });

/** Compresses every message with `pmd`, in order, collecting the outputs. */
function compressAll(pmd, messages) {
  return new Promise((resolve) => {
    const out = [];
    each(
      messages,
      (m, cb) =>
        pmd.compress(m, true, (err, data) => {
          out.push(data);
          cb(err);
        }),
      () => resolve(out),
    );
  });
}

/** Bytes of a frame carrying `n` payload bytes (RFC 6455 §5.2), with a mask key from a client. */
const frame = (n, masked) => 2 + (n < 126 ? 0 : n < 65536 ? 2 : 8) + (masked ? 4 : 0) + n;

const corpora = {
  chat: lines(readFileSync(join(dir, 'chat.jsonl'))),
  document: [readFileSync(join(dir, 'document.json'))],
};

const report = {
  node: process.versions.node,
  zlib: process.versions.zlib,
  ws: JSON.parse(readFileSync(join(here, 'node_modules', 'ws', 'package.json'))).version,
};

for (const [name, messages] of Object.entries(corpora)) {
  for (const m of messages) JSON.parse(m);
  const result = {
    messages: messages.length,
    payload: messages.reduce((sum, m) => sum + m.length, 0),
  };
  for (const [label, noContextTakeover] of [['takeover', false], ['no_takeover', true]]) {
    // Wire sizes and a round trip checked byte for byte, on fresh pairs.
    let pair = negotiate(noContextTakeover);
    const fromClient = await compressAll(pair.client, messages);
    const fromServer = await compressAll(pair.server, messages);
    await new Promise((resolve) =>
      each(
        fromClient.map((c, i) => [c, messages[i]]),
        ([c, m], cb) =>
          inflate(pair.server)(c, (err, text) => {
            if (err || !text.equals(m)) throw err ?? new Error(`${name}: a message changed`);
            cb();
          }),
        resolve,
      ),
    );
    const wire = (frames, masked) => frames.reduce((sum, c) => sum + frame(c.length, masked), 0);

    // Reused pairs, as on a long-lived connection. Replaying the client's stream into one server is
    // valid with context takeover too: its first message refers to nothing before it.
    pair = negotiate(noContextTakeover);
    const c2s = await measure(messages, (m, cb) =>
      pair.client.compress(m, true, (err, c) => (err ? cb(err) : inflate(pair.server)(c, cb))),
    );
    pair = negotiate(noContextTakeover);
    const server_recv = await measure(fromClient, inflate(pair.server));
    const server_send = await measure(messages, compress(pair.server));
    result[label] = {
      negotiated: pair.response,
      client_wire: wire(fromClient, true),
      server_wire: wire(fromServer, false),
      c2s,
      server_recv,
      server_send,
    };
    const us = ({ ns, cpu_ns }) =>
      `${(ns / messages.length / 1e3).toFixed(2)} µs/msg (CPU ${(cpu_ns / messages.length / 1e3).toFixed(2)})`;
    console.log(
      `ws ${name} ${label}: wire/payload ${(result[label].client_wire / result.payload).toFixed(3)}, ` +
        `c2s ${((result.payload / c2s.ns) * 1e3).toFixed(1)} MB/s, ` +
        `server receive ${us(server_recv)}, send ${us(server_send)}`,
    );
  }
  report[name] = result;
}

// zlib itself, without ws: synchronous calls on the main thread, so no thread-pool hop and no stream
// machinery. The document in one call each way: what separates zlib-rs from Node's zlib (C). Each chat
// message with a stream of its own, as without context takeover (setting up the stream included).
{
  const [doc] = corpora.document;
  const options = { level: 6, memLevel: 8, windowBits: 15 };
  const perMessage = { ...options, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  const deflated = zlib.deflateRawSync(doc, options);
  if (!zlib.inflateRawSync(deflated).equals(doc)) throw new Error('zlib round trip');
  const chatDeflated = corpora.chat.map((m) => zlib.deflateRawSync(m, perMessage));
  const sync = (inputs, fn) =>
    measure(inputs, (input, cb) => {
      fn(input);
      cb();
    });
  report.zlib_sync = {
    document_deflate: await sync([doc], (d) => zlib.deflateRawSync(d, options)),
    document_inflate: await sync([deflated], (d) => zlib.inflateRawSync(d)),
    chat_deflate: await sync(corpora.chat, (m) => zlib.deflateRawSync(m, perMessage)),
    chat_inflate: await sync(chatDeflated, (d) => zlib.inflateRawSync(d, perMessage)),
  };
  const us = (key, n) => `${(report.zlib_sync[key].ns / n / 1e3).toFixed(1)} µs`;
  const chat = corpora.chat.length;
  console.log(
    `node zlib sync: document deflate ${us('document_deflate', 1)}, inflate ${us('document_inflate', 1)}; ` +
      `chat per message deflate ${us('chat_deflate', chat)}, inflate ${us('chat_inflate', chat)}`,
  );
}

writeFileSync(join(dir, 'node.json'), JSON.stringify(report, null, 2));
