// A Node `ws` echo server for wscore's client (examples/interop_client.rs) to talk to.
//
//   node ws_echo_server.mjs [--port 0] [--deflate on]
//
// Prints `listening on PORT` once it accepts connections (port 0: the OS picks a free one). Under TLS
// (TLS_CERT and TLS_KEY set, see common.mjs) it serves wss:// through https.createServer. Without
// --deflate it negotiates no extension; with `--deflate on` it accepts permessage-deflate, compresses
// every message it sends, and closes at once with 4003 a connection that did not negotiate it (so a
// client that should have offered it fails loudly).
//
// Every text and binary message is echoed with its type; pings are answered by `ws` (pong with the same
// payload) and a close is answered with the peer's code and reason. The path chooses what the server
// does on its own, so the client can check it as a receiver too:
//   /                       echo only
//   /close?code=C&reason=R  close at once with code C and reason R
//   /ping?payload=P         send a ping with payload P; on its pong, send the text `pong:` + payload
//   /fragments              send the text "fragmented" in three fragments, then the binary 0..255 in two
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';
import { deflateOption, parseArgs, tls } from './common.mjs';

const args = parseArgs();
const deflate = args.deflate === 'on';
const server = tls
  ? https.createServer({ cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) })
  : http.createServer();
server.on('request', (_, response) => response.writeHead(404).end('not found\n'));

// 64 MiB leaves room for the 16 MiB messages the client sends.
const wss = new WebSocketServer({ server, perMessageDeflate: deflateOption(deflate), maxPayload: 64 << 20 });

wss.on('connection', (ws, request) => {
  const url = new URL(request.url, 'http://localhost');
  ws.on('error', (error) => console.error(`${url.pathname}: ${error.message}`));
  if (deflate && !ws.extensions.includes('permessage-deflate')) {
    ws.close(4003, 'permessage-deflate was not negotiated');
    return;
  }
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  switch (url.pathname) {
    case '/close':
      ws.close(Number(url.searchParams.get('code')), url.searchParams.get('reason') ?? '');
      break;
    case '/ping': {
      const payload = url.searchParams.get('payload') ?? '';
      ws.once('pong', (data) => ws.send(`pong:${data.toString()}`));
      ws.ping(payload);
      break;
    }
    case '/fragments': {
      ws.send('frag', { fin: false });
      ws.send('men', { fin: false });
      ws.send('ted', { fin: true });
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      ws.send(bytes.subarray(0, 100), { binary: true, fin: false });
      ws.send(bytes.subarray(100), { binary: true, fin: true });
      break;
    }
    default:
  }
});

server.listen(Number(args.port ?? 0), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
