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

/** tag -> what the sink made by makeSink(tag) has received (all sessions). */
const sinks = new Map();

// ---------------------------------------------------------------------------------------------
// Streams: the FNV-1a 32-bit hash and "the pattern" of TESTTARGET.md

const FNV_OFFSET = 0x811c9dc5;

function fnvStep(h, bytes) {
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

const hex = (h) => (h >>> 0).toString(16).padStart(8, "0");

/** A tally of chunks as `consume` counts them. */
function newTally() {
  return { count: 0, bytes: 0, hash: FNV_OFFSET, values: [] };
}

function tallyChunk(tally, chunk) {
  tally.count++;
  if (chunk instanceof Uint8Array) {
    tally.bytes += chunk.length;
    tally.hash = fnvStep(tally.hash, chunk);
  } else {
    tally.values.push(chunk);
  }
}

const tallyResult = (t) => ({ count: t.count, bytes: t.bytes, fnv: hex(t.hash), values: t.values });

/** A ReadableStream of the pattern of `total` bytes in chunks of at most `chunk`. */
function patternStream(total, chunk = 65536) {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= total) {
        controller.close();
        return;
      }
      const length = Math.min(chunk, total - offset);
      const bytes = new Uint8Array(length);
      for (let k = 0; k < length; k++) bytes[k] = (offset + k) % 251;
      offset += length;
      controller.enqueue(bytes);
    },
  });
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

  // Streams and Fetch API types

  streamNumbers(n) {
    let i = 0;
    return new ReadableStream({
      pull(controller) {
        if (i < n) controller.enqueue(i++);
        else controller.close();
      },
    });
  }

  streamBytes(total, chunk = 65536) {
    return patternStream(total, chunk);
  }

  streamFailing(n) {
    let i = 0;
    return new ReadableStream({
      pull(controller) {
        if (i < n) controller.enqueue(`chunk ${i++}`);
        else controller.error(new RangeError("stream broke"));
      },
    });
  }

  async consume(stream) {
    const tally = newTally();
    for await (const chunk of stream) tallyChunk(tally, chunk);
    return tallyResult(tally);
  }

  async writeNumbers(writable, n) {
    const writer = writable.getWriter();
    for (let i = 0; i < n; i++) await writer.write({ i });
    await writer.close();
    return n;
  }

  makeSink(tag) {
    const state = { tally: newTally(), closed: false, aborted: null };
    sinks.set(tag, state);
    return new WritableStream({
      write(chunk) {
        tallyChunk(state.tally, chunk);
      },
      close() {
        state.closed = true;
      },
      abort(reason) {
        state.aborted = reason instanceof Error ? reason.message : String(reason ?? "aborted");
      },
    });
  }

  sinkState(tag) {
    const state = sinks.get(tag);
    if (!state) return null;
    return { ...tallyResult(state.tally), closed: state.closed, aborted: state.aborted };
  }

  async describeRequest(request) {
    return {
      method: request.method,
      url: request.url,
      headers: [...request.headers],
      body: request.body ? await request.text() : "",
    };
  }

  makeResponse(status, body, headers = {}) {
    return new Response(body, { status, headers });
  }

  proxyResponse(total) {
    return new Response(patternStream(total), {
      status: 200,
      headers: { "content-type": "application/octet-stream" },
    });
  }

  async describeBlob(blob) {
    const bytes = new Uint8Array(await blob.arrayBuffer());
    return { type: blob.type, size: blob.size, fnv: hex(fnvStep(FNV_OFFSET, bytes)) };
  }

  makeBlob(type, text) {
    return new Blob([text], { type });
  }

  describeUrl(url) {
    return { href: url.href, host: url.host, pathname: url.pathname, search: url.search };
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
