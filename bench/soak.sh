#!/usr/bin/env bash
# Soak, churn and allocation counts, against capnweb's reference server and tether's, in one
# run; then BENCHMARKS.md again, with its "Soak and churn" and "Allocations per call, counted"
# sections from this run's results.
#
#   bench/soak.sh           (from any directory; about 5 minutes with the defaults on a quiet
#                           machine, most of it capnweb's share; up to twice that on a busy one)
#
# What it runs, servers pinned to CPU 0 and the driver to CPU 1 (taskset), as bench/run.sh does:
#   the Rust driver (tether-bench-driver, tether as the client) against the capnweb reference
#   server (shared kit's server.mjs, `node --expose-gc`) and the typed tether-bench-server:
#   1. `soak`: SOAK_CALLS calls on one WebSocket session, CONCURRENCY loops, memory read
#      SOAK_SAMPLES times (capnweb, then tether);
#   2. `churn`: CHURN_CYCLES connect / call / close cycles over WebSocket, then as many over HTTP
#      batch, PARALLEL at a time (capnweb, then tether);
#   3. `allocs`: echo calls counted by the server's and the driver's allocators (tether only: the
#      counts come from tether-bench-server's extra allocCount() / largeAllocCount()).
# See the docs of tether_bench::driver::soak and ::allocs for what each does.
# Results: bench/results/soak.jsonl (one JSON line per run, labels `capnweb` and `tether`),
# soak-machine.txt and soak-commands.txt (bench/run.sh keeps these three when it clears the
# directory); then `REPORT_ONLY=1 bench/run.sh` writes BENCHMARKS.md from bench/results.
#
# Environment (optional): SOAK_CALLS=1000000 SOAK_SAMPLES=10 CONCURRENCY=100
#   CHURN_CYCLES=50000 PARALLEL=4 ALLOC_CALLS=20000
#   SERVER_CPUS=0 CLIENT_CPUS=1 (empty: no pinning)  QUIET_BUSY=20 QUIET_TIMEOUT=10
#   RETRIES=1 RETRY_OTHER=25 (a run in which unrelated processes used more than RETRY_OTHER % of
#   a core is repeated up to RETRIES times, the least disturbed attempt kept; off: never)
#   BENCH_KIT=<root>/../shared/bench (copied to a temp dir and `npm ci`ed)
#   BENCH_TARGET_DIR=<root>/target/bench (cargo's target directory)  SKIP_BUILD=1
#   REPORT=0 (leave BENCHMARKS.md alone)
# Needs: node >= 20 and npm, taskset, cargo.
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
KIT_SRC="$(cd "${BENCH_KIT:-$ROOT/../shared/bench}" 2>/dev/null && pwd)"
OUT="$HERE/results"
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$ROOT/target/bench}"

SOAK_CALLS="${SOAK_CALLS:-1000000}" SOAK_SAMPLES="${SOAK_SAMPLES:-10}"
CONCURRENCY="${CONCURRENCY:-100}" CHURN_CYCLES="${CHURN_CYCLES:-50000}" PARALLEL="${PARALLEL:-4}"
ALLOC_CALLS="${ALLOC_CALLS:-20000}"
QUIET_BUSY="${QUIET_BUSY:-20}" QUIET_TIMEOUT="${QUIET_TIMEOUT:-10}"
RETRIES="${RETRIES:-1}" RETRY_OTHER="${RETRY_OTHER:-25}"
if [ "$(nproc)" -ge 2 ]; then
  SERVER_CPUS="${SERVER_CPUS-0}"; CLIENT_CPUS="${CLIENT_CPUS-1}"
else
  SERVER_CPUS="${SERVER_CPUS-}"; CLIENT_CPUS="${CLIENT_CPUS-}"
fi
SPIN=(); CPIN=()
[ -n "$SERVER_CPUS" ] && SPIN=(taskset -c "$SERVER_CPUS")
[ -n "$CLIENT_CPUS" ] && CPIN=(taskset -c "$CLIENT_CPUS")

