#!/usr/bin/env bash
# Streams (issue 11, item 7): 100 MiB through a ReadableStream and a WritableStream, each client
# (capnweb in Node, tether in Rust) against each server (capnweb's Node reference TestTarget,
# tether's Rust TestTarget), in one run; then the section "Streams" of BENCHMARKS.md.
#
#   bench/streams.sh        (from any directory; with the defaults on this 2-core machine about
#                           6 minutes when it is quiet; the recorded run took 11.5 minutes under
#                           1.7 cores of other load, 3 of them spent in the quiet-machine waits,
#                           which QUIET_BUSY=off skips)
#
# Servers: `node interop/node/testtarget-server.mjs 0` (capnweb 0.12 from interop/node_modules)
# and tether-testtarget (what interop/serve-testtarget builds and runs), pinned to CPU 0; the
# clients, bench/streams.mjs (capnweb) and tether-stream-driver (bench/src/streams.rs), pinned
# to CPU 1 (taskset), as bench/run.sh does. Every measurement gets a FRESH server process, so its
# memory figures are its own: VmHWM and VmRSS of /proc/PID/status are read half a second after
# the server printed `listening` (the baseline; Node's is tens of MiB, tether's a few) and again
# after the client is done; "peak growth" = VmHWM after − VmHWM before. Modes of both clients (see the
# header of bench/streams.mjs or the docs of tether_bench::streams):
#   download     streamBytes(TOTAL, CHUNK) read to the end, each chunk checked at both ends;
#   upload       TOTAL bytes written in CHUNK-byte chunks to makeSink(tag), close(), then
#                sinkState(tag) must show every byte (and their FNV: the sink hashes them);
#   echo-upload  square(i) every INTERVAL_MS, open loop, on the same session during an upload;
#   echo-idle    the same square calls for IDLE_SECONDS with nothing else on the session.
# Order: repetitions 1..REPS; in each, the two servers (their order alternating between
# repetitions), and for each the two clients and the four modes.
#
# Results: bench/results/streams.jsonl (one JSON line per measurement: the client's line plus
# `server`, `server_memory`, `rep`), streams-commands.txt (every command, variables expanded) and
# streams-machine.txt; bench/run.sh keeps these when it clears bench/results and writes this
# section again. The section comes from bench/streams_report.py (medians over the repetitions).
#
# Environment (optional): REPS=3 TOTAL=104857600 CHUNK=65536 INTERVAL_MS=2 IDLE_SECONDS=2
#   SERVER_CPUS=0 CLIENT_CPUS=1 (empty: no pinning)  QUIET_BUSY=20 QUIET_TIMEOUT=3 (before each
#   measurement, wait up to QUIET_TIMEOUT s for the machine's other load to fall under
#   QUIET_BUSY % of a core; off: never wait)
#   BENCH_TARGET_DIR=<root>/target/bench (cargo's target directory)  SKIP_BUILD=1
#   REPORT_ONLY=1 (measure nothing: write the section again from bench/results/streams.jsonl)
#   REPORT=0 (leave BENCHMARKS.md alone)
# Needs: node >= 20 and npm, taskset, cargo, python3.
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OUT="$HERE/results"
RESULTS="$OUT/streams.jsonl"
REPORT_FILE="$ROOT/BENCHMARKS.md"
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$ROOT/target/bench}"

REPS="${REPS:-3}" TOTAL="${TOTAL:-104857600}" CHUNK="${CHUNK:-65536}"
INTERVAL_MS="${INTERVAL_MS:-2}" IDLE_SECONDS="${IDLE_SECONDS:-2}"
QUIET_BUSY="${QUIET_BUSY:-20}" QUIET_TIMEOUT="${QUIET_TIMEOUT:-3}"
if [ "$(nproc)" -ge 2 ]; then
  SERVER_CPUS="${SERVER_CPUS-0}"; CLIENT_CPUS="${CLIENT_CPUS-1}"
else
  SERVER_CPUS="${SERVER_CPUS-}"; CLIENT_CPUS="${CLIENT_CPUS-}"
fi
SPIN=(); CPIN=()
[ -n "$SERVER_CPUS" ] && SPIN=(taskset -c "$SERVER_CPUS")
[ -n "$CLIENT_CPUS" ] && CPIN=(taskset -c "$CLIENT_CPUS")

