// Plain calls and errors, over WebSocket and HTTP batch, with the capnweb client.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, TRANSPORTS, withApi, assertRejects, RawWs } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

for (const transport of TRANSPORTS) {
  describe(`plain calls over ${transport}`, () => {
    test("square", async () => {
      const [a, b, c, d] = await withApi(server, transport, (api) =>
        Promise.all([api.square(3), api.square(-4), api.square(0.5), api.square(46341)]),
      );
      assert.equal(a, 9);
      assert.equal(b, 16);
      assert.equal(c, 0.25);
      assert.equal(d, 2147488281); // beyond i32
    });

    test("returnNumber", async () => {
      const r = await withApi(server, transport, (api) =>
        Promise.all([api.returnNumber(42), api.returnNumber(-1.5), api.returnNumber(0), api.returnNumber(2 ** 53)]),
      );
      assert.deepEqual(r, [42, -1.5, 0, 2 ** 53]);
    });

    test("returnNull / returnUndefined", async () => {
      const [n, u] = await withApi(server, transport, (api) => Promise.all([api.returnNull(), api.returnUndefined()]));
      assert.equal(n, null);
      assert.equal(u, undefined);
    });

    test("generateFibonacci, including 0 and 1", async () => {
      const [f0, f1, f2, f10, f40] = await withApi(server, transport, (api) =>
        Promise.all([
          api.generateFibonacci(0),
          api.generateFibonacci(1),
          api.generateFibonacci(2),
          api.generateFibonacci(10),
          api.generateFibonacci(40),
        ]),
      );
      assert.deepEqual(f0, []);
      assert.deepEqual(f1, [0]);
      assert.deepEqual(f2, [0, 1]);
      assert.deepEqual(f10, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
      assert.equal(f40.length, 40);
      assert.equal(f40[39], 63245986);
    });

    test("throwError rejects with RangeError('test error')", async () => {
      await withApi(server, transport, async (api) => {
        const err = await assertRejects(api.throwError(), "RangeError", "test error");
        assert.ok(err instanceof RangeError);
      });
    });

    test("a failing call does not disturb the other calls of the same round", async () => {
      const results = await withApi(server, transport, (api) =>
        Promise.allSettled([api.square(5), api.throwError(), api.nope(), api.returnNumber(8)]),
      );
      assert.deepEqual(results[0], { status: "fulfilled", value: 25 });
      assert.equal(results[1].status, "rejected");
      assert.equal(results[1].reason.name, "RangeError");
      assert.equal(results[2].status, "rejected");
      assert.equal(results[2].reason.name, "TypeError");
      assert.deepEqual(results[3], { status: "fulfilled", value: 8 });
    });

    test("unknown method rejects with TypeError, unknown property reads undefined", async () => {
      const [call, prop] = await withApi(server, transport, (api) => Promise.allSettled([api.noSuchMethod(1), api.noSuchProperty]));
      assert.equal(call.status, "rejected");
      assert.equal(call.reason.name, "TypeError");
      assert.deepEqual(prop, { status: "fulfilled", value: undefined });
    });
  });
}

describe("errors on the wire", () => {
  test("throwError: the reject frame carries no server stack", async () => {
    const raw = await RawWs.open(server);
    try {
      raw.call(1, 0, ["throwError"], []);
      const answer = await raw.waitAnswer(1);
      assert.equal(answer[0], "reject");
      const err = answer[2];
      assert.ok(Array.isArray(err), `error expression: ${JSON.stringify(err)}`);
      assert.deepEqual(err.slice(0, 3), ["error", "RangeError", "test error"]);
      assert.ok(err.length === 3 || err[3] === null, `no stack expected, got ${JSON.stringify(err)}`);
    } finally {
      raw.close();
    }
  });

  test("unknown method: reject frame is a TypeError expression and the session goes on", async () => {
    const raw = await RawWs.open(server);
    try {
      raw.call(1, 0, ["nope"], []);
      const answer = await raw.waitAnswer(1);
      assert.equal(answer[0], "reject");
      assert.equal(answer[2][0], "error");
      assert.equal(answer[2][1], "TypeError");
      assert.equal(typeof answer[2][2], "string");
      raw.send(["release", 1, 1]);
      raw.call(2, 0, ["square"], [12]);
      assert.deepEqual(await raw.waitAnswer(2), ["resolve", 2, 144]);
    } finally {
      raw.close();
    }
  });
});
