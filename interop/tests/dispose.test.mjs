// dup / dispose and the server-side disposer counts (makeDisposable / disposedCount), session
// end disposal, and onRpcBroken. disposedCount is server-wide: every test uses its own tag.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, openWs, openBatch, pollUntil, uniqueTag, sleep, RawWs } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

/** Polls disposedCount(tag) through `api` until it reaches `want` (or times out); returns it. */
function countEventually(api, tag, want, timeoutMs = 3000) {
  return pollUntil(() => api.disposedCount(tag), (n) => n >= want, { timeoutMs });
}

describe("dup and dispose", () => {
  let s;
  before(async () => {
    s = await openWs(server);
  });
  after(() => s?.close());

  test("a Disposable works: ping() and the tag property", async () => {
    const tag = uniqueTag("ping");
    const d = await s.api.makeDisposable(tag);
    assert.equal(await d.ping(), "pong");
    assert.equal(await d.tag, tag);
    assert.equal(await s.api.disposedCount(tag), 0);
    d[Symbol.dispose]();
  });

  test("disposedCount of an unused tag is 0, default tag is accepted", async () => {
    assert.equal(await s.api.disposedCount(uniqueTag("unused")), 0);
    assert.equal(typeof (await s.api.disposedCount()), "number");
  });

  test("dispose once -> count 1", async () => {
    const tag = uniqueTag("once");
    const d = await s.api.makeDisposable(tag);
    assert.equal(await s.api.disposedCount(tag), 0);
    d[Symbol.dispose]();
    assert.equal(await countEventually(s.api, tag, 1), 1);
    await sleep(50);
    assert.equal(await s.api.disposedCount(tag), 1, "disposer ran exactly once");
  });

  test("dup, dispose one -> 0, dispose the other -> 1", async () => {
    const tag = uniqueTag("dup");
    const d = await s.api.makeDisposable(tag);
    const d2 = d.dup();
    d[Symbol.dispose]();
    assert.equal(await d2.ping(), "pong", "the dup still works");
    await sleep(50);
    assert.equal(await s.api.disposedCount(tag), 0);
    d2[Symbol.dispose]();
    assert.equal(await countEventually(s.api, tag, 1), 1);
  });

  test("makeDisposableRepeated(tag, 3), dispose the result -> 3", async () => {
    const tag = uniqueTag("rep");
    const arr = await s.api.makeDisposableRepeated(tag, 3);
    assert.equal(arr.length, 3);
    for (const d of arr) assert.equal(await d.ping(), "pong");
    assert.equal(await arr[2].tag, tag);
    arr[Symbol.dispose]();
    assert.equal(await countEventually(s.api, tag, 3), 3);
    await sleep(50);
    assert.equal(await s.api.disposedCount(tag), 3);
  });

  test("makeDisposableRepeated default n is 3", async () => {
    const tag = uniqueTag("repdef");
    const arr = await s.api.makeDisposableRepeated(tag);
    assert.equal(arr.length, 3);
    arr[Symbol.dispose]();
    assert.equal(await countEventually(s.api, tag, 3), 3);
  });

  test("a pipelined Disposable that is never awaited is disposed when its promise is", async () => {
    const tag = uniqueTag("pipe");
    const p = s.api.makeDisposable(tag);
    assert.equal(await p.ping(), "pong");
    p[Symbol.dispose]();
    assert.equal(await countEventually(s.api, tag, 1), 1);
  });

  test("disposedCount is server-wide: visible from another session and over HTTP batch", async () => {
    const tag = uniqueTag("wide");
    const d = await s.api.makeDisposable(tag);
    d[Symbol.dispose]();
    await countEventually(s.api, tag, 1);
    const t = await openWs(server);
    try {
      assert.equal(await t.api.disposedCount(tag), 1);
    } finally {
      t.close();
    }
    assert.equal(await openBatch(server).disposedCount(tag), 1);
  });

  test("release on the wire with the right refcount disposes", async () => {
    const tag = uniqueTag("wire");
    const raw = await RawWs.open(server);
    try {
      raw.call(1, 0, ["makeDisposable"], [tag]);
      const exp = (await raw.waitAnswer(1))[2];
      assert.equal(exp[0], "export");
      assert.ok(exp[1] < 0);
      raw.send(["release", 1, 1]);
      raw.call(2, exp[1], ["ping"], []);
      assert.deepEqual(await raw.waitAnswer(2), ["resolve", 2, "pong"]);
      raw.call(3, 0, ["disposedCount"], [tag]);
      assert.deepEqual(await raw.waitAnswer(3), ["resolve", 3, 0]);
      raw.send(["release", exp[1], 1]);
      // Push ids are sequential: keep asking with 4, 5, … until the disposer has run.
      let nextId = 4;
      const c = await pollUntil(
        async () => {
          const id = nextId++;
          raw.call(id, 0, ["disposedCount"], [tag]);
          const answer = await raw.waitAnswer(id);
          raw.send(["release", id, 1]);
          return answer[2];
        },
        (n) => n >= 1,
      );
      assert.equal(c, 1);
    } finally {
      raw.close();
    }
  });
});

