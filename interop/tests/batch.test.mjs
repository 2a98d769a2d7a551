// HTTP batch transport: capnweb batch sessions and raw POST bodies.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startServer, openBatch, openWs, rawBatch, batchBody, assertRejects } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

/** Counts HTTP requests made through fetch while `fn` runs. */
async function countingFetches(fn) {
  const orig = globalThis.fetch;
  let n = 0;
  globalThis.fetch = (...args) => {
    n++;
    return orig(...args);
  };
  try {
    const r = await fn();
    return { result: r, requests: n };
  } finally {
    globalThis.fetch = orig;
  }
}

describe("HTTP batch with the capnweb client", () => {
  test("several calls in one batch (one HTTP request)", async () => {
    const { result, requests } = await countingFetches(() => {
      const api = openBatch(server);
      return Promise.all([
        api.square(4),
        api.returnNumber(-2),
        api.generateFibonacci(6),
        api.echo({ a: [1, 2n, "x"] }),
        api.returnNull(),
        api.returnUndefined(),
      ]);
    });
    assert.deepEqual(result, [16, -2, [0, 1, 1, 2, 3, 5], { a: [1, 2n, "x"] }, null, undefined]);
    assert.equal(requests, 1);
  });

  test("a pipelined chain in one batch, only the last awaited", async () => {
    const { result, requests } = await countingFetches(() => {
      const api = openBatch(server);
      const c1 = api.makeCounter(0);
      const v1 = c1.increment(1);
      const c2 = api.makeCounter(v1);
      const v2 = c2.increment(api.square(v1)); // 1 + 1
      const c3 = api.makeCounter(v2);
      const v3 = c3.increment(3); // 5
      return api.incrementCounter(api.makeCounter(v3), api.square(v3)); // 5 + 25
    });
    assert.equal(result, 30);
    assert.equal(requests, 1);
  });

  test("errors in a batch reject only their own calls", async () => {
    const api = openBatch(server);
    const [ok, err, unknown, ok2] = await Promise.allSettled([api.square(3), api.throwError(), api.nope(), api.returnNumber(1)]);
    assert.deepEqual(ok, { status: "fulfilled", value: 9 });
    assert.equal(err.reason.name, "RangeError");
    assert.equal(err.reason.message, "test error");
    assert.equal(unknown.reason.name, "TypeError");
    assert.deepEqual(ok2, { status: "fulfilled", value: 1 });
  });

  test("a stub returned in a batch can be used within the same batch", async () => {
    const api = openBatch(server);
    const c = api.makeCounter(10);
    const d = api.makeCounter(1);
    const results = await Promise.all([c.increment(5), c.increment(5), api.incrementCounter(d, 100), d.value]);
    // (Property reads are sent lazily by capnweb, when awaited: d.value is pushed last.)
    assert.deepEqual(results, [15, 20, 101, 101]);
  });

  test("each batch is a fresh session (no registered callback carried over)", async () => {
    await openBatch(server).registerCallback(() => 1);
    await assertRejects(openBatch(server).fireCallback(1), "Error", "no callback registered");
  });
});

describe("raw HTTP batch", () => {
  test("a raw batch: pushes, then pulls; answers only for pulled ids, in the response body", async () => {
    const body = batchBody([
      ["push", ["pipeline", 0, ["square"], [5]]],
      ["push", ["pipeline", 0, ["square"], [6]]],
      ["push", ["pipeline", 0, ["returnNumber"], [7]]],
      ["pull", 1],
      ["pull", 3],
    ]);
    const r = await rawBatch(server, body);
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.messages.filter((m) => m[0] !== "release"),
      [
        ["resolve", 1, 25],
        ["resolve", 3, 7],
      ],
    );
  });

  test("a raw batch with a pipelined chain", async () => {
    const body = batchBody([
      ["push", ["pipeline", 0, ["makeCounter"], [1]]],
      ["push", ["pipeline", 1, ["increment"], [["pipeline", 0, ["square"], [3]]]]],
      ["push", ["pipeline", 0, ["square"], [["pipeline", 2]]]],
      ["pull", 3],
    ]);
    const r = await rawBatch(server, body);
    assert.equal(r.status, 200);
    assert.deepEqual(r.messages, [["resolve", 3, 100]]);
  });

  test("an empty body is an empty batch: 200 with an empty body", async () => {
    const r = await rawBatch(server, "");
    assert.equal(r.status, 200);
    assert.equal(r.text, "");
  });

  for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
    test(`${method} gets 405 and executes nothing`, async () => {
      const r = await rawBatch(server, batchBody([["push", ["pipeline", 0, ["square"], [2]]], ["pull", 1]]), { method });
      assert.equal(r.status, 405);
      assert.ok(!r.text.includes("resolve"));
    });
  }

  test("a malformed line: status >= 400 with a readable reason (or an abort line), server keeps serving", async () => {
    const r = await rawBatch(server, batchBody([["push", ["pipeline", 0, ["square"], [2]]], "{not json", ["pull", 1]]));
    if (r.status === 200) {
      assert.ok(r.messages.some((m) => m[0] === "abort"), `200 without an abort line: ${r.text}`);
    } else {
      assert.ok(r.status >= 400, `status ${r.status}`);
      assert.ok(r.text.length > 0, "a readable reason");
      assert.ok(!r.text.includes('"resolve"'));
    }
    const again = await rawBatch(server, batchBody([["push", ["pipeline", 0, ["square"], [3]]], ["pull", 1]]));
    assert.equal(again.status, 200);
    assert.deepEqual(again.messages, [["resolve", 1, 9]]);
  });

  test("an unknown export id in a batch aborts it with the reason", async () => {
    const r = await rawBatch(server, batchBody([["pull", 42]]));
    if (r.status === 200) {
      const abort = r.messages.find((m) => m[0] === "abort");
      assert.ok(abort, r.text);
      assert.match(abort[1][2], /42/);
    } else {
      assert.ok(r.status >= 400);
      assert.match(r.text, /42/);
    }
  });

  test("the reference's 500 reason format: 'batch aborted: <message>' (or any readable reason)", async () => {
    const r = await rawBatch(server, batchBody([["bogus", 1]]));
    assert.ok(r.status >= 400 || r.text.includes("abort"), `status ${r.status}`);
    assert.match(r.text, /bad RPC message/);
  });

  test("HTTP/1.1 keep-alive: several batches on one connection", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set();
    try {
      for (let i = 0; i < 3; i++) {
        const { status, body, socket } = await new Promise((resolve, reject) => {
          const req = http.request(server.httpUrl, { method: "POST", agent }, (res) => {
            let b = "";
            res.setEncoding("utf8");
            res.on("data", (d) => (b += d));
            res.on("end", () => resolve({ status: res.statusCode, body: b, socket: req.socket }));
          });
          req.on("error", reject);
          req.end(batchBody([["push", ["pipeline", 0, ["square"], [i]]], ["pull", 1]]));
        });
        assert.equal(status, 200);
        assert.equal(body, JSON.stringify(["resolve", 1, i * i]));
        sockets.add(socket);
      }
      assert.equal(sockets.size, 1, "the connection was reused");
    } finally {
      agent.destroy();
    }
  });

  test("WebSocket sessions keep working alongside batches", async () => {
    const s = await openWs(server);
    try {
      const [a, b] = await Promise.all([s.api.square(11), openBatch(server).square(12)]);
      assert.deepEqual([a, b], [121, 144]);
    } finally {
      s.close();
    }
  });
});
