#!/usr/bin/env bash
# Run the libFuzzer drivers built in BUILD (tests/fuzz) on their seed corpora.
#   scripts/fuzz.sh BUILD run SECONDS   each driver for SECONDS, nproc of them at a time; new
#                                       inputs go to BUILD/fuzz/corpus/<driver> (kept between
#                                       runs, never in git)
#   scripts/fuzz.sh BUILD smoke         each driver over its seeds, then a few seconds of
#                                       mutations with a fixed seed (for make test)
# FUZZ_DRIVERS="fuzz_wire ..." runs only those; FUZZ_JOBS=N runs N at a time.
# Any crash, leak, sanitizer report or timeout fails the run; the input that caused it is left
# in BUILD/fuzz/artifacts/<driver>/ and the end of the driver's log is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

# FUZZ_DRIVERS picks some of them, FUZZ_JOBS how many run at once (default: one per CPU).
read -r -a FUZZERS <<<"${FUZZ_DRIVERS:-fuzz_route fuzz_body fuzz_wire fuzz_keys fuzz_config fuzz_files fuzz_result fuzz_zmtp fuzz_jscan}"
build=${1:?usage: $0 BUILD run SECONDS | BUILD smoke}
mode=${2:?usage: $0 BUILD run SECONDS | BUILD smoke}
seconds=${3:-60}
smoke_seconds=${FUZZ_SMOKE_SECONDS:-4}
work="$build/fuzz"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Options for one driver: a larger max_len where inputs are whole messages.
driver_opts() {
    case "$1" in
        fuzz_wire) echo "-max_len=16384" ;;
        fuzz_keys) echo "-max_len=8192" ;;
        fuzz_result) echo "-max_len=16384" ;;
        fuzz_zmtp) echo "-max_len=16384" ;;
        *) echo "-max_len=4096" ;;
    esac
}

# run_one DRIVER SCRATCH_CORPUS EXTRA_ARGS...: runs in the background, log in $work/logs.
run_one() {
    local name=$1 scratch=$2
    shift 2
    local bin="$build/tests/fuzz/$name"
    [ -x "$bin" ] || { echo "fuzz: $bin is missing: build the fuzzers first" >&2; return 1; }
    mkdir -p "$scratch" "$work/artifacts/$name" "$work/logs"
    # $(driver_opts) is a single word or none.
    # shellcheck disable=SC2046
    "$bin" $(driver_opts "$name") -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$name/" "$@" \
        "$scratch" "tests/fuzz/corpus/$name" >"$work/logs/$name.log" 2>&1
}

summary() {
    local name=$1 log="$work/logs/$1.log" runs secs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    printf 'fuzz: %-12s ok  %10s runs in %4s s, corpus %s inputs\n' "$name" "${runs:-?}" \
        "${secs:-?}" "$(find "$2" -type f | wc -l)"
}

failed=()
report() {
    local name=$1 status=$2 scratch=$3
    if [ "$status" -eq 0 ]; then
        summary "$name" "$scratch"
    else
        failed+=("$name")
        echo "fuzz: $name FAILED (exit $status); inputs kept in $work/artifacts/$name/:" >&2
        ls "$work/artifacts/$name/" >&2 || true
        tail -40 "$work/logs/$name.log" >&2
    fi
}

case "$mode" in
    run)
        jobs=${FUZZ_JOBS:-$(nproc)}
        echo "fuzz: ${#FUZZERS[@]} drivers, $seconds s each, $jobs at a time" >&2
        mkdir -p "$work/logs"
        for name in "${FUZZERS[@]}"; do
            while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
                wait -n || true
            done
            # Each job leaves its exit status in a file: wait -n may have reaped it already.
            (
                status=0
                run_one "$name" "$work/corpus/$name" -max_total_time="$seconds" || status=$?
                echo "$status" >"$work/logs/$name.status"
            ) &
        done
        wait
        for name in "${FUZZERS[@]}"; do
            report "$name" "$(cat "$work/logs/$name.status" 2>/dev/null || echo 1)" \
                "$work/corpus/$name"
        done
        ;;
    smoke)
        for name in "${FUZZERS[@]}"; do
            rm -rf "$work/smoke/$name"
            status=0
            run_one "$name" "$work/smoke/$name" -seed=1 -runs=500000 \
                -max_total_time="$smoke_seconds" || status=$?
            report "$name" "$status" "$work/smoke/$name"
        done
        rm -rf "$work/smoke"
        ;;
    *)
        echo "usage: $0 BUILD run SECONDS | BUILD smoke" >&2
        exit 2
        ;;
esac

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
