// Behaviours where the contract requires the Rust server (tether) to do better than the capnweb
// 0.12 reference. The reference server fails these by design, so they are skipped unless
// TETHER_SERVER=1.

import { describe, test as nodeTest, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket as WsWebSocket } from "ws";
import { newWebSocketRpcSession } from "capnweb";
import { startServer, openWs, openBatch, rawBatch, batchBody, pollUntil, uniqueTag, sleep, TETHER_SERVER } from "./helpers.mjs";

const skip = TETHER_SERVER ? false : "reference behaviour differs by design (set TETHER_SERVER=1 for the Rust server)";

let server;
before(async () => {
  if (TETHER_SERVER) server = await startServer();
});
after(async () => {
  await server?.stop();
});

// Skipped per test (not per suite) so that the skips show up in the test counts.
const test = (name, fn) => nodeTest(name, { skip }, fn);

describe("where tether does better than the reference", () => {
  let observer;
  before(async () => {
    if (TETHER_SERVER) observer = await openWs(server);
  });
  after(() => observer?.close());

  describe("objects created during an HTTP batch are disposed when the batch ends", () => {
    test("a Disposable returned to the client (never released by it)", async () => {
      const tag = uniqueTag("batch-ret");
      const d = await openBatch(server).makeDisposable(tag);
      assert.ok(d, "got a stub");
      const n = await pollUntil(() => observer.api.disposedCount(tag), (c) => c >= 1, { timeoutMs: 3000 });
      assert.equal(n, 1);
      await sleep(50);
      assert.equal(await observer.api.disposedCount(tag), 1, "exactly once");
    });

    test("a Disposable only used for pipelining inside the batch", async () => {
      const tag = uniqueTag("batch-pipe");
      const api = openBatch(server);
      assert.equal(await api.makeDisposable(tag).ping(), "pong");
      assert.equal(await pollUntil(() => observer.api.disposedCount(tag), (c) => c >= 1), 1);
    });

    test("makeDisposableRepeated in a batch: every hand-out is disposed", async () => {
      const tag = uniqueTag("batch-rep");
      const arr = await openBatch(server).makeDisposableRepeated(tag, 3);
      assert.equal(arr.length, 3);
      assert.equal(await pollUntil(() => observer.api.disposedCount(tag), (c) => c >= 3), 3);
      await sleep(50);
      assert.equal(await observer.api.disposedCount(tag), 3);
    });

    test("a raw batch that creates a Disposable and never releases it", async () => {
      const tag = uniqueTag("batch-raw");
      const r = await rawBatch(server, batchBody([["push", ["pipeline", 0, ["makeDisposable"], [tag]]], ["pull", 1]]));
      assert.equal(r.status, 200);
      assert.equal(r.messages[0][0], "resolve");
      assert.equal(r.messages[0][2][0], "export");
      assert.equal(await pollUntil(() => observer.api.disposedCount(tag), (c) => c >= 1), 1);
    });
  });

  describe("a trailing newline in a batch body is no message", () => {
    test("push + pull with a trailing newline", async () => {
      const body = batchBody([["push", ["pipeline", 0, ["square"], [7]]], ["pull", 1]]) + "\n";
      const r = await rawBatch(server, body);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.messages, [["resolve", 1, 49]]);
    });

    test("a body that is just a newline is an empty batch", async () => {
      const r = await rawBatch(server, "\n");
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, "");
    });
  });

  describe("echo(stub) returns the stub", () => {
    test("echo of a server Counter stub returns a working stub of the same object", async () => {
      const c = await observer.api.makeCounter(3);
      const c2 = await observer.api.echo(c);
      assert.equal(await c2.increment(), 4);
      assert.equal(await c.value, 4, "same counter");
      c2[Symbol.dispose]();
      assert.equal(await c.increment(), 5, "the original reference is still alive");
      c[Symbol.dispose]();
    });

    test("echo of a structure holding stubs", async () => {
      const tag = uniqueTag("echo-struct");
      const c = await observer.api.makeCounter(10);
      const d = await observer.api.makeDisposable(tag);
      const r = await observer.api.echo({ counter: c, list: [d, 1] });
      assert.equal(await r.counter.increment(1), 11);
      assert.equal(await r.list[0].ping(), "pong");
      assert.equal(r.list[1], 1);
      r[Symbol.dispose]();
      d[Symbol.dispose]();
      c[Symbol.dispose]();
      assert.equal(await pollUntil(() => observer.api.disposedCount(tag), (n) => n >= 1), 1);
    });

    test("echo of a client function returns something that calls it", async () => {
      const seen = [];
      const f = await observer.api.echo((x) => {
        seen.push(x);
        return x * 2;
      });
      assert.equal(await f(21), 42);
      assert.deepEqual(seen, [21]);
    });

    test("echo of a pipelined stub inside one HTTP batch", async () => {
      const api = openBatch(server);
      const echoed = api.echo(api.makeCounter(1));
      assert.equal(await echoed.increment(5), 6);
    });
  });

  // The reference server (`ws`) picks the first protocol offered, whatever it is; tether picks
  // the first offered one it accepts (the TestTarget accepts `tether-test`), or none.
  describe("WebSocket subprotocols: the server's choice", () => {
    /** Opens a `ws` socket offering `protocols`; resolves with it open, rejects on a failure. */
    const offer = (protocols) =>
      new Promise((resolve, reject) => {
        const ws = new WsWebSocket(server.wsUrl, protocols);
        ws.once("open", () => resolve(ws));
        ws.once("error", reject);
      });

    test("the first offered subprotocol the server accepts is chosen, and capnweb works over it", async () => {
      const ws = await offer(["nope", "tether-test"]);
      try {
        assert.equal(ws.protocol, "tether-test");
        const api = newWebSocketRpcSession(ws);
        assert.equal(await api.square(3), 9);
        api[Symbol.dispose]();
      } finally {
        ws.close();
      }
    });

    test("offering only subprotocols the server does not accept fails the handshake", async () => {
      await assert.rejects(offer(["nope", "other"]), /no subprotocol/i);
    });
  });
});
