// Sends N pushes that are never pulled (or, with --exports, N calls whose stubs are pulled and
// kept) on one WebSocket session; prints how the session ended.
import { createRequire } from 'node:module';
// `ws` comes with capnweb in interop/node_modules (INTEROP_DIR).
const WebSocket = createRequire(`${process.env.INTEROP_DIR}/`)('ws');
const [url, nArg, mode] = process.argv.slice(2);
const n = Number(nArg ?? 1000000);
const ws = new WebSocket(url);
let sent = 0, outcome = 'still open';
ws.on('open', async () => {
  const push = mode === '--exports'
    ? (i) => { ws.send('["push",["pipeline",0,["makeCounter"],[1]]]'); ws.send(`["pull",${i}]`); }
    : () => ws.send('["push",["pipeline",0,["square"],[2]]]');
  for (let i = 1; i <= n && ws.readyState === WebSocket.OPEN; i++) {
    push(i); sent = i;
    if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
  }
  setTimeout(() => { console.log(`sent ${sent}, ${outcome}`); process.exit(0); }, 2000);
});
ws.on('message', (m) => { const t = m.toString(); if (t.startsWith('["abort"')) outcome = `aborted: ${t.slice(0, 160)}`; });
ws.on('close', (code) => { if (outcome === 'still open') outcome = `closed ${code}`; });
ws.on('error', (e) => { outcome = `error ${e.message}`; });
