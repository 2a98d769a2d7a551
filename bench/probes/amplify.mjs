// One large frame pushed to echo and pulled; prints the frame's size and the reply (or abort).
//   node amplify.mjs URL [SHAPE] [VALUES]
// SHAPE: nested (default: elements that are one-element arrays 250 JSON levels deep, the depth
// limit), flat (zeros), objects ({"a":0}), strings (""). VALUES: how many JSON values the frame
// holds (about; default: as many as fill 31 MiB).
import { createRequire } from 'node:module';
// `ws` comes with capnweb in interop/node_modules (INTEROP_DIR).
const WebSocket = createRequire(`${process.env.INTEROP_DIR}/`)('ws');
const url = process.argv[2];
const shape = process.argv[3] ?? 'nested';
const levels = 125; // wire depth = 2 * levels + envelope
let element;
let perElement; // JSON values per element
if (shape === 'nested') {
  element = '0';
  for (let i = 0; i < levels; i++) element = `[[${element}]]`;
  perElement = 2 * levels + 1;
} else if (shape === 'flat') {
  [element, perElement] = ['0', 1];
} else if (shape === 'objects') {
  [element, perElement] = ['{"a":0}', 2];
} else if (shape === 'strings') {
  [element, perElement] = ['""', 1];
} else {
  console.error(`unknown shape ${shape}`);
  process.exit(2);
}
const target = 31 * 1024 * 1024 - 100;
const count = process.argv[4]
  ? Math.ceil(Number(process.argv[4]) / perElement)
  : Math.floor(target / (element.length + 1));
const frame = `["push",["pipeline",0,["echo"],[[[${Array(count).fill(element).join(',')}]]]]]`;
console.log(
  `frame ${frame.length} bytes: ${count} ${shape} elements, ${count * perElement + 8} JSON values`,
);
const ws = new WebSocket(url, { maxPayload: 200 * 1024 * 1024 });
const t0 = Date.now();
ws.on('open', () => {
  ws.send(frame);
  ws.send('["pull",1]');
});
ws.on('message', (m) => {
  console.log(`reply ${m.length} bytes after ${Date.now() - t0} ms: ${m.toString().slice(0, 100)}`);
  ws.close();
});
ws.on('close', () => process.exit(0));
ws.on('error', (e) => {
  console.error(e.message);
  process.exit(1);
});
