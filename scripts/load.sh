#!/usr/bin/env bash
# Load test: accord serve under wrk, on loopback.
#
#     scripts/load.sh [SECONDS] [sqlite|postgres]      (default: 30 s, sqlite)
#
# Builds accord in release mode, starts `accord serve` on a fresh data directory (and, for
# postgres, a fresh database on $ACCORD_TEST_POSTGRES_URL's server, dropped at the end), seeds it
# (`accord demo --no-serve`: two teams, their heads, three signed SLAs, six weeks of activity;
# `accord import` of a seeded lead history from scripts/gen_events.py; seven more SLAs
# signed through the API; one evaluation of every SLA), then runs wrk for SECONDS each against
#
#   healthz  GET /healthz, the framework's ceiling (only when LOAD_RUNS names it)
#   status   GET /api/v1/status with a head's JWT, as chat bots poll it
#   events   POST /api/v1/events, NDJSON batches of LOAD_BATCH events with fresh external ids,
#            with a service token holding events:write
#
# while it samples the server's RSS every second. It prints requests/s, latency p50/p99/max,
# errors, events/s and RSS (start, middle, end, max) for each, and fails when a request failed
# (socket error or non-2xx), when a batch stored fewer events than it sent, or when the server's
# median RSS in the last third of a run is more than 10 % above the second third's.
#
# Knobs (environment): LOAD_CONNECTIONS (status connections, 32), LOAD_EVENT_CONNECTIONS (4),
# LOAD_BATCH (events per request, 100), LOAD_LEADS (leads imported, 20000), LOAD_THREADS (wrk
# threads, 1: the other core is the server's), LOAD_RUNS (which runs, "status events";
# "healthz" adds the probe), ACCORD_LOG
# (server log filter, info), LOAD_ACCORD (a built accord binary to run instead of building one).
# Logs, wrk output and RSS samples are kept in target/load/<backend>-<time>/.

set -euo pipefail

SECONDS_EACH=${1:-30}
BACKEND=${2:-sqlite}
CONNECTIONS=${LOAD_CONNECTIONS:-32}
EVENT_CONNECTIONS=${LOAD_EVENT_CONNECTIONS:-4}
BATCH=${LOAD_BATCH:-100}
LEADS=${LOAD_LEADS:-20000}
THREADS=${LOAD_THREADS:-1}
RUNS=${LOAD_RUNS:-status events}
PG_ADMIN=${ACCORD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

case "$BACKEND" in
sqlite | postgres) ;;
*)
    echo "usage: $0 [SECONDS] [sqlite|postgres]" >&2
    exit 2
    ;;
