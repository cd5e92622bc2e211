// Node's `ws` as the client of our echo server (examples/echo_server.rs), either driver.
//
//   node ws_client.mjs --url ws://127.0.0.1:PORT/ --idle-url ws://127.0.0.1:PORT2/ --label mio [--deflate on]
//
// --idle-url is an echo server started with --idle-timeout-ms (a short one), for the close the server
// starts on its own. Every event on a connection is checked in order: a message, pong or close that was
// not expected next fails the check. With `--deflate on` the client offers permessage-deflate, every
// connection must have negotiated it, and every message goes compressed both ways; without, none is
// offered and none may be negotiated. Exits 1 if any check failed.
import WebSocket from 'ws';
import {
  assert, assertBytes, assertEqual, clientOptions, deflateOption, parseArgs, pattern, runChecks, withTimeout,
} from './common.mjs';

const args = parseArgs();
const deflate = args.deflate === 'on';
const label = `ws client${deflate ? ' (permessage-deflate)' : ''} -> ${args.label ?? args.url}`;
const expectedExtension = deflate ? 'permessage-deflate' : '';

/** A `ws` connection whose events queue up, so a check awaits them one by one, in order. */
class Conn {
  static open(url) {
    return withTimeout(new Promise((resolve, reject) => {
      const ws = new WebSocket(url, clientOptions({ maxPayload: 64 << 20, perMessageDeflate: deflateOption(deflate) }));
      const conn = new Conn(ws);
      ws.once('open', () => {
        const negotiated = ws.extensions.split(';')[0].trim();
        if (negotiated === expectedExtension) resolve(conn);
        else reject(new Error(`negotiated ${JSON.stringify(ws.extensions)}, expected ${JSON.stringify(expectedExtension)}`));
      });
      ws.once('error', reject);
    }), 10_000, `connecting to ${url}`);
  }

  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiting = [];
    ws.on('message', (data, isBinary) => this.push({ type: isBinary ? 'binary' : 'text', data }));
    ws.on('ping', (data) => this.push({ type: 'ping', data }));
    ws.on('pong', (data) => this.push({ type: 'pong', data }));
    ws.on('close', (code, reason) => this.push({ type: 'close', code, reason: reason.toString() }));
    ws.on('error', (error) => this.push({ type: 'error', error }));
  }

  push(event) {
    const waiter = this.waiting.shift();
    if (waiter) waiter(event);
    else this.queue.push(event);
  }

  next(what, ms = 20_000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return withTimeout(new Promise((resolve) => this.waiting.push(resolve)), ms, what);
  }

  async expect(type, what) {
    const event = await this.next(what);
    if (event.type !== type) {
      const detail = event.type === 'close' ? ` ${event.code} ${JSON.stringify(event.reason)}`
        : event.type === 'error' ? ` ${event.error.message}` : '';
      throw new Error(`${what}: expected a ${type} event, got ${event.type}${detail}`);
    }
    return event;
  }

  async expectText(text) {
    const { data } = await this.expect('text', `the echo of ${JSON.stringify(text.slice(0, 40))}`);
    assertEqual(data.toString(), text, 'echoed text');
  }

  async expectBinary(bytes) {
    const { data } = await this.expect('binary', `the echo of ${bytes.length} bytes`);
    assertBytes(data, bytes, `echo of ${bytes.length} bytes`);
  }

  async expectPong(payload) {
    const { data } = await this.expect('pong', `a pong for ${JSON.stringify(payload.toString())}`);
    assertBytes(data, payload, 'pong payload');
  }

  /** The closing handshake's end: the close event with this code (and reason, if given). */
  async expectClose(code, reason) {
    const event = await this.expect('close', `a close with ${code}`);
    assertEqual(event.code, code, 'close code');
    if (reason !== undefined) assertEqual(event.reason, reason, 'close reason');
    return event;
  }

  /** Our close, answered by the server: `ws` reports the code the server echoed. */
  async closeWith(code, reason) {
    this.ws.close(code, reason);
    return this.expectClose(code);
  }
}