log() { echo "[streams] $*" >&2; }
die() { log "error: $*"; exit 1; }

if [ "${REPORT_ONLY:-0}" = 1 ]; then
  python3 "$HERE/streams_report.py" "$RESULTS" "$REPORT_FILE"; exit $?
fi
for tool in node npm cargo python3; do command -v "$tool" >/dev/null || die "$tool is required"; done
[ -z "$SERVER_CPUS$CLIENT_CPUS" ] || command -v taskset >/dev/null || die "taskset is required"

STARTED_AT=$SECONDS
TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT"
COMMANDS="$OUT/streams-commands.txt"
: >"$COMMANDS"
LOG_COMMANDS=1
# Records a command (variables expanded) in streams-commands.txt, then runs it.
run() {
  if [ "$LOG_COMMANDS" = 1 ]; then printf '%q ' "$@" | sed 's/ $//' >>"$COMMANDS"; echo >>"$COMMANDS"; fi
  "$@"
}
note() { [ "$LOG_COMMANDS" = 1 ] && echo "# $*" >>"$COMMANDS"; return 0; }

# ---------------------------------------------------------------------------------------------
# build; the binaries run from copies (another build may replace the originals meanwhile)

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building (release)"
  note "build"
  run cargo build --release -p tether-bench -p tether-testtarget --bin tether-stream-driver --bin tether-testtarget \
    --manifest-path "$ROOT/Cargo.toml" >&2 || die "cargo build failed"
fi
note "the binaries are copied to \$TMP/bin and run from there"
mkdir -p "$TMP/bin"
for b in tether-testtarget tether-stream-driver; do
  cp "$CARGO_TARGET_DIR/release/$b" "$TMP/bin/" || die "missing $b (build first)"
done
BIN="$TMP/bin"
if [ ! -d "$ROOT/interop/node_modules/capnweb" ] || [ ! -d "$ROOT/interop/node_modules/ws" ]; then
  note "capnweb and ws for the Node server and client, pinned by interop/package-lock.json"
  (cd "$ROOT/interop" && run npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed"
fi

# ---------------------------------------------------------------------------------------------
# one measurement: a fresh server, its memory before and after, one client run

kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status" 2>/dev/null; }
busy_pct_1s() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  echo $(( (b[1]+b[2]+b[3]) - (a[1]+a[2]+a[3]) ))
}
wait_quiet() {
  [ "$QUIET_BUSY" = off ] && return 0
  local start=$SECONDS
  while [ "$(busy_pct_1s)" -ge "$QUIET_BUSY" ]; do
    [ $((SECONDS - start)) -ge "$QUIET_TIMEOUT" ] && return 0
  done
}
# start_server NAME: starts a fresh server, sets SERVER_PID and SERVER_PORT
start_server() {
  local cmd
  case "$1" in
    capnweb) cmd=(node "$ROOT/interop/node/testtarget-server.mjs" 0) ;;
    tether) cmd=("$BIN/tether-testtarget" 0) ;;
  esac
  if [ "$LOG_COMMANDS" = 1 ]; then printf '%q ' "${SPIN[@]}" "${cmd[@]}" | sed 's/ $//' >>"$COMMANDS"; echo " &" >>"$COMMANDS"; fi
  "${SPIN[@]}" "${cmd[@]}" >"$TMP/server.out" 2>"$TMP/server.err" &
  SERVER_PID=$!
  SERVER_PORT=""
  local _
  for _ in $(seq 1 300); do
    SERVER_PORT="$(awk '/^listening /{print $2; exit}' "$TMP/server.out" 2>/dev/null)"
    [ -n "$SERVER_PORT" ] && return 0
    sleep 0.05
  done
  cat "$TMP/server.err" >&2; die "server $1 did not start"
}
stop_server() {
  kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
}
# measure SERVER CLIENT MODE REP >> results
measure() {
  local server="$1" client="$2" mode="$3" rep="$4" line hwm0 rss0 hwm1 rss1
  start_server "$server"
  sleep 0.5 # let a starting server (Node compiles lazily) settle before the baseline
  hwm0="$(kib VmHWM "$SERVER_PID")"; rss0="$(kib VmRSS "$SERVER_PID")"
  wait_quiet
  local args=("ws://127.0.0.1:$SERVER_PORT/" "$mode" --total="$TOTAL" --chunk="$CHUNK"
    --interval-ms="$INTERVAL_MS" --duration="$IDLE_SECONDS" --server-pid="$SERVER_PID"
    --label="$client-$server" --rep="$rep")
  log "rep $rep: $client client, $server server, $mode"
  case "$client" in
    capnweb) line="$(run "${CPIN[@]}" node "$HERE/streams.mjs" "${args[@]}")" ;;
    tether) line="$(run "${CPIN[@]}" "$BIN/tether-stream-driver" "${args[@]}")" ;;
  esac
  hwm1="$(kib VmHWM "$SERVER_PID")"; rss1="$(kib VmRSS "$SERVER_PID")"
  stop_server
  [ -n "$line" ] || line="{\"mode\":\"$mode\",\"client\":\"$client\",\"error\":\"client printed nothing\"}"
  printf '%s' "$line" | python3 -c '
