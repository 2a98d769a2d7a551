// Shared helpers for the TestTarget interop suite.
//
// * startServer(): starts the server under test (env TESTTARGET_CMD, default: the Node reference
//   server) as `<cmd> PORT` with a free port and waits for its `listening PORT` line; or
//   startServer(cmd) for another server command (e.g. the axum example app).
// * startExample(pkg): a binary of the workspace (the demo, examples/*) run with `cargo run`,
//   ready when it prints `listening on http://127.0.0.1:PORT/`.
// * startProcess(): what both are built on: a process in its own group, ready at a line.
// * openWs()/openBatch(): capnweb client sessions (WebSocket / HTTP batch).
// * RawWs: a plain `ws` connection for wire-level tests.
// * rawBatch(): a plain HTTP POST of a batch body.

import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { WebSocket as WsWebSocket } from "ws";
import { newWebSocketRpcSession, newHttpBatchRpcSession } from "capnweb";

// capnweb's WebSocket transport needs a global WebSocket; Node 20 has none by default.
globalThis.WebSocket ??= WsWebSocket;

export const INTEROP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const SERVER_CMD = process.env.TESTTARGET_CMD || "node node/testtarget-server.mjs";
/** Set TETHER_SERVER=1 when the server under test is the Rust one (enables the "better" tests). */
export const TETHER_SERVER = process.env.TETHER_SERVER === "1";
/** How long to wait for a server's `listening` line (the Rust server may compile first). */
const START_TIMEOUT_MS = Number(process.env.TESTTARGET_START_TIMEOUT_MS || 10 * 60 * 1000);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let tagCounter = 0;
/** A tag unique to this process and call (disposedCount is server-wide). */
export function uniqueTag(label = "t") {
  return `${label}-${process.pid}-${Date.now().toString(36)}-${++tagCounter}`;
}

