#!/usr/bin/env python3
"""Ingestion benchmark: accord against the raw database doing the same load.

    python3 scripts/bench_ingest.py [--leads 260000] [--skip-postgres]

Builds accord in release mode, generates >= 1,000,000 events with
scripts/gen_events.py (seeded; cached under target/bench/), then on SQLite and on
PostgreSQL measures, each into a fresh database with accord's schema (migrations applied,
indexes in place):

  raw        SQLite: one transaction of prepared inserts (Python's sqlite3 executemany), with
             WAL, foreign keys and a 64 MiB page cache (accord's connections use 48 MiB; the
             larger cache made this baseline faster, so the comparison is the stricter one);
             PostgreSQL: COPY (psql \\copy) of the same rows
  import     accord import FILE (batches of 5,000, one transaction each)
  re-import  the same file again: every event is a duplicate, nothing is added
  http       accord serve, NDJSON batches (--http-batch, default 50,000 events) over HTTP, two clients

and prints events/s and accord's peak memory. Everything runs on loopback and stops by itself.
"""

import argparse
import csv
import http.client
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(ROOT, "scripts", "gen_events.py")
WORK = os.path.join(ROOT, "target", "bench")
ACCORD = os.path.join(ROOT, "target", "release", "accord")
PG_ADMIN = os.environ.get("ACCORD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bench-admin-password"
TEAMS = {"marketing": "00000000-0000-7000-8000-000000000001", "sales": "00000000-0000-7000-8000-000000000002"}


def log(message):
    print(message, file=sys.stderr, flush=True)


def run(args, env=None, stdin=None):
    result = subprocess.run(args, env=env, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({result.returncode}):\n{result.stderr}")
    return result


def accord_env(url, data_dir):
    env = dict(os.environ)
    env.update({"ACCORD_DATABASE_URL": url, "ACCORD_DATA_DIR": data_dir, "ACCORD_LOG": "warn",
                "ACCORD_PASSWORD": PASSWORD, "ACCORD_EVENTS_MAX_BATCH": "100000"})
    return env


def fresh_database(backend):
    """A fresh database with accord's schema and the two teams; returns (url, data_dir, cleanup)."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    data_dir = os.path.join(WORK, name)
    os.makedirs(data_dir)
    if backend == "sqlite":
        url = f"sqlite://{data_dir}/accord.db"
        cleanup = lambda: shutil.rmtree(data_dir, ignore_errors=True)
    else:
        run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {name}"])
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name

        def cleanup():
            run(["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
            shutil.rmtree(data_dir, ignore_errors=True)
    run([ACCORD, "migrate"], env=accord_env(url, data_dir))
    values = ",".join(f"('{tid}', '{slug}', '{slug}', '{slug}@example.com', NULL, "
                      f"'2026-01-01 00:00:00', '2026-01-01 00:00:00')" for slug, tid in TEAMS.items())
    sql = f"INSERT INTO teams (id, slug, name, email, webhook_url, created_at, updated_at) VALUES {values}"
    if backend == "sqlite":
        with sqlite3.connect(url[len("sqlite://"):]) as db:
            db.execute(sql)
    else:
        run(["psql", url, "-qc", sql])
    return url, data_dir, cleanup


def count_events(backend, url):
    if backend == "sqlite":
        with sqlite3.connect(url[len("sqlite://"):]) as db:
            return db.execute("SELECT count(*) FROM events").fetchone()[0]
    return int(run(["psql", url, "-Atc", "SELECT count(*) FROM events"]).stdout.strip())


def schema_rows(ndjson):
    """The events as rows of accord's table, for the raw loads."""
    received = "2026-11-27 00:00:00"
    with open(ndjson) as f:
        for line in f:
            e = json.loads(line)
            at = e["occurred_at"].replace("T", " ").replace("Z", "")
            yield (e["external_id"], e["kind"], e["subject_id"], TEAMS[e["team"]], at, received,
                   json.dumps(e["attributes"], separators=(",", ":")))


def raw_sqlite(rows):
    url, _, cleanup = fresh_database("sqlite")
    try:
        db = sqlite3.connect(url[len("sqlite://"):], isolation_level=None)
        # accord's connection settings (src/store/mod.rs, SQLITE_PRAGMAS), but for a larger page
        # cache, with which this load measured faster (the checkpoint interval does not matter
        # in one transaction: the commit checkpoints, inside the timing).
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON", "cache_size = -65536"):
            db.execute(f"PRAGMA {pragma}")
        started = time.perf_counter()
        db.execute("BEGIN")
        db.executemany("INSERT INTO events (external_id, kind, subject_id, team_id, occurred_at, received_at, attributes) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("COMMIT")
        elapsed = time.perf_counter() - started
        db.close()
        return elapsed
    finally:
        cleanup()


def raw_postgres(csv_path):
    url, _, cleanup = fresh_database("postgres")
    try:
        started = time.perf_counter()
        run(["psql", url, "-qc", "\\copy events (external_id, kind, subject_id, team_id, occurred_at, received_at, attributes) "
                                 f"FROM '{csv_path}' WITH (FORMAT csv)"])
        return time.perf_counter() - started
    finally:
        cleanup()


SUMMARY = re.compile(r"(\d+) read, (\d+) new, (\d+) duplicates.* in ([\d.]+) s.*peak memory (\d+) MiB")


def accord_import(backend, ndjson, total):
    url, data_dir, cleanup = fresh_database(backend)
    env = accord_env(url, data_dir)
    try:
        results = []
        for label in ("import", "re-import"):
            started = time.perf_counter()
            out = run([ACCORD, "import", ndjson], env=env).stderr
            elapsed = time.perf_counter() - started
            m = SUMMARY.search(out)
            if not m:
                raise SystemExit(f"unexpected import output: {out}")
            read, new, dup, _, peak = (int(float(x)) for x in m.groups())
            results.append((label, elapsed, int(m.group(5)), new, dup))
        stored = count_events(backend, url)
        assert stored == total, f"{stored} stored, {total} expected"
        return results
    finally:
        cleanup()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def accord_http(backend, ndjson, total, batch, clients=2):
    url, data_dir, cleanup = fresh_database(backend)
    port = free_port()
    env = accord_env(url, data_dir)
    env["ACCORD_BIND"] = f"127.0.0.1:{port}"
    server = subprocess.Popen([ACCORD, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("accord serve did not become ready")
            time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("POST", "/api/v1/auth/token", json.dumps({"email": "admin@accord.local", "password": PASSWORD}),
                     {"content-type": "application/json"})
        token = json.loads(conn.getresponse().read())["access_token"]
        with open(ndjson, "rb") as f:
            lines = f.readlines()
        bodies = [b"".join(lines[i:i + batch]) for i in range(0, len(lines), batch)]
        accepted = [0]
        failures = []
        lock = threading.Lock()

        def client(mine):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            for body in mine:
                c.request("POST", "/api/v1/events", body,
                          {"content-type": "application/x-ndjson", "authorization": f"Bearer {token}"})
                response = c.getresponse()
                answer = response.read()
                if response.status != 200:
                    failures.append(f"HTTP {response.status}: {answer[:300]}")
                    return
                with lock:
                    accepted[0] += json.loads(answer)["accepted"]

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(bodies[i::clients],)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        if failures:
            raise SystemExit(failures[0])
        assert accepted[0] == total, f"{accepted[0]} accepted, {total} expected"
        return elapsed, peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=260_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--http-batch", type=int, default=50_000, help="events per HTTP request")
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    log("building accord (release)…")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)

    ndjson = os.path.join(WORK, f"events-{args.leads}.ndjson")
    if not os.path.exists(ndjson):
        log(f"generating events for {args.leads} leads…")
        run([sys.executable, GEN, "--leads", str(args.leads), "--days", "365", "--seed", "42",
             "--end", "2026-11-01", "--format", "ndjson", "--out", ndjson])
    with open(ndjson) as f:
        total = sum(1 for _ in f)
    log(f"{total} events")
    rows = list(schema_rows(ndjson))
    csv_path = os.path.join(WORK, f"events-{args.leads}.schema.csv")
    if not os.path.exists(csv_path):
        with open(csv_path, "w", newline="") as f:
            csv.writer(f).writerows(rows)

    results = []
    backends = ["sqlite"] + ([] if args.skip_postgres else ["postgres"])
    for backend in backends:
        log(f"{backend}: raw load…")
        raw = raw_sqlite(rows) if backend == "sqlite" else raw_postgres(csv_path)
        results.append((backend, "raw (" + ("prepared inserts, 1 tx" if backend == "sqlite" else "COPY") + ")", raw, None))
        log(f"{backend}: accord import…")
        for label, elapsed, peak, new, dup in accord_import(backend, ndjson, total):
            results.append((backend, f"accord {label}" + (f" ({dup} duplicates, {new} new)" if label == "re-import" else ""), elapsed, peak))
        log(f"{backend}: accord over HTTP…")
        elapsed, peak = accord_http(backend, ndjson, total, args.http_batch)
        results.append((backend, f"accord HTTP (NDJSON, {args.http_batch:,} per request, 2 clients)", elapsed, peak))

    print(f"\n{total} events, {os.cpu_count()} cores\n")
    print("| backend | load | seconds | events/s | vs raw | peak memory |")
    print("|---|---|---|---|---|---|")
    raw_rate = {}
    for backend, label, elapsed, peak in results:
        rate = total / elapsed
        if label.startswith("raw"):
            raw_rate[backend] = rate
        ratio = raw_rate[backend] / rate
        memory = f"{peak:.0f} MiB" if peak else "–"
        print(f"| {backend} | {label} | {elapsed:.1f} | {rate:,.0f} | {ratio:.2f}× | {memory} |")


if __name__ == "__main__":
    main()
