// Node's `ws` 8 as a fan-out server, the peer of examples/broadcast.rs in benches/fanout.sh.
//
//   node ws_broadcast.mjs [--port 0] [--deflate on]
//
// Connections to /publish are publishers; every other connection is a subscriber. A message from a
// publisher goes out with the broadcast loop of ws's README ("Server broadcast"): `wss.clients.forEach`,
// sending to each open client but the publishers, with the message's own type. Each `send` frames, and
// with permessage-deflate compresses, its own copy: ws has no message prepared once for many.
// `--deflate on` turns permessage-deflate on with ws's defaults (`perMessageDeflate: true`): each
// connection keeps its compression context, and then ws compresses every message, however short (its
// 1 KiB threshold applies only under server_no_context_takeover, lib/sender.js). Prints
// `listening on PORT` once it accepts connections (port 0: the OS picks a free one).
import { WebSocket, WebSocketServer } from 'ws';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  const [flag, value] = [process.argv[i], process.argv[i + 1]];
  if (!flag.startsWith('--') || value === undefined) {
    throw new Error(`usage: node ws_broadcast.mjs [--port N] [--deflate on]; got ${process.argv.slice(2).join(' ')}`);
  }
  args[flag.slice(2)] = value;
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(args.port ?? 0),
  perMessageDeflate: args.deflate === 'on',
});
const publishers = new WeakSet();

wss.on('connection', (ws, request) => {
  ws.on('error', console.error);
  if (new URL(request.url, 'http://localhost').pathname !== '/publish') return;
  publishers.add(ws);
  ws.on('message', (data, isBinary) => {
    wss.clients.forEach((client) => {
      if (!publishers.has(client) && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    });
  });
});

wss.on('listening', () => console.log(`listening on ${wss.address().port}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
