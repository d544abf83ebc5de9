#!/usr/bin/env bash
#: # A tour of the API
#:
#: This page is generated from [`examples/tour.sh`](../examples/tour.sh) by `scripts/tour-doc.py`
#: (`.ci/run` checks that they agree, and runs the script end to end against a fresh instance), so
#: every command below works as shown. Run it yourself against a fresh instance:
#:
#: ```sh
#: ACCORD_PASSWORD=tour-admin-password ACCORD_MAX_ATTEMPTS=2 ACCORD_RETRY_BASE=1s cargo run -- serve &
#: ACCORD_ADMIN_PASSWORD=tour-admin-password PATH=$PWD/target/debug:$PATH examples/tour.sh
#: ```
#:
#: or let `scripts/run-tour.sh` do both on a temporary data directory. The tour needs `curl`,
#: `jq` and `python3` (for a small webhook receiver), and the `accord` binary on `PATH` for the two
#: command-line steps. The files it uploads are in [`examples/`](../examples/). Every request states
#: the status it expects; any other answer stops the tour with the answer printed.
#:
#: The story: marketing hands qualified leads to sales; the two heads sign three agreements; the
#: CRM systems log November's activity; sales rejected more leads in week 46 than agreed, so an
#: evaluation opens a breach; both heads handle it; the chat message about it fails to arrive,
#: and is retried once the receiver is up. See [product.md](product.md) for what each resource
#: means and [security.md](security.md) for who may do what.
#:
#: ## Set-up
#:
#: `api EXPECTED METHOD PATH TOKEN [curl options…]` sends one request with `TOKEN` as the bearer
#: token (`-` for none), prints the answer and stops the tour when the status is not `EXPECTED`.
set -euo pipefail
cd "$(dirname "$0")"

BASE=${ACCORD_URL:-http://127.0.0.1:8080}/api/v1
JSON='content-type: application/json'

api() {
    local expected=$1 method=$2 path=$3 token=$4
    shift 4
    local auth=()
    [[ $token == - ]] || auth=(-H "authorization: Bearer $token")
    local answer status
    answer=$(mktemp)
    status=$(curl -sS -o "$answer" -w '%{http_code}' -X "$method" "$BASE$path" "${auth[@]}" "$@")
    if [[ $status != "$expected" ]]; then
        echo "tour: $method $path answered $status, expected $expected:" >&2
        cat "$answer" >&2
        echo >&2
        rm -f "$answer"
        exit 1
    fi
    cat "$answer"
    rm -f "$answer"
}
step() { printf '\n== %s\n' "$*"; }

#: The first start of an instance creates the admin account `admin@accord.local` and prints its
#: password once (or takes `ACCORD_PASSWORD`). Exchange it for a token:
step "sign in as the admin"
sign_in() {
    api 200 POST /auth/token - -H "$JSON" -d "{\"email\": \"$1\", \"password\": \"$2\"}" | jq -r .access_token
}
ADMIN=$(sign_in admin@accord.local "${ACCORD_ADMIN_PASSWORD:?set ACCORD_ADMIN_PASSWORD to the password of the first admin}")

#: ## Teams and people
#:
#: Teams are addressed by slug. A team with a `webhook_url` also gets a Slack-compatible post for
#: every message; sales points theirs at a chat relay on this machine that is not running yet, so
#: those posts fail for now (the last step fixes that).
step "teams"
HOOK_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
api 201 POST /teams "$ADMIN" -H "$JSON" \
    -d '{"slug": "marketing", "name": "Marketing", "email": "marketing@example.com"}' | jq -c .
api 201 POST /teams "$ADMIN" -H "$JSON" \
    -d "{\"slug\": \"sales\", \"name\": \"Sales\", \"email\": \"sales@example.com\",
         \"webhook_url\": \"http://127.0.0.1:$HOOK_PORT/chat\"}" | jq -c .

#: An admin creates the heads; a head may add members of their own team.
step "people"
api 201 POST /users "$ADMIN" -H "$JSON" \
    -d '{"email": "mo@example.com", "name": "Mo", "team": "marketing", "role": "head", "password": "mo-long-password"}' | jq -c .
api 201 POST /users "$ADMIN" -H "$JSON" \
    -d '{"email": "ada@example.com", "name": "Ada", "team": "sales", "role": "head", "password": "ada-long-password"}' | jq -c .
MO=$(sign_in mo@example.com mo-long-password)
ADA=$(sign_in ada@example.com ada-long-password)
api 201 POST /users "$ADA" -H "$JSON" \
    -d '{"email": "kim@example.com", "name": "Kim", "team": "sales", "role": "member", "password": "kim-long-password"}' | jq -c .
api 200 GET /users/me "$ADA" | jq -c '{email, team, role}'
api 200 GET "/users?limit=10" "$ADMIN" | jq -c '[.items[].email], .next_cursor'

#: Systems and bots use service tokens, which can do exactly what their scopes say. Marketing's
#: CRM sync may write marketing's events and nothing else; a chat bot may read the status. The
#: secret is shown once.
step "service tokens"
CRM=$(api 201 POST /service-tokens "$MO" -H "$JSON" \
    -d '{"name": "crm-sync", "team": "marketing", "scopes": ["events:write"]}' | jq -r .token)
BOT=$(api 201 POST /service-tokens "$ADMIN" -H "$JSON" \
    -d '{"name": "chat-bot", "scopes": ["status:read"]}' | jq -r .token)
api 200 GET /service-tokens "$ADMIN" | jq -c '[.items[] | {name, team, scopes}]'

#: ## A calendar and three agreements
#:
#: Business hours for response-time agreements (admins and heads):
step "calendar"
api 201 POST /calendars "$ADA" -H "$JSON" -d '{"key": "emea-office", "name": "EMEA office",
  "timezone": "Europe/Berlin",
  "hours": {"mon": [["09:00", "12:30"], ["13:30", "17:00"]], "tue": [["09:00", "17:00"]],
            "wed": [["09:00", "17:00"]], "thu": [["09:00", "17:00"]], "fri": [["09:00", "16:00"]]},
  "holidays": ["2026-12-24", "2026-12-25", "2026-12-31"]}' | jq -c '{key, timezone}'

