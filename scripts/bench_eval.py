#!/usr/bin/env python3
"""Evaluation benchmark: a full cycle of accord against the hand-written SQL yielding the same numbers.

    python3 scripts/bench_eval.py [--leads 260000] [--skip-postgres]

On SQLite and on PostgreSQL: loads >= 1,000,000 events (gen_events.py, seeded) with
`accord import`, signs 20 SLAs of all three kinds (monthly and weekly windows in three time zones,
with and without filters) effective from 2025-11-01, then times

  full cycle      `accord evaluate`: every period of a year, nothing evaluated before
  current cycle   `accord evaluate` again: only periods that are not final yet (current ones)
  raw SQL         the same periods' numbers from hand-written SQL (one aggregate statement per
                  SLA and period, boundaries computed here), SQLite through Python's sqlite3,
                  PostgreSQL through one psql run

and checks that accord's values equal the raw ones. Runs on loopback and stops by itself.
"""

import argparse
import datetime as dt
import http.client
import json
import os
import re
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_ingest as ingest  # noqa: E402

START = "2025-11-01"


def sla(key, metric, period, tz, op=">=", target=1):
    return {"key": key, "name": key, "provider": "marketing", "consumer": "sales", "metric": metric,
            "objective": {"op": op, "target": target},
            "window": {"kind": "calendar", "period": period, "timezone": tz}, "effective_from": START}


def count(event, filt=None):
    return {"kind": "count", "event": event, **({"filter": filt} if filt else {})}


def sel(event, filt=None):
    return {"event": event, **({"filter": filt} if filt else {})}


def ratio(num, den):
    return {"kind": "ratio", "numerator": num, "denominator": den}


def rt(threshold, start=None):
    return {"kind": "response_time", "start": start or sel("lead.handed_off"), "stop": sel("lead.contacted"),
            "threshold": threshold}


B, N, U = "Europe/Berlin", "America/New_York", "UTC"
SLAS = [
    sla("c-qualified-month", count("lead.qualified"), "month", B, target=10000),
    sla("c-qualified-week", count("lead.qualified"), "week", B, target=2000),
    sla("c-created-month", count("lead.created"), "month", N, target=20000),
    sla("c-created-week", count("lead.created"), "week", U, target=4000),
    sla("c-webinar-month", count("lead.qualified", {"attributes": {"source": ["webinar", "referral"]}}), "month", B, target=3000),
    sla("c-emea-week", count("lead.created", {"attributes": {"region": "EMEA"}}), "week", B, target=1500),
    sla("c-handoff-month", count("lead.handed_off"), "month", U, target=7000),
    sla("c-rejected-week", count("lead.rejected", {"team": "marketing"}), "week", N, op="<=", target=900),
    sla("r-conversion-month", ratio(sel("lead.converted"), sel("lead.qualified")), "month", B, target=0.15),
    sla("r-conversion-week", ratio(sel("lead.converted"), sel("lead.qualified")), "week", B, target=0.15),
    sla("r-mql-rate-month", ratio(sel("lead.qualified"), sel("lead.created")), "month", N, target=0.5),
    sla("r-mql-rate-week", ratio(sel("lead.qualified"), sel("lead.created")), "week", U, target=0.5),
    sla("r-handoff-month", ratio(sel("lead.handed_off"), sel("lead.qualified")), "month", U, target=0.6),
    sla("r-contact-week", ratio(sel("lead.contacted", {"team": "sales"}), sel("lead.handed_off")), "week", B, target=1),
    sla("t-24h-month", rt("24h"), "month", B, target=95),
    sla("t-24h-week", rt("24h"), "week", B, target=95),
    sla("t-4h-week", rt("4h"), "week", N, target=60),
    sla("t-48h-month", rt("48h"), "month", U, target=97),
    sla("t-emea-week", rt("24h", sel("lead.handed_off", {"attributes": {"region": "EMEA"}})), "week", B, target=95),
    sla("t-8h-month", rt("8h"), "month", N, target=80),
]
for s in SLAS[8:]:
    if s["metric"]["kind"] == "ratio":
        s["objective"]["target"] = min(s["objective"]["target"], 1)