log() { echo "[soak] $*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in node npm cargo; do command -v "$tool" >/dev/null || die "$tool is required"; done
[ -z "$SERVER_CPUS$CLIENT_CPUS" ] || command -v taskset >/dev/null || die "taskset is required"
[ -n "$KIT_SRC" ] && [ -f "$KIT_SRC/server.mjs" ] || die "shared benchmark kit not found at $KIT_SRC (set BENCH_KIT)"

STARTED_AT=$SECONDS
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

COMMANDS="$TMP/soak-commands.txt"
: >"$COMMANDS"
# Records a command (variables expanded) in soak-commands.txt, then runs it.
run() { printf '%q ' "$@" | sed 's/ $//' >>"$COMMANDS"; echo >>"$COMMANDS"; "$@"; }
note() { echo "# $*" >>"$COMMANDS"; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building (release)"
  note "build"
  run cargo build --release -p tether-bench --manifest-path "$ROOT/Cargo.toml" >&2 \
    || die "cargo build failed"
fi
note "the binaries are copied to \$TMP/bin and run from there"
mkdir -p "$TMP/bin"
for b in tether-bench-server tether-bench-driver; do
  cp "$CARGO_TARGET_DIR/release/$b" "$TMP/bin/" || die "missing $b (build first)"
done
BIN="$TMP/bin"
KIT="$TMP/kit"
note "the shared kit, copied to a scratch directory (it is read-only) and installed there"
run cp -r "$KIT_SRC/." "$KIT"
chmod -R u+w "$KIT"
(cd "$KIT" && run npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in $KIT"

wait_port() { # file -> prints the port from its "listening PORT" line
  local _
  for _ in $(seq 1 600); do
    if grep -q '^listening ' "$1" 2>/dev/null; then awk '/^listening /{print $2; exit}' "$1"; return 0; fi
    sleep 0.1
  done
  log "a server did not start; its output:"; cat "$1" >&2; return 1
}
# start NAME command... : starts a server in the background, sets NAME_PID and NAME_PORT
start() {
  local name="$1"; shift
  note "server $name"
  printf '%q ' "$@" | sed 's/ $//' >>"$COMMANDS"; echo " &" >>"$COMMANDS"
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  local port
  port="$(wait_port "$TMP/$name.out")" || die "server $name did not start"
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_PORT" '%s' "$port"
  log "$name: pid $pid, port $port"
}

cd "$KIT"
start CAPNWEB "${SPIN[@]}" node --expose-gc server.mjs 0
start TETHER "${SPIN[@]}" "$BIN/tether-bench-server" 0 --api=typed

busy_pct_1s() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  echo $(( (b[1]+b[2]+b[3]) - (a[1]+a[2]+a[3]) ))
}
wait_quiet() {
  [ "$QUIET_BUSY" = off ] && return 0
  local start=$SECONDS busy
  while :; do
    busy="$(busy_pct_1s)"
    [ "$busy" -lt "$QUIET_BUSY" ] && return 0
    if [ $((SECONDS - start)) -ge "$QUIET_TIMEOUT" ]; then
      log "  machine still busy (${busy}% of a core); running anyway"; return 0
    fi
    sleep 2
  done
}

max_other() { # JSON line on stdin -> max other_cpu_pct in it (0 if none)
  node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      let m = 0;
      const walk = (x) => { if (x && typeof x === "object") for (const [k, v] of Object.entries(x)) {
        if (k === "other_cpu_pct" && typeof v === "number") m = Math.max(m, v); else walk(v); } };
      try { walk(JSON.parse(s)); } catch {}
      console.log(Math.round(m));
    });'
}

RESULTS="$TMP/soak.jsonl"
: >"$RESULTS"
# drive LABEL PORT PID WORKLOAD [options]: one Rust driver run, its JSON line to soak.jsonl;
# repeated (up to RETRIES more times) while unrelated processes used more than RETRY_OTHER % of
# a core, keeping the least disturbed attempt, as bench/run.sh does.
drive() {
  local label="$1" port="$2" pid="$3" workload="$4"; shift 4
  local best="" best_other=999999 attempt out other
  for attempt in $(seq 1 $((RETRIES + 1))); do
    wait_quiet
    log "$workload against $label$([ "$attempt" -gt 1 ] && echo " (retry $((attempt - 1)))")"
    out="$(run "${CPIN[@]}" "$BIN/tether-bench-driver" "ws://127.0.0.1:$port/" "$workload" \
      --label="$label" --rep=1 --attempt="$attempt" --server-pid="$pid" "$@")"
    [ -n "$out" ] || out="{\"workload\":\"$workload\",\"label\":\"$label\",\"rep\":1,\"error\":\"driver printed nothing\"}"
    other="$(printf '%s' "$out" | max_other)"
    if [ "$other" -lt "$best_other" ]; then best="$out"; best_other="$other"; fi
    [ "$RETRY_OTHER" = off ] && break
    [ "$other" -le "$RETRY_OTHER" ] && break
    log "  disturbed: unrelated processes used ${other}% of a core"
  done
  out="$best"
  printf '%s\n' "$out" >>"$RESULTS"
  printf '%s' "$out" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const l = JSON.parse(s), r = l.result || {};
      const brief = l.error ? "error: " + l.error
        : l.workload === "soak" ? `${r.calls} calls, ${r.calls_per_s}/s, errors ${r.errors}, live at end ${r.live_counters_end}`
        : l.workload === "churn" ? `ws ${r.websocket.cycles_per_s}/s, http ${r.http_batch.cycles_per_s}/s, errors ${r.errors}, live at end ${r.live_counters_end}`
        : `echo ${r.echo_seq && r.echo_seq.server_allocs_per_call} server allocs/call, 1 MiB echo ${r.echo_u8_1m && r.echo_u8_1m.server_large_allocs_per_call} large`;
      console.error("[soak]   " + brief);
    });' || true
}

