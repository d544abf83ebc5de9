#!/usr/bin/env bash
# Runs examples/tour.sh end to end against a fresh instance on a temporary data directory, and
# fails when any step answers otherwise than the tour expects or the server logs an error.
#
#     scripts/run-tour.sh          # uses target/debug/accord (built when missing)
#     ACCORD_BIN=target/release/accord scripts/run-tour.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

for tool in curl jq python3; do
    command -v "$tool" >/dev/null 2>&1 && continue
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "run-tour: installing $tool"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$tool" >/dev/null
    else
        echo "run-tour: the tour needs $tool: run \`sudo apt-get install $tool\`" >&2
        exit 1
    fi
done
bin=${ACCORD_BIN:-$root/target/debug/accord}
[[ -x $bin ]] || cargo build --quiet --bin accord
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ACCORD_DATA_DIR=$work/data
export ACCORD_DATABASE_URL=sqlite://$work/data/accord.db
export ACCORD_BIND=127.0.0.1:$port
export ACCORD_PASSWORD=tour-admin-password
# A failing delivery gives up after two quick attempts, so the tour sees it fail and retries it.
export ACCORD_MAX_ATTEMPTS=2 ACCORD_RETRY_BASE=1s
export ACCORD_LOG=${ACCORD_LOG:-info}
unset ACCORD_JWT_SECRET ACCORD_SMTP_URL ACCORD_PUBLIC_URL

"$bin" serve >"$work/serve.log" 2>&1 &
server=$!
finish() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap finish EXIT
for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.5
done

status=0
ACCORD_URL=http://127.0.0.1:$port ACCORD_ADMIN_PASSWORD=$ACCORD_PASSWORD PATH=$(dirname "$bin"):$PATH \
    examples/tour.sh || status=$?
# The webhook failures are the tour's point; anything else the server calls an error is not.
if grep -E '\bERROR\b' "$work/serve.log" >&2; then
    echo "run-tour: the server logged errors (above)" >&2
    status=1
fi
if ((status)); then
    echo "run-tour: failed; the server's log:" >&2
    tail -n 60 "$work/serve.log" >&2
    exit "$status"
fi
echo "run-tour: passed"
