// Opens N idle WebSocket sessions (one call each so they are live), holds them, prints when ready.
// With BATCH (third argument), opens them BATCH at a time, each batch once the previous one is
// live, instead of all at once: what a server holds per idle session, without what its
// allocator keeps of a connect storm's freed buffers.
import { createRequire } from 'node:module';
// `ws` comes with capnweb in interop/node_modules (INTEROP_DIR).
const WebSocket = createRequire(`${process.env.INTEROP_DIR}/`)('ws');
const url = process.argv[2]; const n = Number(process.argv[3] ?? 2000);
const batch = Number(process.argv[4] ?? n);
let ready = 0; const sockets = [];
function open(first) {
  const last = Math.min(first + batch, n);
  let live = 0;
  for (let i = first; i < last; i++) {
    const ws = new WebSocket(url); sockets.push(ws);
    ws.on('open', () => { ws.send('["push",["pipeline",0,["square"],[3]]]'); ws.send('["pull",1]'); });
    ws.on('message', () => {
      ready++;
      if (++live === last - first) {
        if (ready === n) console.log('ready'); else open(last);
      }
    });
    ws.on('error', (e) => { console.error(e.message); });
  }
}
open(0);
setTimeout(() => process.exit(0), 600000);