def periods(period, tz, until):
    zone = ZoneInfo(tz)
    day = dt.date.fromisoformat(START)
    if period == "week":
        day -= dt.timedelta(days=day.weekday())
    while True:
        if period == "week":
            nxt = day + dt.timedelta(days=7)
        else:
            nxt = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        start = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.timezone.utc)
        if start >= until:
            return
        end = dt.datetime.combine(nxt, dt.time(), zone).astimezone(dt.timezone.utc)
        yield start, end
        day = nxt


def ts(t):
    return t.strftime("%Y-%m-%d %H:%M:%S")


def conditions(alias, selector, pg, args):
    """WHERE conditions and binds for a selector; the raw SQL mirrors the definition by hand."""
    sql = [f"{alias}.kind = %s"]
    args.append(selector["event"])
    filt = selector.get("filter") or {}
    if "team" in filt:
        sql.append(f"{alias}.team_id = %s")
        args.append(ingest.TEAMS[filt["team"]])
    for key, values in (filt.get("attributes") or {}).items():
        values = values if isinstance(values, list) else [values]
        expr = f"({alias}.attributes::jsonb ->> '{key}')" if pg else f"json_extract({alias}.attributes, '$.{key}')"
        sql.append(f"{expr} IN ({', '.join(['%s'] * len(values))})")
        args.extend(values)
    return sql


def raw_statements(now, pg):
    """(sla key, period start, sql, args) for every period accord evaluates."""
    out = []
    for s in SLAS:
        m, w = s["metric"], s["window"]
        for start, end in periods(w["period"], w["timezone"], now):
            args = []
            if m["kind"] == "count":
                c = conditions("e", {"event": m["event"], "filter": m.get("filter")}, pg, args)
                sql = f"SELECT count(*) FROM events e WHERE {' AND '.join(c)} AND e.occurred_at >= %s AND e.occurred_at < %s"
                args += [ts(start), ts(end)]
            elif m["kind"] == "ratio":
                a1, a2 = [], []
                c1 = conditions("e", m["numerator"], pg, a1)
                c2 = conditions("e", m["denominator"], pg, a2)
                sql = (f"SELECT (SELECT count(*) FROM events e WHERE {' AND '.join(c1)} AND e.occurred_at >= %s AND e.occurred_at < %s), "
                       f"(SELECT count(*) FROM events e WHERE {' AND '.join(c2)} AND e.occurred_at >= %s AND e.occurred_at < %s)")
                args = a1 + [ts(start), ts(end)] + a2 + [ts(start), ts(end)]
            else:
                secs = {"24h": 86400, "4h": 14400, "48h": 172800, "8h": 28800}[m["threshold"]]
                c = conditions("s", m["start"], pg, args)
                diff = "EXTRACT(EPOCH FROM (stop - start))" if pg else "(julianday(stop) - julianday(start)) * 86400"
                due = f"start + interval '{secs} seconds' <= %s" if pg else f"julianday(start) + {secs} / 86400.0 <= julianday(%s)"
                sql = (f"SELECT sum(CASE WHEN stop IS NOT NULL AND {diff} <= {secs} + 0.0001 THEN 1 ELSE 0 END), "
                       f"sum(CASE WHEN stop IS NOT NULL OR {due} THEN 1 ELSE 0 END) FROM ("
                       f"SELECT s.occurred_at AS start, (SELECT min(t.occurred_at) FROM events t WHERE t.subject_id = s.subject_id "
                       f"AND t.kind = %s AND t.occurred_at >= s.occurred_at AND t.occurred_at < %s) AS stop "
                       f"FROM events s WHERE {' AND '.join(c)} AND s.occurred_at >= %s AND s.occurred_at < %s) x")
                args = [ts(now)] + ["lead.contacted", ts(now)] + args + [ts(start), ts(end)]
            out.append((s["key"], start, m["kind"], sql, args))
    return out


