// Headless Chromium for the browser tests (demo.test.mjs, cors.test.mjs), through
// playwright-core, which never downloads a browser here: it drives the given executable.
//
// * CHROMIUM: /usr/bin/chromium (Debian's `chromium` package) or $CHROMIUM.
// * HAVE_BROWSER: whether it exists; without it the tests skip, unless REQUIRE_BROWSER=1 (CI),
//   when importing this module throws.
// * launchBrowser(): a persistent context in a fresh profile; close() removes the profile.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const HAVE_BROWSER = fs.existsSync(CHROMIUM);
if (!HAVE_BROWSER && process.env.REQUIRE_BROWSER === "1") {
  throw new Error(`REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}`);
}
/** Why a browser test is skipped, or false. */
export const SKIP_BROWSER = !HAVE_BROWSER && `no Chromium at ${CHROMIUM}`;

/** Launches Chromium; returns { context, close() }. */
export async function launchBrowser({ viewport = { width: 1280, height: 1100 } } = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport,
    });
  } catch (err) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
