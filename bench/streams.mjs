// The stream benchmark's Node client for bench/streams.sh: capnweb as the client of a TestTarget
// server, one run per process, ONE JSON line on stdout; the twin of tether-stream-driver
// (bench/src/streams.rs), same modes, options, checks and output keys.
//
//   node bench/streams.mjs ws://127.0.0.1:PORT/ MODE [--total=104857600] [--chunk=65536]
//        [--interval-ms=2] [--duration=3] [--server-pid=PID] [--label=TEXT] [--rep=N]
//
// Modes: download (streamBytes(total, chunk) read to the end, each chunk's length counted and
// its first and last byte checked against the pattern), upload (makeSink(tag), the pattern
// written in chunks made before the clock starts, close(), then sinkState(tag) must report the
// bytes, the chunk count and the pattern's FNV), echo-idle (square(i) every interval-ms for
// duration seconds, open loop), echo-upload (the same during an upload on the same session).
// capnweb and ws come from interop/node_modules (`npm ci` there; INTEROP_DIR overrides).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import fs from "node:fs";

const interopDir = process.env.INTEROP_DIR ?? fileURLToPath(new URL("../interop/", import.meta.url));
const require = createRequire(`${interopDir.replace(/\/?$/, "/")}`);
const { WebSocket } = require("ws");
const { newWebSocketRpcSession } = require("capnweb");
globalThis.WebSocket ??= WebSocket;

const MODES = ["download", "upload", "echo-idle", "echo-upload"];
const [url, mode] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const option = (name, fallback) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
};
if (!url || !MODES.includes(mode)) {
  console.error(`usage: node streams.mjs URL MODE [options]; modes: ${MODES.join(" ")}`);
  process.exit(2);
}
const params = {
  total: Number(option("total", 100 * 1024 * 1024)),
  chunk: Number(option("chunk", 65536)),
  interval_ms: Number(option("interval-ms", 2)),
  duration_s: Number(option("duration", 3)),
};
const serverPid = option("server-pid", null);
const label = option("label", null);
const rep = option("rep", null) === null ? null : Number(option("rep", null));

setTimeout(() => {
  console.log(JSON.stringify({ mode, client: "capnweb", label, rep, error: "watchdog timeout" }));
  process.exit(3);
}, 180_000).unref();

// ---------------------------------------------------------------------------------------------
// CPU over a window, from /proc, as tether-stream-driver reports it (100 = one core)

const CLK_TCK = 100;
function processCpu(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}
function machineBusy() {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return { process: (f[0] + f[1] + f[2]) / CLK_TCK, irq: (f[5] + f[6]) / CLK_TCK, steal: (f[7] ?? 0) / CLK_TCK };
}
function cpuWindow() {
  const t0 = performance.now();
  const c0 = processCpu("self");
  const s0 = serverPid ? processCpu(serverPid) : null;
  const m0 = machineBusy();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const pct = (s) => (s / wall) * 100;
    const c = pct(processCpu("self") - c0);
    const s = serverPid ? pct(processCpu(serverPid) - s0) : null;
    const m1 = machineBusy();
    return {
      client_cpu_pct: Math.round(c),
      server_cpu_pct: s === null ? null : Math.round(s),
      irq_cpu_pct: Math.round(pct(m1.irq - m0.irq)),
      steal_cpu_pct: Math.round(pct(m1.steal - m0.steal)),
      other_cpu_pct: s === null ? null : Math.max(0, Math.round(pct(m1.process - m0.process) - c - s)),
    };
  };
}

// ---------------------------------------------------------------------------------------------
// the pattern, FNV-1a and summaries

const FNV_OFFSET = 0x811c9dc5;
function fnv(h, bytes) {
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h;
}
function patternChunks(total, chunk) {
  const chunks = [];
  for (let offset = 0; offset < total; offset += chunk) {
    const bytes = new Uint8Array(Math.min(chunk, total - offset));
    for (let k = 0; k < bytes.length; k++) bytes[k] = (offset + k) % 251;
    chunks.push(bytes);
  }
  return chunks;
}
const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;
const transferSummary = (bytes, chunks, seconds) => ({
  bytes,
  chunks,
  seconds: round(seconds, 4),
  mib_per_s: round(bytes / 1048576 / seconds, 1),
});
function echoSummary(latenciesMs) {
  const s = [...latenciesMs].sort((a, b) => a - b);
  // Nearest rank, as bench/src/driver/measure.rs.
  const pct = (q) => (s.length ? s[Math.min(s.length, Math.max(1, Math.ceil(q * s.length))) - 1] : null);
  const us = (ms) => (ms === null ? null : round(ms * 1000, 1));
  return {
    p50_us: us(pct(0.5)),
    p99_us: us(pct(0.99)),
    mean_us: s.length ? us(s.reduce((a, b) => a + b, 0) / s.length) : null,
    max_us: us(s.length ? s[s.length - 1] : null),
    calls: s.length,
    interval_ms: params.interval_ms,
  };
}

