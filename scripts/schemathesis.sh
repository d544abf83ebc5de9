#!/usr/bin/env bash
# Property-based tests of the HTTP API against its own OpenAPI document (Schemathesis).
#
#     scripts/schemathesis.sh [MAX_EXAMPLES]      # default 50 test cases per operation
#
# Builds the debug binary, starts `accord serve` on a free loopback port with a fresh SQLite data
# directory, seeds two teams with a head each, a calendar, a service token, a signed SLA with
# breached weeks (so evaluations, breaches and notifications exist), events, then runs
# `schemathesis run` on /api/v1/openapi.json as the admin with every check, one worker, all
# phases (examples, coverage, fuzzing, stateful). Any failure, or a 5xx in the server's log,
# makes the exit status non-zero. The server is stopped on every exit; the run is bounded by
# ACCORD_SCHEMATHESIS_TIMEOUT seconds (default 1800).
#
# Needs: cargo, curl, jq, and `pip install schemathesis` (4.x).
set -euo pipefail

MAX_EXAMPLES="${1:-50}"
TIMEOUT="${ACCORD_SCHEMATHESIS_TIMEOUT:-1800}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

for tool in cargo curl jq schemathesis; do
    command -v "$tool" >/dev/null || { echo "schemathesis.sh: $tool is needed" >&2; exit 2; }
done

cargo build --quiet --bin accord

WORK="$(mktemp -d "${TMPDIR:-/tmp}/accord-schemathesis.XXXXXX")"
SERVER_PID=""
stop() {
    local status=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $status -ne 0 && -f "$WORK/server.log" ]]; then
        echo "--- last lines of the server's log ($WORK/server.log) ---" >&2
        tail -n 40 "$WORK/server.log" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap stop EXIT
trap 'exit 130' INT TERM

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ROOT_URL="http://127.0.0.1:$PORT"
BASE="$ROOT_URL/api/v1"
ADMIN_PASSWORD="schemathesis-admin-password"

ACCORD_BIND="127.0.0.1:$PORT" \
ACCORD_DATA_DIR="$WORK/data" \
ACCORD_PASSWORD="$ADMIN_PASSWORD" \
ACCORD_JWT_SECRET="schemathesis-secret-schemathesis-secret-0123" \
ACCORD_SCHEDULER=off \
ACCORD_SLACK_SIGNING_SECRET="schemathesis-slack-signing-secret" \
ACCORD_LOG="${ACCORD_LOG:-warn}" \
ACCORD_LOG_FORMAT=json \
    "$ROOT/target/debug/accord" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 150); do
    curl -sf "$ROOT_URL/readyz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "accord serve exited" >&2; exit 1; }
    sleep 0.2
done
curl -sf "$ROOT_URL/readyz" >/dev/null || { echo "accord did not become ready" >&2; exit 1; }

JSON='content-type: application/json'
# call METHOD PATH TOKEN [BODY]: the JSON answer; any status other than 2xx stops the script.
call() {
    local method=$1 path=$2 token=$3 body=${4:-}
    local args=(-sS --fail-with-body -X "$method" "$BASE$path" -H "authorization: Bearer $token")
    [[ -n "$body" ]] && args+=(-H "$JSON" -d "$body")
    curl "${args[@]}"
}
token() {
    curl -sS --fail-with-body -X POST "$BASE/auth/token" -H "$JSON" \
        -d "{\"email\": \"$1\", \"password\": \"$2\"}" | jq -r .access_token
}

ADMIN="$(token admin@accord.local "$ADMIN_PASSWORD")"
call POST /teams "$ADMIN" '{"slug": "marketing", "name": "Marketing", "email": "marketing@example.com"}' >/dev/null
call POST /teams "$ADMIN" '{"slug": "sales", "name": "Sales", "email": "sales@example.com"}' >/dev/null
call POST /users "$ADMIN" '{"email": "mo@example.com", "name": "Mo", "team": "marketing", "role": "head", "password": "another-long-password"}' >/dev/null
call POST /users "$ADMIN" '{"email": "ada@example.com", "name": "Ada", "team": "sales", "role": "head", "password": "a-long-password"}' >/dev/null
call POST /users "$ADMIN" '{"email": "max@example.com", "name": "Max", "team": "sales", "role": "member", "password": "a-third-long-password"}' >/dev/null
MKT="$(token mo@example.com another-long-password)"
SALES="$(token ada@example.com a-long-password)"
call POST /service-tokens "$ADMIN" '{"name": "crm-sync", "team": "marketing", "scopes": ["events:write"]}' >/dev/null
call POST /calendars "$ADMIN" '{"key": "emea-office", "name": "EMEA office", "timezone": "Europe/Berlin",
    "hours": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
              "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]}, "holidays": ["2026-12-25"]}' >/dev/null

# Two agreements that started four weeks ago, signed by both heads: a weekly volume nobody
# reaches (breaches, notifications) and a follow-up time in business hours (violations).
SINCE="$(date -u -d '28 days ago' +%F)"
call POST /slas "$MKT" "{\"key\": \"mql-volume\", \"name\": \"MQLs per week\", \"provider\": \"marketing\",
    \"consumer\": \"sales\", \"metric\": {\"kind\": \"count\", \"event\": \"lead.qualified\"},
    \"objective\": {\"op\": \">=\", \"target\": 400},
    \"window\": {\"kind\": \"calendar\", \"period\": \"week\", \"timezone\": \"Europe/Berlin\"},
    \"notify_on\": [\"breach\", \"at_risk\", \"recovered\"], \"effective_from\": \"$SINCE\"}" >/dev/null
