#!/usr/bin/env bash
# The whole tether benchmark in one go, on this machine, and BENCHMARKS.md from its results.
#
#   bench/run.sh            (from any directory; about 18 minutes with the defaults on a quiet
#                           machine, more when other processes make it wait and retry)
#
# What it runs, servers pinned to CPU 0 and every client to CPU 1 (taskset), as the shared kit
# (shared/bench) does:
#   1. the shared Node driver (client.mjs via run-all.sh) against the capnweb reference server
#      (server.mjs) and the `ws` echo server (raw-ws-server.mjs);
#   2. the same Node driver against tether-bench-server (the binary interop/serve-bench builds
#      and runs; its default, typed BenchApi) and tether-raw-echo, and against a second
#      tether-bench-server started with --api=dynamic (the hand-written tether::Target baseline,
#      label tether-dynamic), the two tether servers back to back in alternating order so both
#      see the same machine state;
#   3. the Rust driver (tether-bench-driver) against the typed tether-bench-server and
#      tether-raw-echo, and the raw workloads once more (both drivers) against tether-raw-echo
#      with an 8 KiB read buffer;
#   repetitions interleaved (1, 2, 3 in turn, REPS times); then, once:
#   4. the Node driver against the typed tether-bench-server on the multi-thread runtime
#      (runtime choice);
#   5. a profile of the typed tether-bench-server under the `concurrent` workload: `perf record`
#      on the cpu-clock event with DWARF call stacks, and callgrind on a shorter run (each if
#      usable);
#   6. the map() workload (bench/map.mjs, capnweb as the client) against capnweb and the typed
#      tether server, REPS repetitions interleaved.
# Raw JSON lines, profiles, the machine description and the commands go to bench/results/
# (replaced on every run, except bench/soak.sh's soak*.{jsonl,txt} and bench/streams.sh's
# streams*.{jsonl,txt}, which are kept and shown in the report); the report goes to BENCHMARKS.md
# at the repository root, and bench/before-after.sh's and bench/streams.sh's sections are appended
# to it again from their results. Against the tether
# server, the Rust driver's seq, concurrent and payload runs also count allocations per call
# (the server's allocCount(), the driver's own allocator), shown in the Rust-driver table.
#
# Environment (optional): REPS=3 DURATION=3 WARMUP=1 CONCURRENCY=100 COUNT=100000
#   PROFILE_SECONDS=4 (perf window)  CALLGRIND_SECONDS=2 (0 skips callgrind)
#   SERVER_CPUS=0 CLIENT_CPUS=1 (empty: no pinning)  QUIET_TIMEOUT=10 RETRIES=1 RETRY_OTHER=25
#   BENCH_KIT=<root>/../shared/bench (the shared kit; it is copied to a temp dir and `npm ci`ed)
#   SKIP_BUILD=1 (use the release binaries already built)
#   REPORT_ONLY=1 (measure nothing: write BENCHMARKS.md again from bench/results)
#   BENCH_TARGET_DIR=<root>/target/bench (cargo's target directory for this run)
# Needs: node >= 20 and npm, taskset, cargo; perf and valgrind are optional (profile only).
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
KIT_SRC="$(cd "${BENCH_KIT:-$ROOT/../shared/bench}" 2>/dev/null && pwd)"
OUT="$HERE/results"
REPORT="$ROOT/BENCHMARKS.md"
# A target directory of its own: a `cargo build --release` elsewhere in the workspace must not
# replace the binaries while they run (perf could no longer read their symbols).
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$ROOT/target/bench}"

export REPS="${REPS:-3}" DURATION="${DURATION:-3}" WARMUP="${WARMUP:-1}"
export CONCURRENCY="${CONCURRENCY:-100}" COUNT="${COUNT:-100000}"
export QUIET_TIMEOUT="${QUIET_TIMEOUT:-10}" RETRIES="${RETRIES:-1}" RETRY_OTHER="${RETRY_OTHER:-25}"
QUIET_BUSY="${QUIET_BUSY:-20}"
PROFILE_SECONDS="${PROFILE_SECONDS:-4}"
CALLGRIND_SECONDS="${CALLGRIND_SECONDS:-2}"
if [ "$(nproc)" -ge 2 ]; then
  SERVER_CPUS="${SERVER_CPUS-0}"; export CLIENT_CPUS="${CLIENT_CPUS-1}"