#: A head of either party proposes; their own team counts as signed. The other party's head signs
#: and the agreement is `active`. Marketing commits to lead volume and to lead quality (sales
#: rejects at most three handed-off leads a week, counted from 2 November 2026); sales commits to
#: contacting hand-offs within four business hours.
step "agreements proposed and signed"
api 201 POST /slas "$MO" -H "$JSON" -d '{"key": "mql-volume", "name": "Marketing-qualified leads per month",
  "provider": "marketing", "consumer": "sales",
  "metric": {"kind": "count", "event": "lead.qualified", "filter": {"attributes": {"source": ["webinar", "ads"]}}},
  "objective": {"op": ">=", "target": 400},
  "window": {"kind": "calendar", "period": "month", "timezone": "Europe/Berlin"},
  "notify_on": ["breach", "at_risk", "recovered"]}' | jq -c '{key, status, version}'
api 200 POST /slas/mql-volume/approve "$ADA" | jq -c '{key, status, approvals: [.approvals[].team]}'

api 201 POST /slas "$MO" -H "$JSON" -d '{"key": "rejections", "name": "Hand-offs rejected by sales, at most 3 a week",
  "provider": "marketing", "consumer": "sales",
  "metric": {"kind": "count", "event": "lead.rejected"},
  "objective": {"op": "<=", "target": 3},
  "window": {"kind": "calendar", "period": "week", "timezone": "Europe/Berlin"},
  "effective_from": "2026-11-02"}' | jq -c '{key, status}'
api 200 POST /slas/rejections/approve "$ADA" -H "$JSON" -d '{"version": 1}' | jq -c '{key, status}'

api 201 POST /slas "$ADA" -H "$JSON" -d '{"key": "follow-up", "name": "Hand-offs contacted within 4 business hours",
  "provider": "sales", "consumer": "marketing",
  "metric": {"kind": "response_time", "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"},
             "threshold": "4h", "calendar": "emea-office"},
  "objective": {"op": ">=", "target": 90},
  "window": {"kind": "calendar", "period": "week", "timezone": "Europe/Berlin"},
  "effective_from": "2026-11-02"}' | jq -c '{key, status}'
api 200 POST /slas/follow-up/approve "$MO" | jq -c '{key, status}'

