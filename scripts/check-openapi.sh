#!/usr/bin/env bash
# Validates the OpenAPI document a fresh instance serves at /api/v1/openapi.json with
# openapi-spec-validator (PyPI; it reads OpenAPI 3.1), installed into target/venv when missing.
#
#     scripts/check-openapi.sh     # uses target/debug/accord (built when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bin=${ACCORD_BIN:-$root/target/debug/accord}
[[ -x $bin ]] || cargo build --quiet --bin accord

validator=$(command -v openapi-spec-validator || true)
if [[ -z $validator ]]; then
    venv=$root/target/venv
    if [[ ! -x $venv/bin/openapi-spec-validator ]]; then
        echo "check-openapi: installing openapi-spec-validator into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check 'openapi-spec-validator>=0.9,<1'
    fi
    validator=$venv/bin/openapi-spec-validator
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ACCORD_DATA_DIR=$work/data ACCORD_DATABASE_URL=sqlite://$work/data/accord.db \
    ACCORD_BIND=127.0.0.1:$port ACCORD_PUBLIC_URL=https://accord.example.com \
    ACCORD_PASSWORD=check-openapi-password ACCORD_SCHEDULER=off ACCORD_LOG=warn \
    "$bin" serve >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.5
done
curl -sSf "http://127.0.0.1:$port/api/v1/openapi.json" -o "$work/openapi.json"
"$validator" --schema 3.1 --subschema-errors all "$work/openapi.json"
python3 - "$work/openapi.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["servers"] == [{"url": "https://accord.example.com", "description": "This accord instance"}], doc["servers"]
assert "/api/v1/openapi.json" in doc["paths"], "the document lists itself"
responses = [r for item in doc["paths"].values() for op in item.values() if isinstance(op, dict)
             for r in op.get("responses", {}).values()]
assert all(r.get("description") for r in responses), "a response without a description"
print(f"check-openapi: {len(doc['paths'])} paths, {len(responses)} responses, all described; servers {doc['servers'][0]['url']}")
PY