call POST /slas/mql-volume/approve "$SALES" >/dev/null
call POST /slas "$SALES" "{\"key\": \"follow-up\", \"name\": \"Hand-offs contacted in 4 business hours\",
    \"provider\": \"sales\", \"consumer\": \"marketing\",
    \"metric\": {\"kind\": \"response_time\", \"start\": {\"event\": \"lead.handed_off\"},
                 \"stop\": {\"event\": \"lead.contacted\"}, \"threshold\": \"4h\", \"calendar\": \"emea-office\"},
    \"objective\": {\"op\": \">=\", \"target\": 90},
    \"window\": {\"kind\": \"calendar\", \"period\": \"week\", \"timezone\": \"Europe/Berlin\"},
    \"effective_from\": \"$SINCE\"}" >/dev/null
call POST /slas/follow-up/approve "$MKT" >/dev/null
call POST /slas "$MKT" '{"key": "draft", "name": "A proposal nobody signed", "provider": "marketing",
    "consumer": "sales", "metric": {"kind": "count", "event": "lead.qualified"},
    "objective": {"op": ">=", "target": 10}, "window": {"kind": "rolling", "length": "7d"}}' >/dev/null

EVENTS="$WORK/events.ndjson"
for day in $(seq 27 -1 1); do
    at="$(date -u -d "$day days ago 10:00" +%FT%TZ)"
    later="$(date -u -d "$day days ago 11:00" +%FT%TZ)"
    printf '{"external_id": "q-%s", "kind": "lead.qualified", "subject_id": "lead-%s", "team": "marketing", "occurred_at": "%s", "attributes": {"source": "webinar"}}\n' "$day" "$day" "$at"
    printf '{"external_id": "h-%s", "kind": "lead.handed_off", "subject_id": "lead-%s", "team": "marketing", "occurred_at": "%s", "attributes": {}}\n' "$day" "$day" "$at"
    if (( day % 3 )); then
        printf '{"external_id": "c-%s", "kind": "lead.contacted", "subject_id": "lead-%s", "team": "sales", "occurred_at": "%s", "attributes": {}}\n' "$day" "$day" "$later"
    fi
done >"$EVENTS"
curl -sS --fail-with-body -X POST "$BASE/events" -H "authorization: Bearer $ADMIN" \
    -H 'content-type: application/x-ndjson' --data-binary @"$EVENTS" >/dev/null
call POST /slas/mql-volume/evaluate "$ADMIN" >/dev/null
call POST /slas/follow-up/evaluate "$ADMIN" >/dev/null
BREACH="$(call GET '/breaches?status=open' "$ADMIN" | jq -r '.items[0].id // empty')"
[[ -n "$BREACH" ]] || { echo "seeding made no breach" >&2; exit 1; }
call POST "/breaches/$BREACH/acknowledge" "$MKT" '{"note": "Two reps out sick; cover arranged"}' >/dev/null
echo "seeded $(wc -l <"$EVENTS") events, 3 SLAs, breach $BREACH; testing with $MAX_EXAMPLES examples per operation" >&2

# positive_data_acceptance expects a 2xx for every request the schema allows. Two kinds of
# refusal are right although the schema cannot say so, and are accepted here (genuine false
# positives, not exclusions): 422 for rules across fields or rows (`to` after `from`, a head
# needs a team, a team named in a filter must exist, a body key must match the path) and for
# field rules JSON Schema states only loosely (an email address, an IANA time zone); and, on
# the lists only, 400 for a `cursor` that is not one of ours: a cursor is opaque, so any string
# fits its schema, yet only a `next_cursor` the server handed out is a position.
# 429 is the sign-in limit: generated sign-ins fail, and after ten for one account (or fifty from
# one address) every further one is refused, whatever its data.
cat >"$WORK/schemathesis.toml" <<'TOML'
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-method = "GET"
include-path-regex = '^/api/v1/(teams|users|service-tokens|calendars|slas|slas/\{key\}/evaluations|events|breaches|notifications|audit)$'
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429"]

TOML

# Every check, every phase, one worker. The Slack endpoint is on (it has a signing secret), so
# Schemathesis's unsigned requests get its 401 rather than the 503 of an unconfigured instance.
status=0
cd "$WORK" # Schemathesis keeps its cache of failures in ./.schemathesis
timeout --kill-after=30 "$TIMEOUT" schemathesis --config-file "$WORK/schemathesis.toml" \
    run "$BASE/openapi.json" \
    --url "$ROOT_URL" \
    --header "Authorization: Bearer $ADMIN" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$MAX_EXAMPLES" \
    --workers 1 \
    --request-timeout 30 \
    --generation-database none \
    --seed "${ACCORD_SCHEMATHESIS_SEED:-42}" \
    --no-color \
    --report junit --report-dir "$ROOT/target/schemathesis" || status=$?

# A 5xx is logged at ERROR. actix-http also logs, at ERROR, a request it could not parse (a
# header Schemathesis made unreadable on purpose) and answers it 400 itself: not ours, not a 5xx.
if grep '"level":"ERROR"' "$WORK/server.log" | grep -qv '"target":"actix_http::h1::dispatcher"'; then
    echo "the server logged errors:" >&2
    grep '"level":"ERROR"' "$WORK/server.log" | grep -v '"target":"actix_http::h1::dispatcher"' \
        | head -n 20 >&2
    status=1
fi
exit "$status"