const checks = [
  ['text echoed (ASCII, non-ASCII, empty)', async () => {
    const conn = await Conn.open(args.url);
    for (const text of ['hello', 'héllo wörld ✓ 🎉', '']) {
      conn.ws.send(text);
      await conn.expectText(text);
    }
    await conn.closeWith(1000, 'done');
  }],
  ['binary echoed byte-exact, 0 B to 16 MiB (every length encoding)', async () => {
    const conn = await Conn.open(args.url);
    for (const n of [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 16 << 20]) {
      const bytes = pattern(n, n + 1);
      conn.ws.send(bytes);
      await conn.expectBinary(bytes);
    }
    await conn.closeWith(1000, 'done');
  }],
  ['100 messages echoed in order', async () => {
    const conn = await Conn.open(args.url);
    for (let i = 0; i < 100; i++) conn.ws.send(`message ${i}`);
    for (let i = 0; i < 100; i++) await conn.expectText(`message ${i}`);
    await conn.closeWith(1000, 'done');
  }],
  ['fragmented text (a character split between fragments, a ping and an empty fragment between)', async () => {
    const conn = await Conn.open(args.url);
    const bytes = Buffer.from('héllo');
    // `ws` sends a Buffer as text with binary: false and leaves the message open while fin is false.
    conn.ws.send(bytes.subarray(0, 2), { binary: false, fin: false });
    conn.ws.send(bytes.subarray(2, 4), { binary: false, fin: false });
    conn.ws.ping('between');
    conn.ws.send(Buffer.alloc(0), { binary: false, fin: false });
    conn.ws.send(bytes.subarray(4), { binary: false, fin: true });
    // The server answers the ping at once and echoes the message once it is whole.
    await conn.expectPong(Buffer.from('between'));
    await conn.expectText('héllo');
    await conn.closeWith(1000, 'done');
  }],
  ['fragmented binary (200 KiB in three fragments)', async () => {
    const conn = await Conn.open(args.url);
    const bytes = pattern(200 << 10, 7);
    conn.ws.send(bytes.subarray(0, 1000), { binary: true, fin: false });
    conn.ws.send(bytes.subarray(1000, 70_000), { binary: true, fin: false });
    conn.ws.send(bytes.subarray(70_000), { binary: true, fin: true });
    await conn.expectBinary(bytes);
    await conn.closeWith(1000, 'done');
  }],
  ['ping answered with a pong carrying its payload (empty, text, 125 bytes)', async () => {
    const conn = await Conn.open(args.url);
    for (const payload of [Buffer.alloc(0), Buffer.from('ping payload'), pattern(125, 3)]) {
      conn.ws.ping(payload);
      await conn.expectPong(payload);
    }
    await conn.closeWith(1000, 'done');
  }],
  ['close 1000 echoed', async () => {
    const conn = await Conn.open(args.url);
    await conn.closeWith(1000, 'normal closure');
  }],
  ['close 4001 with a reason echoed with its code', async () => {
    const conn = await Conn.open(args.url);
    const { reason } = await conn.closeWith(4001, 'custom reason ✓');
    // RFC 6455 §5.5.1 asks the answer to echo the code; the reason is the answering side's own.
    assert(Buffer.byteLength(reason) <= 123, `the reason fits a close frame: ${reason}`);
  }],
  ['the server fails invalid UTF-8 in a text message with 1007 and a reason', async () => {
    const conn = await Conn.open(args.url);
    conn.ws.send(Buffer.from([0x68, 0x69, 0xff, 0xfe]), { binary: false });
    const { reason } = await conn.expectClose(1007);
    assert(reason.length > 0, 'the server says why');
  }],
  ['the server closes an idle connection with 1001 "idle timeout"', async () => {
    if (!args['idle-url']) throw new Error('no --idle-url given');
    const conn = await Conn.open(args['idle-url']);
    conn.ws.send('one message, then silence');
    await conn.expectText('one message, then silence');
    await conn.expectClose(1001, 'idle timeout');
  }],
];

process.exitCode = (await runChecks(label, checks)) > 0 ? 1 : 0;