def value(kind, row):
    if kind == "count":
        return float(row[0])
    a, b = (row[0] or 0), (row[1] or 0)
    if kind == "ratio":
        return None if b == 0 else a / b
    return None if b == 0 else 100.0 * a / b


def raw_sqlite(url, now):
    import sqlite3
    db = sqlite3.connect(url[len("sqlite://"):])
    for pragma in ("cache_size = -65536",):
        db.execute(f"PRAGMA {pragma}")
    statements = raw_statements(now, pg=False)
    started = time.perf_counter()
    values = {(k, s): value(kind, db.execute(sql.replace("%s", "?"), args).fetchone()) for k, s, kind, sql, args in statements}
    return time.perf_counter() - started, values


def raw_postgres(url, now):
    statements = raw_statements(now, pg=True)

    def literal(a):
        return "'" + str(a).replace("'", "''") + "'"

    script = ["SET jit = off;"]
    for _, _, _, sql, args in statements:
        parts = sql.split("%s")
        script.append("".join(p + (literal(args[i]) if i < len(args) else "") for i, p in enumerate(parts)) + ";")
    path = os.path.join(ingest.WORK, "raw_eval.sql")
    with open(path, "w") as f:
        f.write("\n".join(script))
    started = time.perf_counter()
    out = ingest.run(["psql", url, "-Atqf", path]).stdout.strip().splitlines()
    elapsed = time.perf_counter() - started
    values = {}
    for (k, s, kind, _, _), line in zip(statements, out):
        values[(k, s)] = value(kind, [None if c == "" else float(c) for c in line.split("|")])
    return elapsed, values


def api(port, method, path, token=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]}")
    return json.loads(data) if data else None


