// The Rust server is written with tether's typed API (`#[tether::interface]`): a wrong argument
// type is refused at the boundary with a TypeError naming the method and the parameter, before
// the method body runs. The reference server coerces instead (JavaScript semantics), so these
// tests are skipped unless TETHER_SERVER=1.

import { describe, test as nodeTest, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, withApi, assertRejects, TRANSPORTS, TETHER_SERVER } from "./helpers.mjs";

const skip = TETHER_SERVER ? false : "the reference coerces arguments (set TETHER_SERVER=1 for the Rust server)";

let server;
before(async () => {
  if (TETHER_SERVER) server = await startServer();
});
after(async () => {
  await server?.stop();
});

// Skipped per test (not per suite) so that the skips show up in the test counts.
const test = (name, fn) => nodeTest(name, { skip }, fn);

/** The promise of a settled outcome (from Promise.allSettled), to check with assertRejects. */
const outcome = (settled) => (settled.status === "fulfilled" ? Promise.resolve(settled.value) : Promise.reject(settled.reason));

describe("typed parameters: wrong argument types are TypeErrors naming method and parameter", () => {
  for (const transport of TRANSPORTS) {
    test(`square("x") over ${transport}`, async () => {
      await withApi(server, transport, async (api) => {
        await assertRejects(api.square("x"), "TypeError", "square: parameter 'i' must be a number, got string");
      });
    });

    test(`makeCounter({}) over ${transport}, and the session goes on`, async () => {
      await withApi(server, transport, async (api) => {
        // Everything awaited at once: over HTTP batch, all calls (and pulls) go in one request.
        const [counter, missing, ok] = await Promise.allSettled([api.makeCounter({}), api.square(), api.square(3)]);
        const err = await assertRejects(outcome(counter), "TypeError", /^makeCounter: parameter 'i' /);
        assert.match(err.message, /must be a number, got object/);
        await assertRejects(outcome(missing), "TypeError", "square: missing required parameter 'i'");
        assert.deepEqual(ok, { status: "fulfilled", value: 9 }, "the session still works");
      });
    });
  }
});

describe("typed parameters: objects, callbacks and data are checked too, and the body does not run", () => {
  for (const transport of TRANSPORTS) {
    test(`scalePoint with a wrong or missing field over ${transport}`, async () => {
      await withApi(server, transport, async (api) => {
        const [wrong, missing, ok] = await Promise.allSettled([
          api.scalePoint({ x: 1, y: "2" }, 2),
          api.scalePoint({ x: 1 }, 2),
          api.scalePoint({ x: 1, y: 2 }, 3),
        ]);
        await assertRejects(outcome(wrong), "TypeError", "scalePoint: parameter 'p.y' must be a number, got string");
        const err = await assertRejects(outcome(missing), "TypeError", /^scalePoint: parameter 'p'/);
        assert.match(err.message, /missing field `y`/);
        assert.deepEqual(ok, { status: "fulfilled", value: { x: 3, y: 6 } });
      });
    });

    test(`a callback where a number is declared over ${transport}`, async () => {
      await withApi(server, transport, async (api) => {
        await assertRejects(api.square(() => 3), "TypeError", /^square: parameter 'i' must be a number, got /);
      });
    });

    test(`data where a callback is declared over ${transport}`, async () => {
      await withApi(server, transport, async (api) => {
        await assertRejects(api.callFunction(5, 1), "TypeError", /^callFunction: parameter 'func' must be a stub/);
      });
    });
  }

  // The body does not run: registerCallback refused data, so nothing was registered.
  test("registerCallback(42) is refused and registers nothing", async () => {
    await withApi(server, "ws", async (api) => {
      await assertRejects(api.registerCallback(42), "TypeError", /^registerCallback: parameter 'cb' must be a stub/);
      await assertRejects(api.fireCallback(1), "Error", "no callback registered");
    });
  });
});