describe("session end", () => {
  test("closing a session disposes everything it holds", async () => {
    const tag = uniqueTag("close");
    const a = await openWs(server);
    const d1 = await a.api.makeDisposable(tag);
    const d2 = await a.api.makeDisposable(tag);
    const d3 = d2.dup();
    a.api.makeDisposable(tag).ping(); // pipelined, never awaited itself
    assert.equal(await d1.ping(), "pong");
    assert.equal(await d3.ping(), "pong");
    const observer = await openWs(server);
    try {
      assert.equal(await observer.api.disposedCount(tag), 0);
      a.close();
      assert.equal(await countEventually(observer.api, tag, 3), 3);
      await sleep(50);
      assert.equal(await observer.api.disposedCount(tag), 3);
    } finally {
      observer.close();
    }
  });

  test("a dropped connection (no close handshake) disposes everything it holds", async () => {
    const tag = uniqueTag("drop");
    const a = await openWs(server);
    await a.api.makeDisposable(tag);
    await a.api.makeDisposableRepeated(tag, 2);
    const observer = await openWs(server);
    try {
      a.ws.terminate();
      // 1 + 2 (every slot of the repeated array is a hand-out)
      assert.equal(await countEventually(observer.api, tag, 3), 3);
    } finally {
      observer.close();
    }
  });

  test("a raw client that closes the socket: its exports are disposed", async () => {
    const tag = uniqueTag("rawclose");
    const raw = await RawWs.open(server);
    raw.call(1, 0, ["makeDisposable"], [tag]);
    await raw.waitAnswer(1);
    raw.send(["release", 1, 1]);
    raw.close();
    await raw.waitClose();
    const observer = await openWs(server);
    try {
      assert.equal(await countEventually(observer.api, tag, 1), 1);
    } finally {
      observer.close();
    }
  });

  test("onRpcBroken fires on the client's stubs when the connection drops", async () => {
    const a = await openWs(server);
    const counter = await a.api.makeCounter(1);
    assert.equal(await counter.increment(), 2);
    const pending = a.api.makeCounter(5); // unresolved promise stub
    const broken = { main: null, counter: null, pending: null };
    a.api.onRpcBroken((e) => (broken.main = e));
    counter.onRpcBroken((e) => (broken.counter = e));
    pending.onRpcBroken((e) => (broken.pending = e));
    await sleep(20);
    assert.deepEqual(broken, { main: null, counter: null, pending: null }, "nothing broken yet");
    a.ws.terminate();
    await pollUntil(() => broken, (b) => b.main && b.counter && b.pending, { timeoutMs: 3000 });
    assert.ok(broken.main instanceof Error, "main stub's onRpcBroken fired");
    assert.ok(broken.counter instanceof Error, "counter stub's onRpcBroken fired");
    assert.ok(broken.pending instanceof Error, "unresolved promise's onRpcBroken fired");
    await assert.rejects(async () => await counter.increment(), "calls on a broken stub reject");
    a.close();
  });

  test("onRpcBroken fires when the server closes the connection (server-side abort)", async () => {
    const a = await openWs(server);
    const counter = await a.api.makeCounter(1);
    let brokenWith = null;
    counter.onRpcBroken((e) => (brokenWith = e));
    // Make the server abort the session with a malformed frame on the same socket.
    a.ws.send("this is not json");
    await pollUntil(() => brokenWith, (b) => b !== null, { timeoutMs: 3000 });
    assert.ok(brokenWith instanceof Error, String(brokenWith));
    a.close();
  });
});
