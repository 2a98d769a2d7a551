// One 31 MiB frame nested at the depth limit, pushed to echo and pulled; prints the reply size.
import { createRequire } from 'node:module';
// `ws` comes with capnweb in interop/node_modules (INTEROP_DIR).
const WebSocket = createRequire(`${process.env.INTEROP_DIR}/`)('ws');
const url = process.argv[2];
const levels = Number(process.argv[3] ?? 125); // wire depth = 2 * levels + envelope
let e = '0';
for (let i = 0; i < levels; i++) e = `[[${e}]]`;
const parts = [];
let size = 0;
const target = 31 * 1024 * 1024 - 100;
while (size + e.length + 1 < target) { parts.push(e); size += e.length + 1; }
const frame = `["push",["pipeline",0,["echo"],[[[${parts.join(',')}]]]]]`;
console.error(`frame ${frame.length} bytes, ${parts.length} elements of depth ${levels * 2}`);
const ws = new WebSocket(url, { maxPayload: 200 * 1024 * 1024 });
const t0 = Date.now();
ws.on('open', () => { ws.send(frame); ws.send('["pull",1]'); });
ws.on('message', (m) => { console.log(`reply ${m.length} bytes after ${Date.now() - t0} ms: ${m.toString().slice(0, 60)}`); ws.close(); });
ws.on('close', () => process.exit(0));
ws.on('error', (e) => { console.error(e.message); process.exit(1); });