esac
[[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] && ((SECONDS_EACH >= 3)) || {
    echo "SECONDS must be a whole number, at least 3" >&2
    exit 2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ACCORD=${LOAD_ACCORD:-$ROOT/target/release/accord}
GEN="$ROOT/scripts/gen_events.py"
OUT="$ROOT/target/load/$BACKEND-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/accord-load.XXXXXX")

log() { echo "load: $*" >&2; }

SERVER_PID=""
SAMPLER_PID=""
DB_NAME=""
cleanup() {
    local status=$?
    set +e
    [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null && wait "$SAMPLER_PID" 2>/dev/null
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null
    fi
    [[ -n "$DB_NAME" ]] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v wrk >/dev/null; then
    log "installing wrk"
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

if [[ -z "${LOAD_ACCORD:-}" ]]; then
    log "building accord (release)"
    (cd "$ROOT" && cargo build --quiet --release --bin accord)
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
API="$BASE/api/v1"
export ACCORD_DATA_DIR="$WORK/data"
export ACCORD_BIND="127.0.0.1:$PORT"
export ACCORD_PASSWORD="load-admin-password"
export ACCORD_JWT_SECRET="load-test-secret-0123456789abcdefghijklmnopqrstuvwxyz"
export ACCORD_LOG=${ACCORD_LOG:-info}
if [[ "$BACKEND" == postgres ]]; then
    DB_NAME="accord_load_$(date +%s)_$$"
    psql "$PG_ADMIN" -qc "CREATE DATABASE $DB_NAME" >/dev/null
    export ACCORD_DATABASE_URL="${PG_ADMIN%/*}/$DB_NAME"
else
    export ACCORD_DATABASE_URL="sqlite://$ACCORD_DATA_DIR/accord.db"
fi
mkdir -p "$ACCORD_DATA_DIR"

"$ACCORD" demo --no-serve >"$OUT/demo.log" 2>&1
log "seeding: accord demo --no-serve, then $LEADS leads of history"
TODAY=$(date -u +%Y-%m-%d)
python3 "$GEN" --leads "$LEADS" --days 42 --seed 42 --end "$TODAY" --quiet --out "$WORK/events.ndjson"
"$ACCORD" import "$WORK/events.ndjson" >"$OUT/import.log" 2>&1
tail -n 1 "$OUT/import.log" >&2

"$ACCORD" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -sf "$BASE/readyz" >/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || {
        cat "$OUT/server.log" >&2
        exit 1
    }
    sleep 0.1
done
curl -sf "$BASE/readyz" >/dev/null

token() { "$ACCORD" token issue --email "$1" --ttl 2h 2>/dev/null; }
MKT=$(token head@marketing.demo.example.com)
SALES=$(token head@sales.demo.example.com)
ADMIN=$(token admin@accord.local)
call() { # METHOD PATH TOKEN [BODY]
    curl -sf -X "$1" "$API$2" -H "authorization: Bearer $3" -H 'content-type: application/json' ${4:+-d "$4"}
}

# Seven more agreements, so the board reads like a company's: counts, ratios and response times,
# weekly and monthly, with and without filters.
sla() { # KEY NAME METRIC OBJECTIVE PERIOD
    local body
    body=$(printf '{"key": "%s", "name": "%s", "provider": "marketing", "consumer": "sales", "metric": %s, "objective": %s, "window": {"kind": "calendar", "period": "%s", "timezone": "Europe/Berlin"}, "notify_on": ["breach"]}' "$1" "$2" "$3" "$4" "$5")
    call POST /slas "$MKT" "$body" >/dev/null
    call POST "/slas/$1/approve" "$SALES" >/dev/null
}
sla leads-week "Leads created per week" '{"kind": "count", "event": "lead.created"}' '{"op": ">=", "target": 3000}' week
sla leads-month "Leads created per month" '{"kind": "count", "event": "lead.created"}' '{"op": ">=", "target": 12000}' month
sla webinar-mqls "Webinar and ads MQLs per week" '{"kind": "count", "event": "lead.qualified", "filter": {"attributes": {"source": ["webinar", "ads"]}}}' '{"op": ">=", "target": 800}' week
sla handoffs "Hand-offs per month" '{"kind": "count", "event": "lead.handed_off"}' '{"op": ">=", "target": 5000}' month
sla handoff-rate "Qualified leads handed off" '{"kind": "ratio", "numerator": {"event": "lead.handed_off"}, "denominator": {"event": "lead.qualified"}}' '{"op": ">=", "target": 0.7}' week
sla rejections "Leads rejected by marketing" '{"kind": "ratio", "numerator": {"event": "lead.rejected"}, "denominator": {"event": "lead.created"}}' '{"op": "<=", "target": 0.25}' month
sla first-contact "Hand-offs contacted within 24 h" '{"kind": "response_time", "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"}, "threshold": "24h"}' '{"op": ">=", "target": 90}' week

log "evaluating every SLA once"
KEYS=$(call GET "/slas?limit=100" "$ADMIN" | python3 -c 'import json, sys; print(" ".join(s["key"] for s in json.load(sys.stdin)["items"]))')
for key in $KEYS; do
    call POST "/slas/$key/evaluate" "$ADMIN" >/dev/null
done
# Of no team (an admin's, like a central CRM sync): the batches hold both teams' events.
EVENT_TOKEN=$(call POST /service-tokens "$ADMIN" '{"name": "load-crm", "scopes": ["events:write"]}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
call GET "/status?format=text" "$MKT" >"$OUT/status-before.txt"
ITEMS=$(wc -l <"$OUT/status-before.txt")
log "status board: $ITEMS SLAs"
((ITEMS >= 10)) || {
    cat "$OUT/status-before.txt" >&2
    exit 1
}

cat >"$WORK/status.lua" <<EOF
wrk.headers["authorization"] = "Bearer $MKT"
bad = 0
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
EOF
cat >"$WORK/events.lua" <<EOF
wrk.method = "POST"
wrk.headers["authorization"] = "Bearer $EVENT_TOKEN"
wrk.headers["content-type"] = "application/x-ndjson"
local run, batch, n = "$(date +%s)-$$", $BATCH, 0
local kinds = {"lead.created", "lead.qualified", "lead.handed_off", "lead.contacted"}
local teams = {"marketing", "marketing", "marketing", "sales"}
local sources = {"webinar", "ads", "organic", "referral"}
-- Globals, so that done() can read them with thread:get.
bad, accepted, duplicates = 0, 0, 0
function request()
  n = n + 1
  local at = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 60)
  local lines = {}
  for i = 1, batch do
    local k = (i % 4) + 1
    lines[i] = string.format(
      '{"external_id": "load-%s-%d-%d", "kind": "%s", "subject_id": "LL%d-%d", "team": "%s", "occurred_at": "%s", "attributes": {"source": "%s", "region": "EMEA"}}',
      run, n, i, kinds[k], n, math.floor(i / 4), teams[k], at, sources[(n + i) % 4 + 1])
  end
  return wrk.format(nil, nil, nil, table.concat(lines, "\n"))
end
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1; return end
  accepted = accepted + tonumber(body:match('"accepted":%s*(%d+)') or 0)
  duplicates = duplicates + tonumber(body:match('"duplicates":%s*(%d+)') or 0)
end
EOF
# Exact percentiles, totals and the hook's counters, in one line for this script to read.
cat >>"$WORK/status.lua" <<'EOF'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local bad_total, accepted, duplicates = 0, 0, 0
  for _, t in ipairs(threads) do
    bad_total = bad_total + t:get("bad")
    accepted = accepted + (t:get("accepted") or 0)
    duplicates = duplicates + (t:get("duplicates") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d socket_errors=%d non2xx=%d accepted=%d duplicates=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, bad_total, accepted, duplicates))
end
EOF
sed -n '/^local threads/,$p' "$WORK/status.lua" >>"$WORK/events.lua"
# The framework's ceiling on this machine: the liveness probe, which reads nothing.
{
    echo 'bad = 0'
    sed -n '/^function response/,$p' "$WORK/status.lua"
} >"$WORK/healthz.lua"

cpu_ticks() { # the server's user + system CPU time so far, in clock ticks
    awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"
}

sample_rss() { # FILE: "unix-seconds rss-KiB" every second
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        echo "$(date +%s) $(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status")"
        sleep 1
    done >"$1"
}

FAILED=0
SUMMARY=()
run_load() { # NAME CONNECTIONS SCRIPT URL
    local name=$1 conns=$2 script=$3 url=$4
    log "$name: wrk -t$THREADS -c$conns -d${SECONDS_EACH}s $url"
    sample_rss "$OUT/rss-$name.txt" &
    SAMPLER_PID=$!
    local cpu_before
    cpu_before=$(cpu_ticks)
    wrk -t"$THREADS" -c"$conns" -d"${SECONDS_EACH}s" --timeout 10s --latency -s "$script" "$url" >"$OUT/wrk-$name.txt"
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    local cpu_ticks=$(($(cpu_ticks) - cpu_before)) result
    result=$(grep '^RESULT' "$OUT/wrk-$name.txt") || {
        cat "$OUT/wrk-$name.txt" >&2
        FAILED=1
        return
    }
    # shellcheck disable=SC2086
    local line
    line=$(python3 - "$name" "$BATCH" "$OUT/rss-$name.txt" "$cpu_ticks" "$(getconf CLK_TCK)" $result <<'PY'
import sys
name, batch, rss_file, ticks, hz, *fields = sys.argv[1:]
r = {k: int(v) for k, v in (f.split("=") for f in fields[1:])}
secs = r["duration_us"] / 1e6
rps = r["requests"] / secs
rss = [int(line.split()[1]) for line in open(rss_file) if len(line.split()) == 2]
n = len(rss)
mib = lambda kib: kib / 1024
second, last = rss[n // 3: 2 * n // 3] or rss, rss[2 * n // 3:] or rss
median = lambda xs: sorted(xs)[len(xs) // 2]
# Medians, so that one evaluation cycle (every ACCORD_EVAL_INTERVAL) falling in the last third
# does not read as growth; memory it does not give back still does.
growth = median(last) / median(second) - 1
problems = []
if r["socket_errors"]:
    problems.append(f'{r["socket_errors"]} socket errors')
if r["non2xx"]:
    problems.append(f'{r["non2xx"]} non-2xx answers')
if name == "events":
    sent = (r["requests"] - r["non2xx"]) * int(batch)
    # wrk stops mid-request at the deadline: answers it never read are not counted either way.
    if r["duplicates"] or r["accepted"] < sent:
        problems.append(f'{r["accepted"]} events stored of {sent} sent ({r["duplicates"]} duplicates)')
if growth > 0.10:
    problems.append(f"RSS grew {growth:.0%} from the second third to the last")
events = f'{r["accepted"] / secs:,.0f}' if name == "events" else "-"
cpu_us = int(ticks) / int(hz) * 1e6 / max(r["requests"], 1)
print(f'{name:<7} {rps:>9,.0f} {r["p50_us"] / 1000:>8.2f} {r["p99_us"] / 1000:>8.2f} '
      f'{r["max_us"] / 1000:>8.1f} {r["socket_errors"] + r["non2xx"]:>6} {events:>9} '
      f'{mib(rss[0]):>7.1f} {mib(rss[n // 2]):>7.1f} {mib(rss[-1]):>7.1f} {mib(max(rss)):>7.1f} '
      f'{growth:>+6.1%} {cpu_us:>7.0f}' + ("  FAIL: " + "; ".join(problems) if problems else ""))
PY
    )
    SUMMARY+=("$line")
    [[ "$line" == *FAIL:* ]] && FAILED=1
    return 0
}

[[ " $RUNS " == *" healthz "* ]] && run_load healthz "$CONNECTIONS" "$WORK/healthz.lua" "$BASE/healthz"
[[ " $RUNS " == *" status "* ]] && run_load status "$CONNECTIONS" "$WORK/status.lua" "$API/status"
[[ " $RUNS " == *" events "* ]] && run_load events "$EVENT_CONNECTIONS" "$WORK/events.lua" "$API/events"

echo
echo "accord $BACKEND, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${SECONDS_EACH} s each," \
    "wrk -t$THREADS (status -c$CONNECTIONS, events -c$EVENT_CONNECTIONS x $BATCH events), $ITEMS SLAs on the board"
printf '%-7s %9s %8s %8s %8s %6s %9s %7s %7s %7s %7s %6s %7s\n' run req/s p50_ms p99_ms max_ms errors events/s \
    rss0MiB rssMid rssEnd rssMax growth cpu_us
printf '%s\n' "${SUMMARY[@]}"
echo "(growth: the last third's median RSS over the second third's; cpu_us: the server's CPU time" \
    "per request; details in ${OUT#"$ROOT"/})"
if grep -qE ' (ERROR|WARN) ' "$OUT/server.log"; then
    log "the server logged warnings or errors: see ${OUT#"$ROOT"/}/server.log"
fi
exit "$FAILED"
