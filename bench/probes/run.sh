#!/usr/bin/env bash
# Hostile-peer probes against tether's TestTarget server (issue 12), each bounded in time:
#   bench/probes/run.sh            (from any directory; a few minutes)
# Builds tether-testtarget (release), then for each probe starts a fresh server and reports the
# server's peak and final RSS and CPU: one large frame echoed (31 MiB nested at the depth limit,
# and frames of about a million values, the default Limits::max_values, in four shapes); a
# million-value result copied into 20 calls by tiny pushes;
# 1,000,000 pushes never pulled; 200,000 exported stubs kept; N idle WebSocket sessions, opened at
# once and 50 at a time (the difference is what the allocator keeps of the connect storm).
# Results go to bench/results/probes.txt with the command that produced them.
# Environment: IDLE=2000 (idle sessions), PUSHES=1000000, EXPORTS=200000; ONLY=idle runs only
# the idle-session probes (ONLY=hostile only the others), and then writes its results to
# bench/results/probes-idle.txt (probes-hostile.txt) instead, so the full file keeps one run.
set -u -o pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ONLY="${ONLY:-}"
case "$ONLY" in
  "") OUT="$ROOT/bench/results/probes.txt" ;;
  idle | hostile) OUT="$ROOT/bench/results/probes-$ONLY.txt" ;;
  *) echo "ONLY must be idle or hostile" >&2; exit 2 ;;
esac
cargo build --release -p tether-testtarget --manifest-path "$ROOT/Cargo.toml" >&2 || exit 1
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tether-testtarget"
[ -d "$ROOT/interop/node_modules/ws" ] || (cd "$ROOT/interop" && npm ci --no-audit --no-fund >&2)
export INTEROP_DIR="$ROOT/interop"
# Below the ephemeral range (32768-60999 here): a port the 5,000 client sockets of the previous
# probe used can still be in TIME_WAIT, and the next server then failed to bind.
PORT=28400
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$2/status"; }
cpu() { awk '{printf "%.2f s", ($14 + $15) / 100}' "/proc/$1/stat"; }
serve() {
  PORT=$((PORT + 1))
  "$BIN" "$PORT" >/dev/null 2>&1 &
  SERVER=$!
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return; sleep 0.1; done
}
stop() { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; }
{
  echo "# ${ONLY:+ONLY=$ONLY }IDLE=${IDLE:-2000} PUSHES=${PUSHES:-1000000} EXPORTS=${EXPORTS:-200000} bench/probes/run.sh, $(date -u +%FT%TZ), commit $(git -C "$ROOT" rev-parse --short HEAD)"
  echo
  if [ "$ONLY" != idle ]; then
  # amplify.mjs SHAPE [VALUES]: see that file; one value under Limits::max_values' default.
  for probe in "nested" "nested 1048000" "flat 1048000" "objects 1048000" "strings 1048000" "flat"; do
    serve
    echo "## one frame ($probe), echoed and pulled; server RSS before: $(kib VmRSS "$SERVER") KiB"
    # shellcheck disable=SC2086 # the probe's words are its arguments
    (cd "$HERE" && timeout 120 node amplify.mjs "ws://127.0.0.1:$PORT/" $probe 2>&1 | cut -c1-200)
    echo "server: peak RSS $(kib VmHWM "$SERVER") KiB, RSS after $(kib VmRSS "$SERVER") KiB, CPU $(cpu "$SERVER")"
    stop
    echo
  done
  serve
  echo "## a million-value result copied into 20 calls by tiny pipelined pushes"
  (cd "$HERE" && timeout 120 node copies.mjs "ws://127.0.0.1:$PORT/" 20 2>&1 | cut -c1-200)
  echo "server: peak RSS $(kib VmHWM "$SERVER") KiB, RSS after $(kib VmRSS "$SERVER") KiB, CPU $(cpu "$SERVER")"
  stop
  echo
  serve
  echo "## ${PUSHES:-1000000} pushes never pulled"
  (cd "$HERE" && timeout 300 node pushes.mjs "ws://127.0.0.1:$PORT/" "${PUSHES:-1000000}")
  echo "server: peak RSS $(kib VmHWM "$SERVER") KiB, RSS after $(kib VmRSS "$SERVER") KiB, CPU $(cpu "$SERVER")"
  stop
  echo
  serve
  echo "## ${EXPORTS:-200000} exported stubs kept"
  (cd "$HERE" && timeout 300 node pushes.mjs "ws://127.0.0.1:$PORT/" "${EXPORTS:-200000}" --exports)
  echo "server: peak RSS $(kib VmHWM "$SERVER") KiB, RSS after $(kib VmRSS "$SERVER") KiB, CPU $(cpu "$SERVER")"
  stop
  echo
  fi
  [ "$ONLY" = hostile ] && exit 0
  n="${IDLE:-2000}"
  for batch in "$n" 50; do
    serve
    before=$(kib VmRSS "$SERVER")
    if [ "$batch" = "$n" ]; then
      echo "## $n idle WebSocket sessions, opened at once"
    else
      echo
      echo "## $n idle WebSocket sessions, opened $batch at a time"
    fi
    (cd "$HERE" && exec node idle.mjs "ws://127.0.0.1:$PORT/" "$n" "$batch" > "$OUT.idle" 2>&1) &
    client=$!
    for _ in $(seq 1 240); do grep -q ready "$OUT.idle" 2>/dev/null && break; sleep 0.5; done
    sleep 1
    after=$(kib VmRSS "$SERVER")
    echo "server RSS $before -> $after KiB: $(( (after - before) * 1024 / n )) bytes per idle session"
    kill "$client" 2>/dev/null; rm -f "$OUT.idle"
    stop
  done
} | tee "$OUT"
