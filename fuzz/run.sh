#!/usr/bin/env bash
# Runs each of tether's fuzz targets for MINUTES minutes (default 5), one after the other, each
# on ONE core (a single libFuzzer process, niced), and prints per target: executions, exec/s,
# coverage (cov/ft), corpus size and findings. Writes the figures to fuzz/results.txt.
#
#   fuzz/run.sh [MINUTES] [TARGET...]      e.g. fuzz/run.sh 10 session
#
# Needs only the stable toolchain: cargo-fuzz needs nightly flags, which RUSTC_BOOTSTRAP=1
# allows. Builds without a sanitizer (tether forbids unsafe code) but with debug assertions
# (overflow checks). The committed seeds (fuzz/corpus/<target>) are read, never written: what the
# fuzzer finds goes to fuzz/work/corpus/<target> (kept between runs), crashes and hangs to
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
MINUTES=${1:-5}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(frame session remap)
export RUSTC_BOOTSTRAP=1
FLAGS=(--sanitizer none --debug-assertions)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
nice -n 19 cargo fuzz build "${FLAGS[@]}" >&2

SECONDS_EACH=$((MINUTES * 60))
{
    echo "# fuzz/run.sh $MINUTES ${TARGETS[*]}   ($(date -u '+%Y-%m-%d %H:%M UTC'), $(rustc --version), $(cargo fuzz --version))"
    echo "# each: cargo fuzz run ${FLAGS[*]} TARGET work/corpus/TARGET corpus/TARGET -- -max_total_time=$SECONDS_EACH -max_len=4096 -timeout=10 -rss_limit_mb=2048 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 [-dict=tether.dict for frame], one worker, nice -n 19"
    printf '%-8s %12s %8s %7s %7s %7s %8s %s\n' target execs exec/s cov ft corpus seconds findings
} > results.txt.new

for t in "${TARGETS[@]}"; do
    mkdir -p "work/corpus/$t" "artifacts/$t"
    dict=()
    [ "$t" = frame ] && dict=(-dict=tether.dict)
    log="work/$t.log"
    start=$(date +%s)
    # -fork=1: one worker process at a time (one core) that goes on after a crash or hang,
    # so one run collects every finding rather than stopping at the first.
    nice -n 19 cargo fuzz run "${FLAGS[@]}" "$t" "work/corpus/$t" "corpus/$t" -- \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" "${dict[@]}" >"$log" 2>&1 || true
    took=$(($(date +%s) - start))
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    execs=$(grep -oE '^#[0-9]+' <<<"$last" | tr -d '#' || true)
    rate=$(( ${execs:-0} / (took > 0 ? took : 1) ))
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    corp=$(find "work/corpus/$t" -type f | wc -l)
    findings=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' -o -name 'slow-unit-*' \) | wc -l)
    printf '%-8s %12s %8s %7s %7s %7s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corp" "$took" "$findings" | tee -a results.txt.new
    if [ "$findings" != 0 ]; then
        find "artifacts/$t" -type f | sed 's/^/    /' | tee -a results.txt.new
        grep -m3 -E "panicked at|ERROR: libFuzzer" "$log" | sed 's/^/    /' | tee -a results.txt.new || true
    fi
done
mv results.txt.new results.txt
cat results.txt
