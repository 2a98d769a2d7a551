// One result of a million values, then N tiny pushes that each pass it to echo again (a
// pipelined reference: the server copies the result into every call), never pulled but the
// last; prints the last reply.
//   node copies.mjs URL [N]
import { createRequire } from 'node:module';
// `ws` comes with capnweb in interop/node_modules (INTEROP_DIR).
const WebSocket = createRequire(`${process.env.INTEROP_DIR}/`)('ws');
const url = process.argv[2];
const n = Number(process.argv[3] ?? 20);
const zeros = Array(1000000 - 8).fill('0').join(',');
const reuse = '["push",["pipeline",0,["echo"],[["pipeline",1]]]]';
console.log(`one frame of ${zeros.length + 40} bytes, then ${n} of ${reuse.length}`);
const ws = new WebSocket(url, { maxPayload: 200 * 1024 * 1024 });
ws.on('open', () => {
  ws.send(`["push",["pipeline",0,["echo"],[[[${zeros}]]]]]`);
  for (let i = 0; i < n; i++) ws.send(reuse);
  ws.send(`["pull",${n + 1}]`);
});
ws.on('message', (m) => {
  console.log(`reply ${m.length} bytes: ${m.toString().slice(0, 100)}`);
  ws.close();
});
ws.on('close', () => process.exit(0));
ws.on('error', (e) => {
  console.error(e.message);
  process.exit(1);
});