import json, sys
line = json.loads(sys.stdin.read())
server, rep, hwm0, rss0, hwm1, rss1 = sys.argv[1], int(sys.argv[2]), *[int(x or 0) for x in sys.argv[3:]]
line.update(server=server, rep=rep, server_memory={
    "baseline_hwm_kib": hwm0, "baseline_rss_kib": rss0, "peak_hwm_kib": hwm1,
    "rss_after_kib": rss1, "peak_growth_kib": hwm1 - hwm0})
print(json.dumps(line))' "$server" "$rep" "$hwm0" "$rss0" "$hwm1" "$rss1" >>"$TMP/streams.jsonl"
  if printf '%s' "$line" | grep -q '"error"'; then log "  failed: $line"; fi
}

# ---------------------------------------------------------------------------------------------
# the measurements

: >"$TMP/streams.jsonl"
for rep in $(seq 1 "$REPS"); do
  [ "$rep" -gt 1 ] && LOG_COMMANDS=0
  note "repetition 1 (repetitions 2..$REPS run the same commands with --rep=N, the servers' order reversed in even ones); each server command is one fresh process per measurement"
  if [ $((rep % 2)) = 1 ]; then servers="capnweb tether"; else servers="tether capnweb"; fi
  for server in $servers; do
    for client in capnweb tether; do
      for mode in download upload echo-upload echo-idle; do
        measure "$server" "$client" "$mode" "$rep"
      done
    done
  done
done
cp "$TMP/streams.jsonl" "$RESULTS"

capnweb_version="$(node -p "require('$ROOT/interop/node_modules/capnweb/package.json').version" 2>/dev/null)"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "CPU: $(nproc) × $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
  echo "kernel: $(uname -sr)"
  echo "rustc: $(rustc --version)"
  echo "node: $(node --version); capnweb $capnweb_version"
  echo "tether: commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- tether interop bench || echo ' + uncommitted changes')"
  echo "settings: REPS=$REPS TOTAL=$TOTAL CHUNK=$CHUNK INTERVAL_MS=$INTERVAL_MS IDLE_SECONDS=$IDLE_SECONDS QUIET_BUSY=$QUIET_BUSY QUIET_TIMEOUT=$QUIET_TIMEOUT"
  echo "pinning: servers on CPU '${SERVER_CPUS}', clients on CPU '${CLIENT_CPUS}' (taskset)"
  echo "run time: $(( (SECONDS - STARTED_AT) / 60 )) min $(( (SECONDS - STARTED_AT) % 60 )) s"
} >"$OUT/streams-machine.txt"
sed -i "s|$TMP|\$TMP|g; s|$ROOT/|./|g" "$COMMANDS"
sed -i "1i # bench/streams.sh; \$TMP: a scratch directory" "$COMMANDS"
if [ "${REPORT:-1}" != 0 ]; then
  python3 "$HERE/streams_report.py" "$RESULTS" "$REPORT_FILE" || die "report failed"
fi
log "results in $RESULTS, report in $REPORT_FILE ($(( (SECONDS - STARTED_AT) / 60 )) min $(( (SECONDS - STARTED_AT) % 60 )) s)"