SOAK=(--calls="$SOAK_CALLS" --samples="$SOAK_SAMPLES" --concurrency="$CONCURRENCY")
CHURN=(--cycles="$CHURN_CYCLES" --parallel="$PARALLEL")
note "soak, then churn: capnweb's server, then tether's; then allocs against tether"
drive capnweb "$CAPNWEB_PORT" "$CAPNWEB_PID" soak "${SOAK[@]}"
drive tether "$TETHER_PORT" "$TETHER_PID" soak "${SOAK[@]}"
drive capnweb "$CAPNWEB_PORT" "$CAPNWEB_PID" churn "${CHURN[@]}"
drive tether "$TETHER_PORT" "$TETHER_PID" churn "${CHURN[@]}"
drive tether "$TETHER_PORT" "$TETHER_PID" allocs --calls="$ALLOC_CALLS" --concurrency="$CONCURRENCY"

capnweb_version="$(node -p 'require("./node_modules/capnweb/package.json").version' 2>/dev/null)"
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
# Source files changed since the commit (this script's own results do not count).
changed="$(git -C "$ROOT" status --porcelain --untracked-files=no -- tether tether-macros bench \
  ':(exclude)bench/results' 2>/dev/null | wc -l)"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "commit: ${commit:-?} ($changed source file(s) under tether/, tether-macros/ and bench/ changed since)"
  echo "CPU: $(nproc) × $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
  echo "rustc: $(rustc --version)"
  echo "node: $(node --version), capnweb $capnweb_version"
  echo "server cpus: ${SERVER_CPUS:-any}"
  echo "client cpus: ${CLIENT_CPUS:-any}"
  echo "soak calls: $SOAK_CALLS"
  echo "soak samples: $SOAK_SAMPLES"
  echo "concurrency: $CONCURRENCY"
  echo "churn cycles: $CHURN_CYCLES"
  echo "parallel: $PARALLEL"
  echo "alloc calls: $ALLOC_CALLS"
  echo "retries: up to $RETRIES when unrelated load > $RETRY_OTHER % of a core"
  echo "run time: $(( (SECONDS - STARTED_AT) / 60 )) min $(( (SECONDS - STARTED_AT) % 60 )) s"
} >"$TMP/soak-machine.txt"

# Scratch paths mean nothing later: name them.
sed -i "s|$KIT|\$KIT|g; s|$TMP|\$TMP|g; s|$ROOT/|./|g" "$COMMANDS"
sed -i "1i # bench/soak.sh; \$KIT: a scratch copy of $KIT_SRC; \$TMP: a scratch directory; the servers run from \$KIT" "$COMMANDS"
mkdir -p "$OUT"
cp "$RESULTS" "$TMP/soak-machine.txt" "$COMMANDS" "$OUT/"
log "results in $OUT/soak.jsonl ($(( (SECONDS - STARTED_AT) / 60 )) min $(( (SECONDS - STARTED_AT) % 60 )) s)"

if [ "${REPORT:-1}" != 0 ]; then
  REPORT_ONLY=1 BENCH_TARGET_DIR="$CARGO_TARGET_DIR" "$HERE/run.sh" || die "report failed"
fi
# The checks the figures must pass: no failed run, no failed call, no Counter left alive.
node -e '
  const fs = require("fs");
  const bad = [];
  for (const line of fs.readFileSync(process.argv[1], "utf8").trim().split("\n")) {
    const l = JSON.parse(line), r = l.result || {}, what = `${l.workload} against ${l.label}`;
    if (l.error) { bad.push(`${what}: ${l.error}`); continue; }
    if (r.errors) bad.push(`${what}: ${r.errors} errors (first: ${r.first_error})`);
    if ("live_counters_end" in r && r.live_counters_end !== 0)
      bad.push(`${what}: ${r.live_counters_end} Counters alive at the end`);
  }
  for (const b of bad) console.error("[soak] FAILED: " + b);
  process.exit(bad.length ? 1 : 0);
' "$RESULTS" || die "some checks failed (see above and $OUT/soak.jsonl)"
log "checks passed: no errors, no live Counters at the end"
