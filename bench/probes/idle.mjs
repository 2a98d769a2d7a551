// Opens N idle WebSocket sessions (one call each so they are live), holds them, prints when ready.
import { createRequire } from 'node:module';
// `ws` comes with capnweb in interop/node_modules (INTEROP_DIR).
const WebSocket = createRequire(`${process.env.INTEROP_DIR}/`)('ws');
const url = process.argv[2]; const n = Number(process.argv[3] ?? 2000);
let ready = 0; const sockets = [];
for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url); sockets.push(ws);
  ws.on('open', () => { ws.send('["push",["pipeline",0,["square"],[3]]]'); ws.send('["pull",1]'); });
  ws.on('message', () => { if (++ready === n) console.log('ready'); });
  ws.on('error', (e) => { console.error(e.message); });
}
setTimeout(() => process.exit(0), 600000);
