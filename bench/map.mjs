// The map() workload for bench/run.sh (not in the shared kit): the capnweb client maps a
// 1,000-element array with a remote call per element, `api.echo(list).map(x => api.add(x, 1))`,
// one await per map, and counts round trips as the kit's driver does. Prints one JSON line.
// Usage, from a directory whose node_modules has capnweb and ws (bench/run.sh uses its copy of
// the kit): node map.mjs ws://127.0.0.1:PORT/ [--duration=5] [--warmup=1] [--size=1000]
import { WebSocket } from "ws";
import { newWebSocketRpcSession } from "capnweb";

globalThis.WebSocket ??= WebSocket;

const url = process.argv[2];
const option = (name, fallback) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.split("=")[1]) : fallback;
};
const duration = option("duration", 5) * 1000;
const warmup = option("warmup", 1) * 1000;
const size = option("size", 1000);

const socket = new WebSocket(url);
await new Promise((resolve, reject) => {
  socket.once("open", resolve);
  socket.once("error", reject);
});
let sent = 0;
let rounds = 0;
let receivedSinceAsk = false;
const send = socket.send.bind(socket);
socket.send = (data, ...rest) => {
  const type = JSON.parse(String(data))[0];
  if ((type === "push" || type === "pull") && receivedSinceAsk) {
    rounds++;
    receivedSinceAsk = false;
  }
  sent++;
  return send(data, ...rest);
};
socket.on("message", () => {
  receivedSinceAsk = true;
});
const api = newWebSocketRpcSession(socket);
const list = Array.from({ length: size }, (_, i) => i);

async function once() {
  const mapped = await api.echo(list).map((x) => api.add(x, 1));
  if (mapped.length !== size || mapped[size - 1] !== size) throw new Error(`bad map result: ${mapped.slice(-3)}`);
}

const warmEnd = Date.now() + warmup;
while (Date.now() < warmEnd) await once();
const latencies = [];
rounds = 0;
receivedSinceAsk = false;
const start = process.hrtime.bigint();
const end = Date.now() + duration;
while (Date.now() < end) {
  const t0 = process.hrtime.bigint();
  await once();
  latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
console.log(
  JSON.stringify({
    workload: "map",
    size,
    maps: latencies.length,
    maps_per_s: latencies.length / seconds,
    elements_per_s: (latencies.length * size) / seconds,
    p50_us: pct(50),
    p99_us: pct(99),
    // The first map's first round is not counted (nothing had arrived yet): add it.
    round_trips_per_map: (rounds + 1) / latencies.length,
  }),
);
api[Symbol.dispose]();
socket.close();