// ---------------------------------------------------------------------------------------------
// the modes

async function square(api, n) {
  const answer = await api.square(n);
  if (answer !== n * n) throw new Error(`square(${n}) = ${answer}`);
}

async function download(api) {
  const done = cpuWindow();
  const t0 = performance.now();
  const stream = await api.streamBytes(params.total, params.chunk);
  let received = 0;
  let chunks = 0;
  for await (const chunk of stream) {
    if (
      !(chunk instanceof Uint8Array) ||
      chunk.length === 0 ||
      chunk.length > params.chunk ||
      chunk[0] !== received % 251 ||
      chunk[chunk.length - 1] !== (received + chunk.length - 1) % 251
    ) {
      throw new Error(`chunk ${chunks} at ${received}: not the pattern`);
    }
    received += chunk.length;
    chunks++;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (received !== params.total) throw new Error(`received ${received} of ${params.total} bytes`);
  return { ...transferSummary(params.total, chunks, seconds), ...done() };
}

async function upload(api, chunks) {
  const tag = `bench-${process.pid}-${rep ?? 0}`;
  const sink = await api.makeSink(tag);
  let expected = FNV_OFFSET;
  for (const c of chunks) expected = fnv(expected, c);
  const done = cpuWindow();
  const t0 = performance.now();
  const writer = sink.getWriter();
  for (const c of chunks) await writer.write(c);
  await writer.close();
  const seconds = (performance.now() - t0) / 1000;
  const out = { ...transferSummary(params.total, chunks.length, seconds), ...done() };
  const state = await api.sinkState(tag);
  const fnvHex = expected.toString(16).padStart(8, "0");
  if (state?.bytes !== params.total || state.count !== chunks.length || state.fnv !== fnvHex || state.closed !== true) {
    throw new Error(`sinkState: ${JSON.stringify(state)}`);
  }
  return { ...out, sink_bytes: state.bytes, sink_fnv: state.fnv };
}

// square(i) every interval_ms, open loop, until stopped(); then waits for the calls in flight.
function probe(api) {
  const latencies = [];
  const inFlight = new Set();
  let failure = null;
  let i = 0;
  const timer = setInterval(() => {
    const n = ++i % 1000;
    const t0 = performance.now();
    const call = square(api, n).then(
      () => latencies.push(performance.now() - t0),
      (e) => (failure ??= e),
    );
    inFlight.add(call);
    call.finally(() => inFlight.delete(call));
  }, params.interval_ms);
  return async () => {
    clearInterval(timer);
    await Promise.all(inFlight);
    if (failure) throw failure;
    return latencies;
  };
}

async function runMode() {
  const socket = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  const api = newWebSocketRpcSession(socket);
  try {
    await square(api, 3); // the session is up before any clock starts
    switch (mode) {
      case "download":
        return await download(api);
      case "upload":
        return await upload(api, patternChunks(params.total, params.chunk));
      case "echo-idle": {
        const done = cpuWindow();
        const stop = probe(api);
        await new Promise((r) => setTimeout(r, params.duration_s * 1000));
        return { ...echoSummary(await stop()), ...done() };
      }
      default: {
        const chunks = patternChunks(params.total, params.chunk);
        const stop = probe(api);
        let transfer;
        let failure = null;
        try {
          transfer = await upload(api, chunks);
        } catch (e) {
          failure = e;
        }
        const latencies = await stop();
        if (failure) throw failure;
        return { ...echoSummary(latencies), upload: transfer };
      }
    }
  } finally {
    api[Symbol.dispose]();
    socket.close();
  }
}

const line = { mode, client: "capnweb", url, label, rep, params };
try {
  line.result = await runMode();
} catch (e) {
  line.error = String(e?.stack ?? e);
}
console.log(JSON.stringify(line));
process.exit(line.error ? 1 : 0);
