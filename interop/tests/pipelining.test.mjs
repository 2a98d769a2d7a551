// Promise pipelining proven by counting: a chain of N dependent calls with one await sends its N
// pushes before any reply arrives and gets exactly one resolve back (WebSocket), or takes exactly
// one request (HTTP batch). Also map() (remap) and E-order, from the real capnweb client.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, openWs, openBatch, assertRejects } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

/** Opens a WebSocket session whose frames are recorded: [{ dir: ">" | "<", msg }]. */
async function tappedWs() {
  const s = await openWs(server);
  const frames = [];
  const send = s.ws.send.bind(s.ws);
  s.ws.send = (data, ...rest) => {
    frames.push({ dir: ">", msg: JSON.parse(String(data)) });
    return send(data, ...rest);
  };
  s.ws.on("message", (data) => frames.push({ dir: "<", msg: JSON.parse(String(data)) }));
  return { ...s, frames };
}

/** Asserts the frames show one round trip: every push/pull before the first reply. */
function assertOneRoundTrip(frames, pushes, { singleResolve = true } = {}) {
  const firstReply = frames.findIndex((f) => f.dir === "<");
  assert.ok(firstReply > 0, "a reply arrived");
  const before = frames.slice(0, firstReply).filter((f) => f.msg[0] === "push" || f.msg[0] === "pull");
  const after = frames.slice(firstReply).filter((f) => f.dir === ">" && (f.msg[0] === "push" || f.msg[0] === "pull"));
  assert.equal(before.filter((f) => f.msg[0] === "push").length, pushes, "every push left before the first reply");
  assert.equal(after.length, 0, "no push or pull waited for a reply");
  if (!singleResolve) return;
  const resolves = frames.filter((f) => f.dir === "<" && (f.msg[0] === "resolve" || f.msg[0] === "reject"));
  assert.equal(resolves.length, 1, "exactly one resolution came back");
}

/** Counts the HTTP requests capnweb's batch client makes while `fn` runs. */
async function countingRequests(fn) {
  const realFetch = globalThis.fetch;
  let requests = 0;
  globalThis.fetch = (...args) => {
    requests++;
    return realFetch(...args);
  };
  try {
    const result = await fn();
    return { result, requests };
  } finally {
    globalThis.fetch = realFetch;
  }
}

describe("pipelining over WebSocket (frames counted)", () => {
  for (const depth of [2, 10]) {
    test(`a chain of ${depth} dependent calls is one round trip`, async () => {
      const s = await tappedWs();
      try {
        let p = s.api.returnNumber(1);
        for (let i = 1; i < depth; i++) p = s.api.returnNumber(p);
        assert.equal(await p, 1);
        assertOneRoundTrip(s.frames, depth);
      } finally {
        s.close();
      }
    });
  }

  test("calls on an unresolved stub pipeline (makeCounter(5).increment(2))", async () => {
    const s = await tappedWs();
    try {
      const counter = s.api.makeCounter(5);
      assert.equal(await counter.increment(2), 7);
      assertOneRoundTrip(s.frames, 2);
      const pipelined = s.frames.find((f) => f.msg[0] === "push" && f.msg[1][2]?.[0] === "increment");
      assert.equal(pipelined.msg[1][0], "pipeline");
      assert.ok(pipelined.msg[1][1] > 0, "the call names the unresolved import");
    } finally {
      s.close();
    }
  });

  test("a rejection propagates to every pipelined call", async () => {
    const s = await openWs(server);
    try {
      const failed = s.api.throwError();
      await assertRejects(failed.anything(), "RangeError", "test error");
      await assertRejects(s.api.square(failed), "RangeError", "test error");
    } finally {
      s.close();
    }
  });

  test("map() runs remotely in one round trip", async () => {
    const s = await tappedWs();
    try {
      const squares = s.api.generateFibonacci(7).map((x) => s.api.square(x));
      assert.deepEqual(await squares, [0, 1, 1, 4, 9, 25, 64]);
      // The reference resolves each element as its own promise export; what counts is that the
      // client never waited: one round trip.
      assertOneRoundTrip(s.frames, 2, { singleResolve: false });
      assert.ok(s.frames.some((f) => f.dir === ">" && f.msg[0] === "push" && f.msg[1][0] === "remap"));
    } finally {
      s.close();
    }
  });

  test("map() on null does not run the mapper; on a single value runs it once", async () => {
    const s = await openWs(server);
    try {
      assert.equal(await s.api.returnNull().map((x) => s.api.square(x)), null);
      assert.equal(await s.api.returnNumber(6).map((x) => s.api.square(x)), 36);
    } finally {
      s.close();
    }
  });

  test("map() can make stubs, build objects and nest", async () => {
    const s = await openWs(server);
    try {
      const counters = s.api.generateFibonacci(4).map((x) => s.api.makeCounter(x));
      const incremented = await Promise.all((await counters).map((c) => c.increment(10)));
      assert.deepEqual(incremented, [10, 11, 11, 12]);
      const nested = s.api.generateFibonacci(4).map((n) => s.api.generateFibonacci(n).map((y) => s.api.square(y)));
      assert.deepEqual(await nested, [[], [0], [0], [0, 1]]);
      const objects = s.api.generateFibonacci(3).map((x) => ({ sq: s.api.square(x), n: x }));
      assert.deepEqual(await objects, [
        { sq: 0, n: 0 },
        { sq: 1, n: 1 },
        { sq: 1, n: 1 },
      ]);
    } finally {
      s.close();
    }
  });

  test("E-order: calls on one stub are delivered in the order made, before and after it resolves", async () => {
    const s = await openWs(server);
    try {
      const counter = s.api.makeCounter(0);
      const early = Array.from({ length: 50 }, () => counter.increment(1));
      const resolved = await counter;
      const late = Array.from({ length: 50 }, () => resolved.increment(1));
      const values = await Promise.all([...early, ...late]);
      assert.deepEqual(values, Array.from({ length: 100 }, (_, i) => i + 1));
    } finally {
      s.close();
    }
  });
});

describe("E-order of server-to-client callbacks", () => {
  test("callbacks fired by concurrent calls arrive in the order the calls were made", async () => {
    const s = await openWs(server);
    try {
      const seen = [];
      await s.api.registerCallback((x) => {
        seen.push(x);
        return x;
      });
      const fired = await Promise.all(Array.from({ length: 50 }, (_, i) => s.api.fireCallback(i)));
      assert.deepEqual(fired, Array.from({ length: 50 }, (_, i) => i));
      assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i));
    } finally {
      s.close();
    }
  });
});

describe("pipelining over HTTP batch (requests counted)", () => {
  test("a chain of 10 dependent calls is one request", async () => {
    const { result, requests } = await countingRequests(async () => {
      const api = openBatch(server);
      let p = api.returnNumber(3);
      for (let i = 1; i < 10; i++) p = api.returnNumber(p);
      return await p;
    });
    assert.equal(result, 3);
    assert.equal(requests, 1);
  });

  test("map() in a batch is one request", async () => {
    const { result, requests } = await countingRequests(async () => {
      const api = openBatch(server);
      return await api.generateFibonacci(5).map((x) => api.square(x));
    });
    assert.deepEqual(result, [0, 1, 1, 4, 9]);
    assert.equal(requests, 1);
  });
});