#: A proposal can be refused, with a reason both sides see:
api 201 POST /slas "$MO" -H "$JSON" -d '{"key": "conversion", "name": "Qualified leads converted",
  "provider": "sales", "consumer": "marketing",
  "metric": {"kind": "ratio", "numerator": {"event": "lead.converted"}, "denominator": {"event": "lead.qualified"}},
  "objective": {"op": ">=", "target": 0.3},
  "window": {"kind": "calendar", "period": "month", "timezone": "Europe/Berlin"}}' | jq -c '{key, status}'
api 200 POST /slas/conversion/reject "$ADA" -H "$JSON" \
    -d '{"reason": "30 % is above anything we reached this year; see the simulation"}' | jq -c '{key, status}'

#: A revision (the whole definition, [`revised.json`](../examples/revised.json); the parties
#: cannot change) is version 2, a new proposal, while version 1 stays in force until it is signed.
#: Approving with `{"version": n}` makes sure the signer signs the text they read.
step "a revision"
api 200 PUT /slas/mql-volume "$MO" -H "$JSON" -d @revised.json | jq -c '{key, version, pending: .pending.version}'
api 200 POST /slas/mql-volume/approve "$ADA" -H "$JSON" -d '{"version": 2}' | jq -c '{key, status}'
api 200 GET /slas/mql-volume/versions "$ADMIN" | jq -c '[.items[] | {version, status, effective_range}]'
api 200 GET "/audit?entity_type=sla&entity_id=mql-volume" "$ADMIN" | jq -c '[.items[] | {action, actor}]'

#: ## Activity
#:
#: One event, a JSON array, NDJSON or CSV. A batch is checked whole and stored whole or not at
#: all; `external_id` makes a replay harmless. People post their own team's events (an admin any
#: team's); marketing's CRM sync posts November's qualified leads and hand-offs
#: ([`events.ndjson`](../examples/events.ndjson)), and Ada uploads sales's contacts and rejections
#: ([`events.csv`](../examples/events.csv)).
step "events"
api 200 POST /events "$MO" -H "$JSON" -d '{"external_id": "web-form-9001", "kind": "lead.created",
  "subject_id": "lead-9001", "team": "marketing", "occurred_at": "2026-11-03T09:12:00+01:00",
  "attributes": {"source": "webinar"}}' | jq -c .
api 200 POST /events "$CRM" -H 'content-type: application/x-ndjson' --data-binary @events.ndjson | jq -c .
api 200 POST /events "$ADA" -H 'content-type: text/csv' --data-binary @events.csv | jq -c .
api 200 POST /events "$CRM" -H 'content-type: application/x-ndjson' --data-binary @events.ndjson | jq -c .
api 200 GET "/events?kind=lead.rejected&team=sales&from=2026-11-09T00:00:00Z&limit=3" "$ADMIN" \
    | jq -c '[.items[] | {external_id, occurred_at}], .next_cursor'

#: `accord import` loads a file without HTTP, in batches, on the same database (here every event
#: is there already, so all are duplicates):
accord import events.ndjson

#: ## Evaluation and a breach
#:
#: The scheduler evaluates every active agreement each `ACCORD_EVAL_INTERVAL`; an evaluation can
#: also be asked for. `rejections` is judged from week 45 on: five rejections in week 46 break it.
step "evaluation"
api 200 POST /slas/rejections/evaluate "$ADMIN" | jq -c '.items[] | {period_start, value, target, op, status}'
api 200 POST /slas/follow-up/evaluate "$ADMIN" | jq -c '.items[] | {period_start, value, status}'
api 200 GET "/slas/rejections/evaluations?from=2026-11-01T00:00:00Z" "$ADMIN" | jq -c '[.items[] | .status]'
api 200 GET /slas/follow-up/violations "$ADA" | jq -c '[.items[] | {subject_id, state}]'

#: What a definition would have scored, before anyone signs it (stores and sends nothing):
api 200 POST /slas/simulate "$ADA" -H "$JSON" \
    -d '{"sla": "conversion", "from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}' \
    | jq -c '.items[] | {period_start, value, status}'

#: `accord evaluate --at` shows what the scheduler saw at a past instant, storing nothing:
accord evaluate --at "$(date -u +%Y-%m-%dT%H:%M:%SZ)"

