#!/usr/bin/env bash
# Fuzzes accord's parsers of untrusted input (event uploads, durations, list filters, SLA and
# calendar definitions), each target for a bounded time, one after another, one process each.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]       (default 60)
#   FUZZ_TARGETS="durations filters" scripts/fuzz.sh 30    # only these targets
#
# The working corpus grows in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>); a crash
# leaves its input in fuzz/artifacts/<target>/ and makes the script exit 1.
# cargo-fuzz needs nightly features: on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
set -euo pipefail

seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi

cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
# The machine is shared: build on one core unless told otherwise.
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# Instrumented builds of every dependency take long (about 30 min on one core the first time), so
# they live outside the checkout and are shared by every clone on the machine: a fresh clone
# then rebuilds only accord and the targets.
target_dir=${FUZZ_TARGET_DIR:-$HOME/.cache/accord/fuzz-target}
mkdir -p "$target_dir"

started=$SECONDS
(cd fuzz && cargo fuzz build --target-dir "$target_dir")
echo "fuzz: built in $((SECONDS - started)) s" >&2

read -r -a targets <<<"${FUZZ_TARGETS:-$(cd fuzz && cargo fuzz list | tr '\n' ' ')}"
logs=fuzz/artifacts/logs
mkdir -p "$logs"
failed=()
summary=()
for target in "${targets[@]}"; do
    corpus=fuzz/corpus/$target
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    if [[ -d fuzz/seeds/$target ]]; then
        cp -r "fuzz/seeds/$target/." "$corpus/"
    fi
    log=$logs/$target.log
    echo "fuzz: $target for $seconds s (log: $log)" >&2
    status=0
    # libFuzzer stops itself after -max_total_time; the outer timeout only guards against a hang
    # outside it. -timeout makes any single input slower than 10 s a finding.
    (cd fuzz && timeout --kill-after=30 $((seconds + 600)) \
        cargo fuzz run --target-dir "$target_dir" "$target" "../$corpus" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1) \
        >"$log" 2>&1 || status=$?
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
    summary+=("$(printf '%-14s %5s s %12s execs %8s exec/s %6s inputs in corpus' \
        "$target" "$seconds" "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" \
        "$(find "$corpus" -type f | wc -l)")")
    if [[ $status -ne 0 ]]; then
        failed+=("$target")
        artifact=$(ls -t "fuzz/artifacts/$target"/{crash,oom,timeout,leak,slow-unit}-* 2>/dev/null | head -1 || true)
        echo "fuzz: $target FAILED (exit $status); see $log" >&2
        grep -m 5 -E "panicked at|ERROR: libFuzzer|SUMMARY" "$log" >&2 || tail -20 "$log" >&2
        if [[ -n $artifact ]]; then
            echo "fuzz: input: $artifact" >&2
            echo "fuzz: reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target ../$artifact)" >&2
        fi
    fi
done

printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -ne 0 ]]; then
    echo "fuzz: failures in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets" >&2
