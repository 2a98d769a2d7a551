#!/usr/bin/env bash
# Before and after, measured in ONE run: the tether server of an older commit (default: the
# commit before the engine rebuild) and of this checkout, side by side with capnweb's server and
# the raw tokio-tungstenite echo, in the same repetitions, servers on CPU 0 and drivers on CPU 1.
#
#   bench/before-after.sh            (from any directory; about 10 minutes with the defaults)
#
# Builds the older commit into its own target directory (target/bench-before, from a temporary
# git worktree), this checkout into target/bench, runs the Rust driver (concurrent, seq) and the
# shared Node driver (concurrent, seq, pipeline, payload, stubs) against each server, the order
# of "before" and "after" alternating between repetitions, counts the system calls per
# sequential call with strace, writes bench/before-after/results.jsonl and replaces the section
# "Before and after" of BENCHMARKS.md (bench/before_after.py).
#
# Environment: BEFORE=<commit> (default 142c39b) REPS=3 DURATION=3 WARMUP=1
#   BEFORE_TARGET=<dir> (a target directory where BEFORE is already built in release)
#   SKIP_BUILD=1 (reuse the binaries) REPORT_ONLY=1 (rewrite the section from the results)
# (bench/run.sh rewrites BENCHMARKS.md and then appends this section again from the results.)
set -u -o pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OUT="$HERE/before-after/results.jsonl"
BEFORE="${BEFORE:-142c39b}"
REPS="${REPS:-3}" DURATION="${DURATION:-3}" WARMUP="${WARMUP:-1}"
KIT_SRC="$(cd "${BENCH_KIT:-$ROOT/../shared/bench}" && pwd)"
log() { echo "[before-after] $*" >&2; }
die() { log "error: $*"; exit 1; }

if [ "${REPORT_ONLY:-0}" = 1 ]; then
  python3 "$HERE/before_after.py" "$OUT" "$ROOT/BENCHMARKS.md"; exit $?
fi

AFTER_DIR="$ROOT/target/bench"
BEFORE_DIR="${BEFORE_TARGET:-$ROOT/target/bench-before}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building this checkout"
  CARGO_TARGET_DIR="$AFTER_DIR" cargo build --release -p tether-bench --manifest-path "$ROOT/Cargo.toml" >&2 \
    || die "build failed"
  log "building $BEFORE in its own worktree and target directory"
  WT="$(mktemp -d)/before"
  git -C "$ROOT" worktree add --detach "$WT" "$BEFORE" >&2 || die "no commit $BEFORE"
  CARGO_TARGET_DIR="$BEFORE_DIR" cargo build --release -p tether-bench --manifest-path "$WT/Cargo.toml" >&2 \
    || die "build of $BEFORE failed"
  git -C "$ROOT" worktree remove --force "$WT" >&2
fi

TMP="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
mkdir -p "$TMP/before" "$TMP/after"
for b in tether-bench-server tether-bench-driver tether-raw-echo; do
  cp "$AFTER_DIR/release/$b" "$TMP/after/" || die "missing $b"
done
cp "$BEFORE_DIR/release/tether-bench-server" "$TMP/before/" || die "missing the older server"
cp -r "$KIT_SRC/." "$TMP/kit"; chmod -R u+w "$TMP/kit"
(cd "$TMP/kit" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed"

start() { # NAME command...: sets NAME_PID, NAME_PORT
  local name="$1"; shift
  taskset -c 0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  local pid=$! port=""
  PIDS+=("$pid")
  for _ in $(seq 1 300); do
    port="$(awk '/^listening /{print $2; exit}' "$TMP/$name.out" 2>/dev/null)"
    [ -n "$port" ] && break; sleep 0.1
  done
  [ -n "$port" ] || die "server $name did not start"
  printf -v "${name}_PID" '%s' "$pid"; printf -v "${name}_PORT" '%s' "$port"
  log "$name: pid $pid, port $port"
}
cd "$TMP/kit"
start CAPNWEB node --expose-gc server.mjs 0
start BEFORE "$TMP/before/tether-bench-server" 0
start AFTER "$TMP/after/tether-bench-server" 0
start RAW "$TMP/after/tether-raw-echo" 0

mkdir -p "$(dirname "$OUT")"
: >"$OUT"
tag() { # LABEL REP: adds "label" and "rep" to the JSON line on stdin
  python3 -c 'import json,sys; d=json.loads(sys.stdin.read() or "{}"); d["label"]=sys.argv[1]; d["rep"]=int(sys.argv[2]); print(json.dumps(d))' "$1" "$2"
}
rust() { # LABEL PORT PID WORKLOAD REP
  taskset -c 1 "$TMP/after/tether-bench-driver" "ws://127.0.0.1:$2/" "$4" --duration="$DURATION" \
    --warmup="$WARMUP" --server-pid="$3" | tag "$1-rust" "$5" >>"$OUT"
}
node_drv() { # LABEL PORT PID WORKLOAD REP
  taskset -c 1 node --expose-gc client.mjs "ws://127.0.0.1:$2/" "$4" --duration="$DURATION" \
    --warmup="$WARMUP" --server-pid="$3" | tail -1 | tag "$1-node" "$5" >>"$OUT"
}
one_server() { # LABEL PORT PID REP
  log "rep $4: $1"
  for w in concurrent seq; do rust "$1" "$2" "$3" "$w" "$4"; done
  for w in concurrent seq pipeline payload stubs; do node_drv "$1" "$2" "$3" "$w" "$4"; done
}
for rep in $(seq 1 "$REPS"); do
  if [ $((rep % 2)) = 1 ]; then order="BEFORE AFTER"; else order="AFTER BEFORE"; fi
  for who in $order; do
    label="$(echo "$who" | tr A-Z a-z)"; port="${who}_PORT"; pid="${who}_PID"
    one_server "$label" "${!port}" "${!pid}" "$rep"
  done
  log "rep $rep: capnweb and the raw echo"
  for w in concurrent seq pipeline payload; do node_drv capnweb "$CAPNWEB_PORT" "$CAPNWEB_PID" "$w" "$rep"; done
  for w in raw-concurrent raw-seq; do rust raw "$RAW_PORT" "$RAW_PID" "$w" "$rep"; done
done

# System calls per sequential call: strace -c on the server during one seq run of the Rust driver.
if command -v strace >/dev/null; then
  for who in BEFORE AFTER RAW; do
    port="${who}_PORT"; pid="${who}_PID"; w=seq; [ "$who" = RAW ] && w=raw-seq
    log "strace: $who"
    strace -c -f -p "${!pid}" -o "$TMP/strace-$who.txt" & st=$!
    sleep 0.5
    line="$(taskset -c 1 "$TMP/after/tether-bench-driver" "ws://127.0.0.1:${!port}/" "$w" --duration=2 --warmup=0)"
    kill -INT "$st"; wait "$st" 2>/dev/null
    calls="$(awk '$NF == "total" {print $(NF-2)}' "$TMP/strace-$who.txt")"
    printf '%s' "$line" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); r=d["result"]; n=r.get("calls", r.get("messages")); print(json.dumps({"label": sys.argv[1].lower()+"-strace", "syscalls": int(sys.argv[2] or 0), "calls": n}))' "$who" "$calls" >>"$OUT"
  done
fi
{
  echo "# bench/before-after.sh (BEFORE=$BEFORE REPS=$REPS DURATION=$DURATION WARMUP=$WARMUP)"
  echo "# after: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo ' + uncommitted changes')"
} >"$HERE/before-after/commands.txt"
python3 "$HERE/before_after.py" "$OUT" "$ROOT/BENCHMARKS.md"
