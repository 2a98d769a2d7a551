// Starting the example binaries of the workspace (examples/*, demo/) for the Node tests.
//
// startExample(pkg, env, args): runs `cargo run -q -p <pkg> -- <args>` from the repository root
// (building it if needed) with PORT=0 and `env`, waits for the line it prints with its URL (`... listening on
// http://127.0.0.1:PORT/...`), and returns { url, port, lines, stop() }.

import { spawn } from "node:child_process";
import path from "node:path";
import { INTEROP_DIR } from "./helpers.mjs";

export const ROOT = path.resolve(INTEROP_DIR, "..");
/** The binary may compile first. */
const START_TIMEOUT_MS = Number(process.env.TESTTARGET_START_TIMEOUT_MS || 10 * 60 * 1000);

export async function startExample(pkg, env = {}, args = []) {
  const child = spawn("cargo", ["run", "-q", "-p", pkg, "--", ...args], {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr.on("data", (d) => process.stderr.write(d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const lines = [];
  const waiters = [];
  let buf = "";
  child.stdout.on("data", (d) => {
    buf += d.toString("utf8");
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) w();
    }
  });
  const signalGroup = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      /* already gone */
    }
  };
  /** Waits for a line (from the start of the output) matching `re`; returns its match. */
  const waitForLine = (re, timeoutMs = START_TIMEOUT_MS) =>
    new Promise((resolve, reject) => {
      const check = () => {
        for (const line of lines) {
          const m = re.exec(line);
          if (m) {
            cleanup();
            resolve(m);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${pkg}: no line matching ${re} within ${timeoutMs} ms; output: ${lines.join("\n")}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        const i = waiters.indexOf(check);
        if (i >= 0) waiters.splice(i, 1);
      };
      if (!check()) waiters.push(check);
      exited.then(({ code, signal }) => {
        if (!check()) {
          cleanup();
          reject(new Error(`${pkg} exited (code ${code}, signal ${signal}); output: ${lines.join("\n")}`));
        }
      });
    });
  let m;
  try {
    m = await waitForLine(/listening on (http:\/\/127\.0\.0\.1:(\d+)\/)/);
  } catch (err) {
    signalGroup("SIGKILL");
    throw err;
  }
  return {
    url: m[1],
    port: Number(m[2]),
    lines,
    waitForLine,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalGroup("SIGTERM");
      const t = setTimeout(() => signalGroup("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}