async function freePort() {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a long-running process (`command` with `args`; through the shell if `shell`) in its own
 * process group (so wrapper scripts are stopped too), with `env` added to the environment and
 * `cwd` (default: the interop directory), and waits for a line of its stdout matching `ready`.
 * Its stderr is forwarded to ours; its stdout lines are kept (and, with `echo`, copied to our
 * stderr). Returns { child, exited, lines, match (of `ready`), waitForLine(re, timeoutMs),
 * stop() }; `stop()` sends SIGTERM to the group, then SIGKILL after 10 s.
 */
export async function startProcess(command, args, { env = {}, cwd = INTEROP_DIR, shell = false, ready, echo = false }) {
  const label = [command, ...args].join(" ");
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    shell,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr.on("data", (d) => process.stderr.write(d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const lines = [];
  const waiters = [];
  let buf = "";
  // Always drained, so the child never blocks on a full pipe.
  child.stdout.on("data", (d) => {
    buf += d.toString("utf8");
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      lines.push(line);
      if (echo) process.stderr.write(`[server stdout] ${line}\n`);
      for (const w of [...waiters]) w();
    }
  });
  const signalGroup = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      try {
        child.kill(sig);
      } catch {
        /* already gone */
      }
    }
  };
  /** Waits for a line (from the start of the output) matching `re`; returns its match. */
  const waitForLine = (re, timeoutMs = START_TIMEOUT_MS) =>
    new Promise((resolve, reject) => {
      const check = () => {
        for (const line of lines) {
          const m = re.exec(line);
          if (m) {
            cleanup();
            resolve(m);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${label}: no line matching ${re} within ${timeoutMs} ms; output: ${lines.join("\n")}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        const i = waiters.indexOf(check);
        if (i >= 0) waiters.splice(i, 1);
      };
      if (!check()) waiters.push(check);
      exited.then(({ code, signal }) => {
        if (!check()) {
          cleanup();
          reject(new Error(`${label} exited (code ${code}, signal ${signal}) before printing a line matching ${re}; output: ${lines.join("\n")}`));
        }
      });
    });
  let match;
  try {
    match = await waitForLine(ready);
  } catch (err) {
    signalGroup("SIGKILL");
    throw err;
  }
  return {
    child,
    exited,
    lines,
    match,
    waitForLine,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalGroup("SIGTERM");
      const t = setTimeout(() => signalGroup("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * Starts the server under test (or `cmd`, another server speaking the same `listening PORT`
 * convention), as `<cmd> PORT` through the shell with a free port, with `env` added to the
 * environment. Returns { port, wsUrl, httpUrl, child, exited, stop() }.
 */
export async function startServer(cmd = SERVER_CMD, env = {}) {
  const port = await freePort();
  const started = await startProcess(`${cmd} ${port}`, [], { env, shell: true, ready: /^listening (\d+)$/, echo: true });
  const host = `127.0.0.1:${Number(started.match[1]) || port}`;
  return {
    ...started,
    port: Number(started.match[1]) || port,
    wsUrl: `ws://${host}/`,
    httpUrl: `http://${host}/`,
  };
}

/** The repository root. */
export const ROOT = path.resolve(INTEROP_DIR, "..");

/**
 * Starts a binary of the workspace (examples/*, demo/) with `cargo run -q -p <pkg> -- <args>`
 * from the repository root (building it if needed), with PORT=0 and `env`, and waits for the
 * line it prints with its URL (`... listening on http://127.0.0.1:PORT/...`). Returns
 * { url, port, lines, waitForLine(re), stop() }.
 */
export async function startExample(pkg, env = {}, args = []) {
  const started = await startProcess("cargo", ["run", "-q", "-p", pkg, "--", ...args], {
    cwd: ROOT,
    env: { PORT: "0", ...env },
    ready: /listening on (http:\/\/127\.0\.0\.1:(\d+)\/)/,
  });
  return { ...started, url: started.match[1], port: Number(started.match[2]) };
}

// ---------------------------------------------------------------------------------------------
// capnweb sessions

/**
 * Opens a capnweb WebSocket session. Returns { api, ws, close() }; `ws` is the underlying `ws`
 * socket (e.g. to drop the connection), `close()` disposes the main stub (ends the session).
 */
export async function openWs(server) {
  const ws = new WsWebSocket(server.wsUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const api = newWebSocketRpcSession(ws);
  return {
    api,
    ws,
    close() {
      try {
        api[Symbol.dispose]();
      } catch {
        /* already broken */
      }
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
    },
  };
}

/** A capnweb HTTP batch session: everything called in the same tick goes in one POST. */
export function openBatch(server) {
  return newHttpBatchRpcSession(server.httpUrl);
}

/**
 * Runs `fn(api)` over each transport. For "ws" a fresh WebSocket session is used and closed
 * afterwards; for "batch" `fn` must issue all its calls before its first await (one batch).
 */
export const TRANSPORTS = ["ws", "batch"];
export async function withApi(server, transport, fn) {
  if (transport === "batch") return await fn(openBatch(server));
  const s = await openWs(server);
  try {
    return await fn(s.api);
  } finally {
    s.close();
  }
}

/** Polls `fn` until `pred(value)` holds or `timeoutMs` passes; returns the last value. */
export async function pollUntil(fn, pred, { timeoutMs = 3000, intervalMs = 25 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let v;
  for (;;) {
    v = await fn();
    if (pred(v) || Date.now() >= deadline) return v;
    await sleep(intervalMs);
  }
}

/** Asserts that `promise` rejects with an error of class `type` (by name) and message `message`. */
export async function assertRejects(promise, type, message) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, `expected a rejection with ${type}${message !== undefined ? `(${message})` : ""}, but it resolved`);
  assert.ok(err instanceof Error, `expected an Error, got ${String(err)}`);
  assert.equal(err.name, type, `error type (message: ${err.message})`);
  if (message instanceof RegExp) assert.match(err.message, message);
  else if (message !== undefined) assert.equal(err.message, message);
  return err;
}

// ---------------------------------------------------------------------------------------------
// Raw WebSocket

/** A plain WebSocket connection speaking raw Cap'n Web frames. */
export class RawWs {
  /** Every received frame, in order: { text, msg } (msg = parsed JSON or undefined). */
  frames = [];
  #waiters = [];
  closed; // Promise<{ code, reason }>
  closeInfo = null;

  static async open(server, options = {}) {
    const raw = new RawWs(server.wsUrl, options);
    await raw.opened;
    return raw;
  }

  constructor(url, options) {
    this.ws = new WsWebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024, ...options });
    this.ws.on("error", () => {}); // surfaced through `closed`
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
    });
    this.ws.on("message", (data, isBinary) => {
      const text = isBinary ? null : data.toString("utf8");
      let msg;
      try {
        msg = text === null ? undefined : JSON.parse(text);
      } catch {
        msg = undefined;
      }
      this.frames.push({ text, msg, binary: isBinary ? data : null });
      this.#notify();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString("utf8") };
        this.#notify();
        resolve(this.closeInfo);
      });
    });
  }

  #notify() {
    for (const w of [...this.#waiters]) w();
  }

  /** Sends a message: strings are sent verbatim, anything else as JSON text. */
  send(msg) {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  sendBinary(bytes) {
    this.ws.send(bytes, { binary: true });
  }

  /** Parsed messages received so far. */
  get messages() {
    return this.frames.map((f) => f.msg);
  }

  /**
   * Waits until a received message (from index `from`) satisfies `pred`; returns it.
   * Rejects on timeout or if the connection closes first.
   */
  waitFor(pred, { timeoutMs = 5000, from = 0, what = "a matching frame" } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = from; i < this.frames.length; i++) {
          if (this.frames[i].msg !== undefined && pred(this.frames[i].msg)) {
            done();
            resolve(this.frames[i].msg);
            return true;
          }
        }
        if (this.closeInfo) {
          done();
          reject(new Error(`connection closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${what}; frames: ${this.dump()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; frames: ${this.dump()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        const i = this.#waiters.indexOf(check);
        if (i >= 0) this.#waiters.splice(i, 1);
      };
      if (!check()) this.#waiters.push(check);
    });
  }

  /** Waits for ["resolve"|"reject", id, …] and returns it. */
  waitAnswer(id, opts = {}) {
    return this.waitFor((m) => Array.isArray(m) && (m[0] === "resolve" || m[0] === "reject") && m[1] === id, {
      what: `an answer for ${id}`,
      ...opts,
    });
  }

  /** Push + pull: returns the import id that was used. The caller tracks ids. */
  call(id, target, path, args) {
    this.send(["push", args === undefined ? ["pipeline", target, path] : ["pipeline", target, path, args]]);
    this.send(["pull", id]);
    return id;
  }

  /** Waits for the connection to close (rejects after timeoutMs). */
  async waitClose(timeoutMs = 5000) {
    let timer;
    const t = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connection not closed within ${timeoutMs} ms; frames: ${this.dump()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves after `ms` and returns the frames that arrived in the meantime. */
  async collect(ms) {
    const from = this.frames.length;
    await sleep(ms);
    return this.messages.slice(from);
  }

  dump(max = 2000) {
    const s = this.frames.map((f) => (f.text === null ? `<binary ${f.binary.length}>` : f.text.length > 200 ? f.text.slice(0, 200) + `…(${f.text.length})` : f.text)).join("\n  ");
    return s.length > max ? s.slice(0, max) + "…" : s;
  }

  close() {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close();
  }

  terminate() {
    this.ws.terminate();
  }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP batch

/** POSTs (or sends `method`) `body` to the server; returns { status, text, messages }. */
export async function rawBatch(server, body, { method = "POST" } = {}) {
  const init = { method };
  if (method !== "GET" && method !== "HEAD") init.body = body;
  const res = await fetch(server.httpUrl, init);
  const text = await res.text();
  let messages;
  if (res.status === 200) messages = text === "" ? [] : text.split("\n").map((l) => JSON.parse(l));
  return { status: res.status, text, messages };
}

/** Joins messages (objects or raw strings) into a batch body. */
export function batchBody(msgs) {
  return msgs.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join("\n");
}