def sign_slas(url, data_dir):
    port = ingest.free_port()
    env = ingest.accord_env(url, data_dir)
    env.update({"ACCORD_BIND": f"127.0.0.1:{port}", "ACCORD_SCHEDULER": "off"})
    server = subprocess.Popen([ingest.ACCORD, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                api(port, "GET", "/readyz")
                break
            except (OSError, SystemExit):
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        admin = api(port, "POST", "/api/v1/auth/token", body={"email": "admin@accord.local", "password": ingest.PASSWORD})["access_token"]
        heads = {}
        for team in ("marketing", "sales"):
            email = f"head@{team}.example.com"
            api(port, "POST", "/api/v1/users", admin, {"email": email, "name": team, "team": team, "role": "head", "password": "head-password-123"})
            heads[team] = api(port, "POST", "/api/v1/auth/token", body={"email": email, "password": "head-password-123"})["access_token"]
        for s in SLAS:
            api(port, "POST", "/api/v1/slas", heads["marketing"], s)
            api(port, "POST", f"/api/v1/slas/{s['key']}/approve", heads["sales"], {})
    finally:
        server.terminate()
        server.wait(timeout=30)


def server_idle_cycle(url, data_dir, cycles=10):
    """Mean seconds of `cycles` scheduled evaluation cycles of a running `accord serve`, after the
    SLAs were evaluated once: the idle cycle as production runs it, read from its
    accord_evaluation_cycle_duration_seconds histogram (its first two cycles left out, while its
    connections and prepared statements warm up)."""
    port = ingest.free_port()
    env = ingest.accord_env(url, data_dir)
    env.update({"ACCORD_BIND": f"127.0.0.1:{port}", "ACCORD_EVAL_INTERVAL": "1s"})
    server = subprocess.Popen([ingest.ACCORD, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def histogram():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        found = dict(re.findall(r"^accord_evaluation_cycle_duration_seconds_(sum|count) ([\d.e+-]+)$", text, re.M))
        return float(found.get("sum", 0)), float(found.get("count", 0))

    try:
        deadline = time.time() + 60 + 2 * cycles
        start = None
        while True:
            if time.time() > deadline:
                raise SystemExit("accord serve did not run its evaluation cycles")
            time.sleep(0.25)
            try:
                total, count = histogram()
            except OSError:
                continue
            if start is None and count >= 2:
                start = (total, count)
            elif start is not None and count >= start[1] + cycles:
                return (total - start[0]) / (count - start[1])
    finally:
        server.terminate()
        server.wait(timeout=30)


CYCLE = re.compile(r"evaluation\(s\) written in ([\d.]+) ms")


def timed_evaluate(url, data_dir):
    """(seconds of the whole `accord evaluate` process, its values, seconds of the cycle itself).

    The cycle's own time is what the server's scheduler spends each interval (the
    accord_evaluation_cycle_duration_seconds histogram); the process adds its start, opening the
    database and checking migrations."""
    started = time.perf_counter()
    result = ingest.run([ingest.ACCORD, "evaluate"], env=ingest.accord_env(url, data_dir))
    elapsed = time.perf_counter() - started
    cycle = CYCLE.search(result.stderr)
    if not cycle:
        raise SystemExit(f"accord evaluate did not report its cycle:\n{result.stderr}")
    out = result.stdout
    values = {}
    for line in out.splitlines():
        key, _, start, _, _, rest = line.split("\t")[:6]
        number = rest.split(" ")[0]
        values[(key, dt.datetime.fromisoformat(start))] = None if rest.startswith("no data") else float(number)
    return elapsed, values, float(cycle.group(1)) / 1000


def measure(backend, ndjson, server_idle=False):
    """Loads `ndjson` into a fresh `backend` database, signs the SLAs and measures: the full cycle
    and a second (idle) `accord evaluate`, each as (seconds of the process, values, seconds of the
    cycle); the raw SQL's seconds, after checking its values equal accord's; and with
    `server_idle`, the server's idle cycle ([server_idle_cycle]). The database is dropped after."""
    url, data_dir, cleanup = ingest.fresh_database(backend)
    try:
        ingest.log(f"{backend}: loading events…")
        ingest.run([ingest.ACCORD, "import", ndjson], env=ingest.accord_env(url, data_dir))
        if backend == "postgres":
            ingest.run(["psql", url, "-qc", "ANALYZE"])
        sign_slas(url, data_dir)
        ingest.log(f"{backend}: full cycle…")
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        full = timed_evaluate(url, data_dir)
        idle = timed_evaluate(url, data_dir)
        server = None
        if server_idle:
            ingest.log(f"{backend}: the server's idle cycles…")
            server = server_idle_cycle(url, data_dir)
        ingest.log(f"{backend}: raw SQL…")
        raw, raw_values = (raw_sqlite if backend == "sqlite" else raw_postgres)(url, now)
        accord_values = full[1]
        for key, want in raw_values.items():
            got = accord_values.get(key, "missing")
            if got == "missing" or (got is None) != (want is None) or (got is not None and abs(got - want) > 1e-6 * max(1, abs(want))):
                raise SystemExit(f"{backend}: {key}: accord {got} ≠ raw {want}")
        return {"full": full, "idle": idle, "server_idle": server, "raw": raw, "checked": len(raw_values)}
    finally:
        cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=260_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    os.makedirs(ingest.WORK, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ingest.ROOT, check=True)
    ndjson = os.path.join(ingest.WORK, f"events-{args.leads}.ndjson")
    if not os.path.exists(ndjson):
        ingest.run([sys.executable, ingest.GEN, "--leads", str(args.leads), "--days", "365", "--seed", "42",
                    "--end", "2026-11-01", "--format", "ndjson", "--out", ndjson])
    rows = []
    for backend in ["sqlite"] + ([] if args.skip_postgres else ["postgres"]):
        m = measure(backend, ndjson)
        (full, full_values, _), (current, current_values, _) = m["full"], m["idle"]
        rows.append((backend, len(full_values), full, len(current_values), current, m["raw"], m["checked"]))
    print("\n| backend | full cycle (periods) | seconds | raw SQL, same periods | accord ÷ raw | current-period cycle (periods) | seconds |")
    print("|---|---|---|---|---|---|---|")
    for backend, n, full, m, current, raw, checked in rows:
        print(f"| {backend} | {n} | {full:.2f} | {raw:.2f} ({checked} values equal) | {full / raw:.2f}× | {m} | {current:.2f} |")


if __name__ == "__main__":
    main()