else
  SERVER_CPUS="${SERVER_CPUS-}"; export CLIENT_CPUS="${CLIENT_CPUS-}"
fi
SPIN=(); CPIN=()
[ -n "$SERVER_CPUS" ] && SPIN=(taskset -c "$SERVER_CPUS")
[ -n "$CLIENT_CPUS" ] && CPIN=(taskset -c "$CLIENT_CPUS")

log() { echo "[bench] $*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in node npm cargo; do command -v "$tool" >/dev/null || die "$tool is required"; done
[ -z "$SERVER_CPUS$CLIENT_CPUS" ] || command -v taskset >/dev/null || die "taskset is required"
[ -n "$KIT_SRC" ] && [ -f "$KIT_SRC/client.mjs" ] || die "shared benchmark kit not found at $KIT_SRC (set BENCH_KIT)"

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

# The report: tether-bench-report, then the map() section from map.jsonl.
write_report() {
  run "$BIN/tether-bench-report" "$OUT" "$REPORT" || die "report failed"
  # The map() section, from bench/results/map.jsonl (medians over the repetitions).
  node -e '
  const fs = require("fs");
  const rows = fs.readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
  const pick = (label, key) => med(rows.filter((r) => r.label === label).map((r) => r.result[key]));
  const fmt = (x, d = 0) => x.toFixed(d);
  const line = (name, key, unit, d) => {
    const c = pick("capnweb", key), t = pick("tether", key);
    return `| ${name} | ${unit} | ${fmt(c, d)} | ${fmt(t, d)} | ${(t / c).toFixed(2)}× |`;
  };
  const out = [
    "", "## map(): 1,000 elements, one remote call each", "",
    "`api.echo(list).map((x) => api.add(x, 1))` with the capnweb client (`bench/map.mjs`), one map at a time, against each server; medians over " + (rows.length / 2) + " repetitions. The recording travels as one `remap`; the server runs 1,000 `add` calls per map.", "",
    "| measure | unit | capnweb (Node) | tether | tether ÷ capnweb |", "|---|---|---|---|---|",
    line("maps per second ↑", "maps_per_s", "/s", 1),
    line("elements per second ↑", "elements_per_s", "/s", 0),
    line("p50 latency ↓", "p50_us", "µs", 0),
    line("round trips per map", "round_trips_per_map", "", 2),
  ];
  fs.appendFileSync(process.argv[2], out.join("\n") + "\n");
' "$OUT/map.jsonl" "$REPORT" || die "map report failed"
  # bench/before-after.sh's section, again from its own results (they live outside bench/results).
  if [ -s "$HERE/before-after/results.jsonl" ]; then
    python3 "$HERE/before_after.py" "$HERE/before-after/results.jsonl" "$REPORT" \
      || die "before/after report failed"
  fi
  # bench/streams.sh's section, again from its results (kept in bench/results).
  if [ -s "$OUT/streams.jsonl" ]; then
    python3 "$HERE/streams_report.py" "$OUT/streams.jsonl" "$REPORT" >/dev/null \
      || die "streams report failed"
  fi
}

if [ "${REPORT_ONLY:-0}" = 1 ]; then
  # Only the report, again, from the results already in bench/results.
  cargo build --release -p tether-bench --bin tether-bench-report --manifest-path "$ROOT/Cargo.toml" >&2 \
    || die "cargo build failed"
  BIN="$CARGO_TARGET_DIR/release"
  run() { "$@"; }
  write_report
  log "report in $REPORT"
  exit 0
fi

# bench/soak.sh's and bench/streams.sh's results are not this script's: keep them (the report
# shows them too).
mkdir -p "$TMP/keep"
for f in soak.jsonl soak-machine.txt soak-commands.txt streams.jsonl streams-machine.txt \
  streams-commands.txt; do
  [ -f "$OUT/$f" ] && cp "$OUT/$f" "$TMP/keep/"
done
rm -rf "$OUT"
mkdir -p "$OUT"
cp -r "$TMP/keep/." "$OUT/"
COMMANDS="$OUT/commands.txt"
: >"$COMMANDS"
# Records a command (with its variables expanded) in commands.txt, then runs it.
LOG_COMMANDS=1
run() {
  if [ "$LOG_COMMANDS" = 1 ]; then printf '%q ' "$@" | sed 's/ $//' >>"$COMMANDS"; echo >>"$COMMANDS"; fi
  "$@"
}
note() { [ "$LOG_COMMANDS" = 1 ] && echo "# $*" >>"$COMMANDS"; return 0; }

# ---------------------------------------------------------------------------------------------
# build, and the kit in a scratch copy with its node_modules

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building (release)"
  note "build (what interop/serve-bench does before it starts the server)"
  run cargo build --release -p tether-bench --manifest-path "$ROOT/Cargo.toml" >&2 \
    || die "cargo build failed"
fi
# Run copies of the binaries: other builds in the workspace may replace the originals while this
# runs (then perf can no longer read their symbols, and a later start would get other code).
note "the binaries are copied to \$TMP/bin and run from there"
mkdir -p "$TMP/bin"
for b in tether-bench-server tether-bench-driver tether-raw-echo tether-bench-report; do
  cp "$CARGO_TARGET_DIR/release/$b" "$TMP/bin/" || die "missing $b (build first)"
done
BIN="$TMP/bin"
KIT="$TMP/kit"
note "the shared kit, copied to a scratch directory (it is read-only) and installed there"
run cp -r "$KIT_SRC/." "$KIT"
chmod -R u+w "$KIT"
(cd "$KIT" && run npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in $KIT"

# ---------------------------------------------------------------------------------------------
# servers

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
  if [ "$LOG_COMMANDS" = 1 ]; then printf '%q ' "$@" | sed 's/ $//' >>"$COMMANDS"; echo " &" >>"$COMMANDS"; fi
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
start NODERAW "${SPIN[@]}" node raw-ws-server.mjs 0
start TETHER "${SPIN[@]}" "$BIN/tether-bench-server" 0 --api=typed
start TETHERDYN "${SPIN[@]}" "$BIN/tether-bench-server" 0 --api=dynamic
start RUSTRAW "${SPIN[@]}" "$BIN/tether-raw-echo" 0
start RUSTRAW8K "${SPIN[@]}" "$BIN/tether-raw-echo" 0 --read-buffer=8192

# ---------------------------------------------------------------------------------------------
# the quiet-machine wait and retry rule of run-all.sh, for the Rust driver's runs

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
# rust_run URL WORKLOAD REP SERVER_PID LABEL >> file: one Rust driver run, retried if disturbed
rust_run() {
  local url="$1" w="$2" rep="$3" pid="$4" label="$5"
  local best="" best_other=999999 attempt out other
  for attempt in $(seq 0 "$RETRIES"); do
    wait_quiet
    log "rep $rep: rust driver $w ($url)$([ "$attempt" -gt 0 ] && echo " retry $attempt")"
    out="$(run "${CPIN[@]}" "$BIN/tether-bench-driver" "$url" "$w" --duration="$DURATION" \
      --warmup="$WARMUP" --concurrency="$CONCURRENCY" --count="$COUNT" --rep="$rep" \
      --label="$label" --server-pid="$pid" --attempt=$((attempt + 1)))"
    [ -n "$out" ] || out="{\"workload\":\"$w\",\"rep\":$rep,\"error\":\"driver printed nothing\"}"
    other="$(printf '%s' "$out" | max_other)"
    if [ "$other" -lt "$best_other" ]; then best="$out"; best_other="$other"; fi
    [ "$RETRY_OTHER" = off ] && break
    [ "$other" -le "$RETRY_OTHER" ] && break
    log "  disturbed: unrelated processes used ${other}% of a core"
  done
  printf '%s\n' "$best"
}
# node_run_all LABEL PORT PID RAW_PORT RAW_PID REP [WORKLOADS]: run-all.sh, REPS=1, as rep REP
node_run_all() {
  local label="$1" port="$2" pid="$3" raw="$4" raw_pid="$5" rep="$6"
  local workloads="${7:-smoke seq concurrent pipeline stubs payload batch}"
  log "rep $rep: node driver, $label"
  run env LABEL="$label" SERVER_PID="$pid" RAW="$raw" RAW_PID="$raw_pid" REPS=1 \
    WORKLOADS="$workloads" QUIET_BUSY="$QUIET_BUSY" "$KIT/run-all.sh" "$port" \
    | sed "s/\"rep\":1,/\"rep\":$rep,/"
}

# ---------------------------------------------------------------------------------------------
# the measurements

# tether_typed REP / tether_dynamic REP: the Node driver against the typed tether server (with
# the raw echo) / against the dynamic-API baseline (RPC workloads only).
tether_typed() {
  node_run_all tether "$TETHER_PORT" "$TETHER_PID" "$RUSTRAW_PORT" "$RUSTRAW_PID" "$1" \
    >>"$OUT/tether-node.jsonl"
}
tether_dynamic() {
  node_run_all tether-dynamic "$TETHERDYN_PORT" "$TETHERDYN_PID" "" "" "$1" \
    "smoke seq concurrent pipeline stubs payload batch" >>"$OUT/tether-dynamic-node.jsonl"
}

TETHER_URL="ws://127.0.0.1:$TETHER_PORT/"
RUSTRAW_URL="ws://127.0.0.1:$RUSTRAW_PORT/"
RUSTRAW8K_URL="ws://127.0.0.1:$RUSTRAW8K_PORT/"
for rep in $(seq 1 "$REPS"); do
  [ "$rep" -gt 1 ] && LOG_COMMANDS=0
  note "repetition 1 (repetitions 2..$REPS run the same commands with --rep=N)"
  note "run-all.sh runs, for each workload W: taskset -c $CLIENT_CPUS node --expose-gc client.mjs URL W --duration=$DURATION --warmup=$WARMUP --concurrency=$CONCURRENCY --count=$COUNT --rep=1 --label=L --server-pid=PID --attempt=N (batch: http:// URL; raw-*: the RAW server)"
  node_run_all capnweb-node "$CAPNWEB_PORT" "$CAPNWEB_PID" "$NODERAW_PORT" "$NODERAW_PID" "$rep" \
    >>"$OUT/capnweb-node.jsonl"
  # The typed server and the dynamic baseline back to back, the order alternating between
  # repetitions, so that drift in the machine's state does not favour either.
  note "the typed and the dynamic tether server: in this order in odd repetitions, reversed in even ones"
  if [ $((rep % 2)) = 1 ]; then
    tether_typed "$rep"; tether_dynamic "$rep"
  else
    tether_dynamic "$rep"; tether_typed "$rep"
  fi
  for w in seq concurrent pipeline stubs payload batch; do
    rust_run "$TETHER_URL" "$w" "$rep" "$TETHER_PID" tether-rust-driver >>"$OUT/tether-rust.jsonl"
  done
  for w in raw-seq raw-concurrent; do
    rust_run "$RUSTRAW_URL" "$w" "$rep" "$RUSTRAW_PID" tether-rust-driver >>"$OUT/tether-rust.jsonl"
    rust_run "$RUSTRAW8K_URL" "$w" "$rep" "$RUSTRAW8K_PID" raw-echo-8k >>"$OUT/raw-small-buffer-rust.jsonl"
  done
  # WORKLOADS=" " (one space): run-all.sh runs no RPC workload, only its raw ones.
  node_run_all raw-echo-8k "$RUSTRAW8K_PORT" "" "$RUSTRAW8K_PORT" "$RUSTRAW8K_PID" "$rep" " " \
    >>"$OUT/raw-small-buffer-node.jsonl"
done
LOG_COMMANDS=1

note "runtime choice: the tether server on the multi-thread runtime, one repetition"
start TETHERMT "${SPIN[@]}" "$BIN/tether-bench-server" 0 --runtime=multi
node_run_all tether-multi "$TETHERMT_PORT" "$TETHERMT_PID" "" "" 1 "smoke seq concurrent pipeline" \
  >>"$OUT/tether-multi-node.jsonl"
kill "$TETHERMT_PID" 2>/dev/null; wait "$TETHERMT_PID" 2>/dev/null

# ---------------------------------------------------------------------------------------------
# profile: the tether server under the concurrent workload

PROFILE_DESC="none recorded"
if command -v perf >/dev/null && perf record -e cpu-clock -o "$TMP/probe.data" -- true >/dev/null 2>&1; then
  log "profile: perf record on the tether server (${PROFILE_SECONDS} s of the concurrent workload)"
  note "profile with perf (cpu-clock; the VM has no hardware counters)"
  wait_quiet
  run "${CPIN[@]}" node --expose-gc "$KIT/client.mjs" "$TETHER_URL" concurrent \
    --duration=$((PROFILE_SECONDS + 2)) --warmup=1 --concurrency="$CONCURRENCY" \
    --server-pid="$TETHER_PID" --label=profile >"$OUT/profile-run.jsonl" &
  DRIVER=$!
  sleep 2
  run perf record -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$TETHER_PID" \
    -o "$TMP/perf.data" -- sleep "$PROFILE_SECONDS" >/dev/null 2>"$TMP/perf-record.err"
  wait "$DRIVER"
  run perf report -i "$TMP/perf.data" --no-children --sort dso,sym -g none -t ';' --stdio \
    2>/dev/null | grep -v '^#' | grep -v '^$' | head -400 >"$OUT/perf-self.txt"
  run perf report -i "$TMP/perf.data" --children --sort sym -g none --stdio --percent-limit 0.5 \
    2>/dev/null | grep -v '^#' | grep -v '^$' >"$OUT/perf-children.txt"
  run perf report -i "$TMP/perf.data" --no-children --sort dso -g none --stdio \
    2>/dev/null | grep -v '^#' | grep -v '^$' >"$OUT/perf-dso.txt"
  SAMPLES="$(perf report -i "$TMP/perf.data" --stdio -g none 2>/dev/null | awk '/^# Samples:/{print $3; exit}')"
  PROFILE_DESC="perf record -e cpu-clock -F 999 --call-graph dwarf, ${PROFILE_SECONDS} s window, ${SAMPLES:-?} samples"
fi
if [ "$CALLGRIND_SECONDS" != 0 ] && command -v valgrind >/dev/null; then
  log "profile: callgrind (${CALLGRIND_SECONDS} s of the concurrent workload)"
  note "profile with callgrind: a separate tether server under valgrind, shorter run"
  start CALLGRIND "${SPIN[@]}" valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out" \
    "$BIN/tether-bench-server" 0
  run "${CPIN[@]}" node --expose-gc "$KIT/client.mjs" "ws://127.0.0.1:$CALLGRIND_PORT/" concurrent \
    --duration="$CALLGRIND_SECONDS" --warmup=0.5 --concurrency="$CONCURRENCY" \
    --server-pid="$CALLGRIND_PID" --label=callgrind >"$OUT/callgrind-run.jsonl"
  kill -TERM "$CALLGRIND_PID" 2>/dev/null; wait "$CALLGRIND_PID" 2>/dev/null
  if [ -s "$TMP/callgrind.out" ]; then
    run callgrind_annotate --inclusive=no "$TMP/callgrind.out" 2>/dev/null \
      | sed -n '/^Ir/,$p' | head -28 >"$OUT/callgrind-self.txt"
    PROFILE_DESC="$PROFILE_DESC; callgrind over a ${CALLGRIND_SECONDS} s run"
  fi
fi

# ---------------------------------------------------------------------------------------------
# map(): a 1,000-element array mapped with one remote call per element (bench/map.mjs, the capnweb
# client), against both servers, REPS times interleaved; one round trip per map is checked.

note "map() workload (bench/map.mjs): capnweb client, both servers"
cp "$HERE/map.mjs" "$KIT/map.mjs"
: >"$OUT/map.jsonl"
for rep in $(seq 1 "$REPS"); do
  for target in "capnweb:$CAPNWEB_PORT" "tether:$TETHER_PORT"; do
    label="${target%%:*}"; port="${target##*:}"
    wait_quiet
    line="$(run "${CPIN[@]}" node map.mjs "ws://127.0.0.1:$port/" --duration="$DURATION" --warmup="$WARMUP" --size=1000)" \
      || die "map workload failed against $label"
    echo "{\"label\":\"$label\",\"rep\":$rep,\"result\":$line}" >>"$OUT/map.jsonl"
  done
done

# ---------------------------------------------------------------------------------------------
# the machine, and the report

capnweb_version="$(node -p 'require("./node_modules/capnweb/package.json").version' 2>/dev/null)"
ws_version="$(node -p 'require("./node_modules/ws/package.json").version' 2>/dev/null)"
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
changed="$(git -C "$ROOT" status --porcelain -- tether 2>/dev/null | wc -l)"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "CPU: $(nproc) × $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo) ($(awk -F': ' '/^cpu MHz/{printf "%.0f MHz", $2; exit}' /proc/cpuinfo))"
  echo "memory: $(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -sr)"
  echo "OS: $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
  echo "virtualization: $(systemd-detect-virt 2>/dev/null || echo unknown)"
  echo "rustc: $(rustc --version)"
  echo "node: $(node --version); capnweb $capnweb_version, ws $ws_version"
  echo "tether: working tree at commit ${commit:-?}, $changed file(s) under tether/ changed since"
  echo "reps: $REPS"
  echo "settings: DURATION=$DURATION s measured, WARMUP=$WARMUP s, CONCURRENCY=$CONCURRENCY, COUNT=$COUNT, QUIET_TIMEOUT=$QUIET_TIMEOUT s, RETRIES=$RETRIES, RETRY_OTHER=$RETRY_OTHER"
  echo "pinning: servers on CPU '${SERVER_CPUS}', clients on CPU '${CLIENT_CPUS}' (taskset)"
  echo "tether server runtime: $(grep -o '"flavor":"[^"]*"' "$OUT/tether-node.jsonl" | head -1 | cut -d'"' -f4)"
  echo "tether server API: $(grep -o '"api":"[^"]*"' "$OUT/tether-node.jsonl" | head -1 | cut -d'"' -f4) (baseline: $(grep -o '"api":"[^"]*"' "$OUT/tether-dynamic-node.jsonl" | head -1 | cut -d'"' -f4), label tether-dynamic)"
  echo "profile: $PROFILE_DESC"
  echo "run time: $(( (SECONDS - STARTED_AT) / 60 )) min $(( (SECONDS - STARTED_AT) % 60 )) s"
} >"$OUT/machine.txt"

# Scratch paths mean nothing later: name them.
sed -i "s|$KIT|\$KIT|g; s|$TMP|\$TMP|g; s|$ROOT/|./|g" "$COMMANDS"
sed -i "1i # \$KIT: a scratch copy of $KIT_SRC; \$TMP: a scratch directory; every server and driver of the shared kit runs from \$KIT" "$COMMANDS"
write_report
log "results in $OUT, report in $REPORT ($(( (SECONDS - STARTED_AT) / 60 )) min $(( (SECONDS - STARTED_AT) % 60 )) s)"