#: The breach is open; both teams were sent `breach.opened` (mail, and sales's webhook).
step "the breach"
BREACH=$(api 200 GET "/breaches?status=open&sla=rejections" "$MO" | jq -r '.items[0].id')
[[ $BREACH != null ]] || { echo "tour: no open breach of rejections" >&2; exit 1; }
api 200 GET "/breaches/$BREACH" "$ADA" | jq -c '{sla, period_start, value, target, status}'

#: Marketing's head acknowledges it, then disputes it (a reason both teams are sent); a head of
#: either party resolves it.
api 200 POST "/breaches/$BREACH/acknowledge" "$MO" -H "$JSON" \
    -d '{"note": "Looking at the week-46 rejections with sales"}' | jq -c '{status, acknowledged_by, note}'
api 200 POST "/breaches/$BREACH/dispute" "$MO" -H "$JSON" \
    -d '{"reason": "Three of the five were rejected for territory, which the definition does not cover"}' \
    | jq -c '{status}'
api 200 POST "/breaches/$BREACH/resolve" "$ADA" -H "$JSON" \
    -d '{"note": "Agreed: territory rejections go back to marketing as re-routes"}' | jq -c '{status}'

#: ## A failed message, retried
#:
#: Every message goes through the outbox. Sales's webhook had nothing listening: after
#: `ACCORD_MAX_ATTEMPTS` attempts (2 here) the post is `failed`.
step "a failed notification"
failed_post() {
    api 200 GET "/notifications?status=failed&limit=1000" "$ADMIN" |
        jq -r '[.items[] | select(.channel == "webhook")][0].id'
}
FAILED=null
for _ in $(seq 1 60); do
    FAILED=$(failed_post)
    [[ $FAILED != null ]] && break
    sleep 1
done
[[ $FAILED != null ]] || { echo "tour: the webhook post never failed" >&2; exit 1; }
api 200 GET "/notifications?status=failed" "$ADMIN" | jq -c '[.items[] | {kind, recipient, attempts, last_error}][0]'

#: The relay comes up (here a few lines of Python answering 200), and the message is put back in
#: line; the dispatcher delivers it within a second or two.
python3 -c '
import http.server, sys
class Relay(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"] or 0))
        self.send_response(200); self.end_headers()
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Relay).serve_forever()
' "$HOOK_PORT" &
RELAY=$!
trap 'kill $RELAY 2>/dev/null || true' EXIT
api 200 POST "/notifications/$FAILED/retry" "$ADMIN" | jq -c '{status, attempts}'
for _ in $(seq 1 30); do
    STATUS=$(api 200 GET "/notifications?limit=1000" "$ADMIN" | jq -r --arg id "$FAILED" '.items[] | select(.id == $id) | .status')
    [[ $STATUS == sent ]] && break
    sleep 1
done
[[ $STATUS == sent ]] || { echo "tour: the retried message is $STATUS, not sent" >&2; exit 1; }
echo "retried message: $STATUS"

#: ## Status, reports and operations
step "status and reports"
api 200 GET "/status?team=sales" "$BOT" | jq -c '.items[] | {sla, status, value, target}'
api 200 GET "/status?format=text" "$BOT"
api 200 GET "/reports/compliance?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z" "$ADMIN" \
    | jq -c '.items[] | {sla, met, breached, compliance_rate}'
api 200 GET "/reports/compliance?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z" "$ADMIN" -H 'accept: text/csv'

#: Retiring ends the version in force at once; a revoked service token is refused from its next
#: request on.
step "retire and revoke"
api 200 POST /slas/mql-volume/retire "$MO" | jq -c '{key, status}'
CRM_ID=$(api 200 GET /service-tokens "$MO" | jq -r '.items[] | select(.name == "crm-sync") | .id')
api 204 DELETE "/service-tokens/$CRM_ID" "$MO"
api 401 GET /status "$CRM" >/dev/null

#: Probes, metrics and this API's OpenAPI document need no token:
step "operations"
ROOT=${BASE%/api/v1}
curl -sSf "$ROOT/healthz" && echo
curl -sSf "$ROOT/readyz" && echo
curl -sSf "$ROOT/metrics" | grep -c '^accord_' | sed 's/^/metric lines: /'
curl -sSf "$BASE/openapi.json" | jq -c '{openapi, servers, paths: (.paths | length)}'
echo
echo "tour: all steps answered as expected"
