#!/usr/bin/env bash
# The checks beyond `cargo test`: load, hostile input and crashes, in one command.
#
#     scripts/long-checks.sh            # the long versions (about an hour on 2 cores)
#     scripts/long-checks.sh --bounded  # the short versions .ci/run runs (about 5 minutes, plus the
#                                       # fuzz build: minutes when cached, half an hour on a new machine)
#
#   replicas      the three-replica SIGKILL test, again and again (it is also in `cargo test`)
#   load          scripts/load.sh: wrk against /api/v1/status and event batches, zero errors,
#                 flat memory (SQLite; the long version PostgreSQL too)
#   schemathesis  scripts/schemathesis.sh: the served OpenAPI document against the server
#   fuzz          scripts/fuzz.sh: the cargo-fuzz targets of the parsers
#
# Installs what it needs when missing: wrk and jq (Debian), schemathesis (PyPI), cargo-fuzz
# (crates.io). PostgreSQL must run on ACCORD_TEST_POSTGRES_URL's server (scripts/test starts it).
# Every step stops by itself; the first failure stops the script.
set -euo pipefail
cd "$(dirname "$0")/.."
export ACCORD_TEST_POSTGRES_URL="${ACCORD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

mode=long
case "${1:-}" in
    "") ;;
    --bounded) mode=bounded ;;
    *) echo "usage: $0 [--bounded]" >&2; exit 2 ;;
esac

need_deb() {
    local missing=()
    for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
    if ((${#missing[@]})); then
        echo "long-checks: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
            || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
    fi
}
need_deb wrk jq curl
if ! command -v schemathesis >/dev/null 2>&1; then
    echo "long-checks: installing schemathesis"
    python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

step() { echo; echo "=== long-checks ($mode): $* ==="; }

if [[ $mode == bounded ]]; then
    # The debug binary `cargo test` built: the bounded run checks errors and memory, not speed.
    cargo build --quiet --bin accord
    step "load, 10 s per run, SQLite (debug build)"
    LOAD_ACCORD="$PWD/target/debug/accord" scripts/load.sh 10 sqlite
    step "schemathesis, 10 examples per operation"
    scripts/schemathesis.sh 10
    step "fuzz, 20 s per target"
    CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} scripts/fuzz.sh 20
else
    step "replicas, 5 runs"
    for run in 1 2 3 4 5; do
        echo "run $run"
        cargo test --quiet --test api -- replicas 2>&1 | tail -n 3
    done
    step "load, 60 s per run, SQLite"
    scripts/load.sh 60 sqlite
    step "load, 60 s per run, PostgreSQL"
    scripts/load.sh 60 postgres
    step "schemathesis, 200 examples per operation"
    scripts/schemathesis.sh 200
    step "fuzz, 300 s per target"
    scripts/fuzz.sh 300
fi
echo
echo "long-checks ($mode): all passed"
