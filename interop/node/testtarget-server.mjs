// Reference TestTarget server: the TestTarget contract (/work/shared/interop/TESTTARGET.md,
// summarised in ../README.md) served by the JavaScript implementation of Cap'n Web
// (npm `capnweb` 0.12.0) over `ws`.
//
// Usage: node node/testtarget-server.mjs PORT
//
// One port on 127.0.0.1 serves both transports:
//   * WebSocket upgrade (any path): one RPC session per connection, fresh main object;
//   * HTTP POST (any path): one HTTP-batch RPC session per request, fresh main object;
//   * any other HTTP method: 405, nothing executed.
// Prints exactly "listening PORT" on stdout once it accepts connections; exits with status 0 on
// SIGTERM / SIGINT. Diagnostics go to stderr only.
//
// With TLS_CERT and TLS_KEY set (paths of PEM files), it serves the same over TLS
// (`https.createServer`: wss:// and https://).

import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import { WebSocketServer, WebSocket as WsWebSocket } from "ws";
import { RpcTarget, newWebSocketRpcSession, nodeHttpBatchRpcResponse } from "capnweb";

// capnweb's WebSocket transport reads the global `WebSocket.CONNECTING`; Node 20 has no global
// WebSocket unless started with --experimental-websocket.
globalThis.WebSocket ??= WsWebSocket;

// ---------------------------------------------------------------------------------------------
// Server-wide state

/** tag -> number of times a Disposable disposer with that tag has run (all sessions). */
const disposedCounts = new Map();

function recordDisposal(tag) {
  disposedCounts.set(tag, (disposedCounts.get(tag) ?? 0) + 1);
}

// ---------------------------------------------------------------------------------------------
// Pass-by-reference classes

class Counter extends RpcTarget {
  #value;

  constructor(start) {
    super();
    this.#value = start;
  }

  increment(amount = 1) {
    this.#value += amount;
    return this.#value;
  }

  get value() {
    return this.#value;
  }
}

class Disposable extends RpcTarget {
  #tag;

  constructor(tag) {
    super();
    this.#tag = tag;
  }

  ping() {
    return "pong";
  }

  get tag() {
    return this.#tag;
  }

  // capnweb calls this once per hand-out when it is released (or its session ends). Not guarded
  // on purpose: every run counts (see makeDisposableRepeated).
  [Symbol.dispose]() {
    recordDisposal(this.#tag);
  }
}

// ---------------------------------------------------------------------------------------------
// The main object; a fresh one per session.

class TestTarget extends RpcTarget {
  /** The registered callback (our own dup of the stub the client passed), or null. */
  #callback = null;

  square(i) {
    return i * i;
  }

  // Calls `square` back through the given stub; awaited so that the result is a plain value.
  async callSquare(self, i) {
    return { result: await self.square(i) };
  }

  async callFunction(func, i) {
    return { result: await func(i) };
  }

  throwError() {
    throw new RangeError("test error");
  }

  makeCounter(i) {
    return new Counter(i);
  }

  async incrementCounter(counter, i = 1) {
    return await counter.increment(i);
  }

  generateFibonacci(length) {
    const result = [];
    let a = 0;
    let b = 1;
    for (let k = 0; k < length; k++) {
      result.push(a);
      [a, b] = [b, a + b];
    }
    return result;
  }

  returnNull() {
    return null;
  }

  returnUndefined() {
    return undefined;
  }

  returnNumber(i) {
    return i;
  }

  echo(x) {
    return x;
  }

  makeDisposable(tag = "") {
    return new Disposable(tag);
  }

  makeDisposableRepeated(tag = "", n = 3) {
    const d = new Disposable(tag);
    return Array.from({ length: n }, () => d);
  }

  disposedCount(tag = "") {
    return disposedCounts.get(tag) ?? 0;
  }

  registerCallback(cb) {
    this.#releaseCallback();
    // Parameters are released when the call returns: keep our own reference.
    this.#callback = cb.dup();
  }

  async fireCallback(x) {
    if (this.#callback === null) throw new Error("no callback registered");
    return await this.#callback(x);
  }

  releaseCallback() {
    return this.#releaseCallback();
  }

  #releaseCallback() {
    if (this.#callback === null) return false;
    const cb = this.#callback;
    this.#callback = null;
    cb[Symbol.dispose]();
    return true;
  }

  // Runs when the session ends (or the client releases the main stub).
  [Symbol.dispose]() {
    this.#releaseCallback();
  }
}

// ---------------------------------------------------------------------------------------------
// Transports

function errorMessage(err) {
  return err instanceof Error ? err.message : String(err);
}

async function handleHttp(req, res) {
  if (req.method !== "POST") {
    res.writeHead(405, { "content-type": "text/plain; charset=utf-8", allow: "POST" });
    res.end("Method Not Allowed: POST a Cap'n Web batch, or upgrade to WebSocket.\n");
    return;
  }
  try {
    await nodeHttpBatchRpcResponse(req, res, new TestTarget());
  } catch (err) {
    if (!res.headersSent) {
      res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end(`batch aborted: ${errorMessage(err)}`);
    } else {
      res.destroy();
    }
  }
}

const server =
  process.env.TLS_CERT && process.env.TLS_KEY
    ? https.createServer(
        { cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) },
        handleHttp,
      )
    : http.createServer(handleHttp);

const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws) => {
  newWebSocketRpcSession(ws, new TestTarget());
});

// A test server must survive misbehaving peers: log instead of crashing.
process.on("unhandledRejection", (err) => {
  process.stderr.write(`testtarget-server: unhandled rejection: ${err?.stack ?? err}\n`);
});
process.on("uncaughtException", (err) => {
  process.stderr.write(`testtarget-server: uncaught exception: ${err?.stack ?? err}\n`);
});

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`usage: node testtarget-server.mjs PORT\n`);
  process.exit(2);
}

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

function shutdown() {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  server.closeAllConnections?.();
  server.close(() => process.exit(0));
  // Do not wait for stragglers.
  setTimeout(() => process.exit(0), 500).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
