#!/usr/bin/env python3
"""Every speed goal of accord in one run, side by side, as ratios against this machine's limits.

    python3 scripts/bench.py [--seconds 10] [--leads 260000] [--accord target/release/accord]

Builds accord in release mode (unless --accord names a built binary), then runs, one after the
other on loopback (each part stops by itself):

  scripts/load.sh   wrk, 32 connections: GET /healthz (the framework's ceiling) and
                    GET /api/v1/status on SQLite, then on PostgreSQL, each on a seeded instance
  bench_ingest.py   >= 1,000,000 events: the raw load (SQLite: one transaction of prepared
                    inserts; PostgreSQL: COPY; into the same table and indexes), `accord import`,
                    and HTTP uploads (NDJSON, 50,000 per request, two clients), on each backend
  bench_eval.py     a full `accord evaluate` of 20 SLAs over a year against the hand-written SQL
                    that yields the same numbers, and the cycle of current periods after it

and prints one table: each row's measurement, what it is compared with, the ratio and the goal.
Details of each part stay in target/load/ and target/bench/.
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_eval as evaluation  # noqa: E402
import bench_ingest as ingest  # noqa: E402

ROOT = ingest.ROOT


def load(backend, seconds, accord):
    """req/s and p99 (ms) of healthz and status, from scripts/load.sh's summary."""
    env = dict(os.environ, LOAD_ACCORD=accord, LOAD_RUNS="healthz status")
    result = subprocess.run([os.path.join(ROOT, "scripts", "load.sh"), str(seconds), backend],
                            env=env, capture_output=True, text=True)
    rows = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        if fields and fields[0] in ("healthz", "status") and len(fields) > 3:
            rows[fields[0]] = (float(fields[1].replace(",", "")), float(fields[3]))
    if "status" not in rows:
        raise SystemExit(f"load.sh {backend} failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    return rows


def prepare_events(leads):
    ndjson = os.path.join(ingest.WORK, f"events-{leads}.ndjson")
    if not os.path.exists(ndjson):
        ingest.log(f"generating events for {leads} leads…")
        ingest.run([sys.executable, ingest.GEN, "--leads", str(leads), "--days", "365", "--seed", "42",
                    "--end", "2026-11-01", "--format", "ndjson", "--out", ndjson])
    with open(ndjson) as f:
        total = sum(1 for _ in f)
    rows = list(ingest.schema_rows(ndjson))
    csv_path = os.path.join(ingest.WORK, f"events-{leads}.schema.csv")
    if not os.path.exists(csv_path):
        import csv
        with open(csv_path, "w", newline="") as f:
            csv.writer(f).writerows(rows)
    return ndjson, total, rows, csv_path


def ingestion(backend, ndjson, total, rows, csv_path):
    ingest.log(f"{backend}: raw load…")
    raw = ingest.raw_sqlite(rows) if backend == "sqlite" else ingest.raw_postgres(csv_path)
    ingest.log(f"{backend}: accord import…")
    imported = ingest.accord_import(backend, ndjson, total)
    _, import_secs, import_peak, _, _ = imported[0]
    ingest.log(f"{backend}: accord over HTTP…")
    try:
        http_secs, _ = ingest.accord_http(backend, ndjson, total, 50_000)
    except SystemExit as failure:  # reported in the table, the other rows still run
        ingest.log(f"{backend}: HTTP upload failed: {failure}")
        return total / raw, total / import_secs, import_peak, None
    return total / raw, total / import_secs, import_peak, total / http_secs


def evaluate(backend, ndjson):
    m = evaluation.measure(backend, ndjson, server_idle=True)
    (full, _, _), (idle_process, _, idle_cli) = m["full"], m["idle"]
    return full, m["raw"], m["server_idle"], idle_cli, idle_process


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="wrk seconds per load run")
    parser.add_argument("--leads", type=int, default=260_000)
    parser.add_argument("--accord", help="a built accord binary to measure instead of building one")
    parser.add_argument("--only", default="load,ingest,eval", help="parts to run (comma-separated)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    os.makedirs(ingest.WORK, exist_ok=True)
    if args.accord:
        ingest.ACCORD = os.path.abspath(args.accord)
    else:
        ingest.log("building accord (release)…")
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "accord"], cwd=ROOT, check=True)
    accord = ingest.ACCORD

    table = []  # (row, measured, compared with, ratio, goal, met)

    def row(name, measured, against, ratio, goal, met):
        table.append((name, measured, against, ratio, goal, "yes" if met else "NO"))

    if "load" in parts:
        healthz = []
        for backend in ("sqlite", "postgres"):
            ingest.log(f"{backend}: load…")
            rows = load(backend, args.seconds, accord)
            h_rps, _ = rows.get("healthz", (0.0, 0.0))
            rps, p99 = rows["status"]
            healthz.append(h_rps)
            share = rps / h_rps if h_rps else 0.0
            floor, part = (15_000, 0.20) if backend == "sqlite" else (10_000, 0.14)
            row(f"GET /status, {backend}", f"{rps:,.0f} req/s, p99 {p99:.1f} ms", f"/healthz {h_rps:,.0f} req/s",
                f"{share:.2f}×", f"≥ {floor:,} req/s, p99 < 10 ms, ≥ {part:.2f}×",
                rps >= floor and p99 < 10 and share >= part)
        table.insert(0, ("GET /healthz", " / ".join(f"{h:,.0f}" for h in healthz) + " req/s (SQLite / PostgreSQL run)",
                         "–", "–", "the framework's ceiling", "–"))

    if "ingest" in parts or "eval" in parts:
        ndjson, total, rows_, csv_path = prepare_events(args.leads)
    if "ingest" in parts:
        for backend in ("sqlite", "postgres"):
            raw, imported, peak, http = ingestion(backend, ndjson, total, rows_, csv_path)
            reference = "prepared inserts, 1 tx" if backend == "sqlite" else "COPY"
            row(f"accord import, {backend}", f"{imported:,.0f} events/s", f"raw ({reference}) {raw:,.0f} events/s",
                f"{imported / raw:.2f}×", "≥ 0.75×", imported / raw >= 0.75)
            row(f"import peak RSS, {backend}", f"{peak:.0f} MiB", f"{total:,} events", "–", "≤ 100 MB", peak <= 100)
            if http is None:
                row(f"HTTP batches, {backend}", "failed (a 5xx; see above)", f"import {imported:,.0f} events/s",
                    "–", "≥ 1.00×", False)
            else:
                row(f"HTTP batches, {backend}", f"{http:,.0f} events/s", f"import {imported:,.0f} events/s",
                    f"{http / imported:.2f}×", "≥ 1.00×", http >= imported)
    if "eval" in parts:
        for backend in ("sqlite", "postgres"):
            full, raw, idle, idle_cli, idle_process = evaluate(backend, ndjson)
            row(f"full evaluation cycle, {backend}", f"{full:.2f} s", f"hand-written SQL {raw:.2f} s",
                f"{full / raw:.2f}×", "≤ 1.00×", full <= raw)
            row(f"idle cycle, {backend}", f"{idle * 1000:.0f} ms (the server's scheduler, mean of 10)",
                f"`accord evaluate` again: its cycle {idle_cli * 1000:.0f} ms, the whole process "
                f"{idle_process * 1000:.0f} ms", "–", "< 50 ms", idle < 0.05)

    load_avg = open("/proc/loadavg").read().split()[:3]
    load_runs = f", wrk {args.seconds} s per run, 32 connections" if "load" in parts else ""
    print(f"\naccord speed, {os.cpu_count()} cores, load {' '.join(load_avg)}{load_runs}\n")
    print("| row | accord | compared with | ratio | goal | met |")
    print("|---|---|---|---|---|---|")
    for name, measured, against, ratio, goal, met in table:
        print(f"| {name} | {measured} | {against} | {ratio} | {goal} | {met} |")


if __name__ == "__main__":
    main()
