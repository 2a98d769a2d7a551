// The browser demo (demo/, `cargo run -p tether-demo`) in headless Chromium: every panel
// clicked through and checked, a screenshot saved to test-output/demo.png.
//
// Needs a Chromium: /usr/bin/chromium (Debian's `chromium` package) or CHROMIUM=path. Without
// one the test is skipped, unless REQUIRE_BROWSER=1 (CI), when it fails. Playwright never
// downloads a browser here: it drives the given executable.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { INTEROP_DIR, startExample } from "./helpers.mjs";
import { HAVE_BROWSER, SKIP_BROWSER, launchBrowser } from "./browser.mjs";

const OUTPUT_DIR = path.join(INTEROP_DIR, "test-output");
/** Waits in the page: generous, the machine may be busy. */
const WAIT_MS = 30_000;

let server;
let browser;
let context;
before(async () => {
  if (!HAVE_BROWSER) return;
  server = await startExample("tether-demo");
  browser = await launchBrowser();
  context = browser.context;
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the demo page: every panel works in Chromium", { skip: SKIP_BROWSER }, async () => {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()} for ${response.url()}`);
  });
  const text = (selector) => page.locator(selector).innerText();
  const waitForText = (selector, expected) =>
    page.waitForFunction(
      ([sel, want]) => {
        const el = document.querySelector(sel);
        return el !== null && (want instanceof RegExp ? want.test(el.textContent) : el.textContent.includes(want));
      },
      [selector, expected],
    );

  await page.goto(server.url);
  assert.equal(await page.locator("#capnweb-missing").count(), 0, "capnweb was embedded");
  await waitForText("#status", "connected");

  // 1. Pipelining: three calls, one HTTP request.
  await page.click("#pipeline-run");
  await waitForText("#pipeline-requests", /^\d+$/);
  assert.equal(await text("#pipeline-result"), "a = 15, b = 30");
  assert.equal(await text("#pipeline-requests"), "1");

  // 2. The counter: made, incremented, disposed; the server's disposer calls the page back.
  await page.click("#counter-make");
  await waitForText("#counter-value", "0");
  for (const expected of ["1", "2", "3"]) {
    await page.click("#counter-increment");
    await waitForText("#counter-value", expected);
  }
  await page.click("#counter-dispose");
  await waitForText("#counter-disposed", /disposed/);
  assert.match(await text("#counter-disposed"), /^counter #\d+ disposed \(final value 3\)$/);
  assert.ok(await page.locator("#counter-make").isEnabled());
  assert.ok(await page.locator("#counter-increment").isDisabled());

  // 3. The server calls a function of the page, three times.
  await page.click("#callback-run");
  await waitForText("#callback-result", "9");
  assert.equal(await text("#callback-result"), "1, 4, 9");
  assert.equal(await page.locator("#callback-calls li").count(), 3);
  assert.match(await text("#callback-calls"), /called f\(2\); the page answered 4/);

  // 4. map() over the users, in one HTTP request.
  await page.click("#map-run");
  await waitForText("#map-requests", /^\d+$/);
  assert.deepEqual(await page.locator("#map-result li").allInnerTexts(), [
    "Hello, Ada!",
    "Hello, Grace!",
    "Hello, Barbara!",
  ]);
  assert.equal(await text("#map-requests"), "1");

  // 5. The frame log saw all of it, both ways, over both transports.
  const frames = await page.locator("#frames li").allInnerTexts();
  const has = (direction, transport, pattern) =>
    frames.some((f) => f.startsWith(`${direction} ${transport}`) && pattern.test(f));
  assert.ok(has("→", "batch", /\["push",\["pipeline",0,\["makeCounter"\],\[10\]\]\]/), frames.join("\n"));
  assert.ok(has("→", "batch", /"remap"/), "map() was sent as one remap");
  assert.ok(has("←", "batch", /\["resolve",/));
  assert.ok(has("→", "ws", /"callMeBack"/));
  assert.ok(has("←", "ws", /"counter #\d+ disposed/), "the disposer's callback arrived as a frame");
  assert.ok(has("→", "ws", /\["release",/), "the dispose was sent as a release");
  assert.match(await text("#frames-count"), new RegExp(`^sent \\d+ · received \\d+$`));

  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  const screenshot = path.join(OUTPUT_DIR, "demo.png");
  await page.screenshot({ path: screenshot, fullPage: true });
  assert.ok(fs.statSync(screenshot).size > 10_000, "a screenshot with something on it");

  assert.deepEqual(problems, []);
  await page.close();
});
