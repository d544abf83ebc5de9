#!/usr/bin/env python3
"""A seeded, synthetic activity log of a marketing-to-sales lead funnel, for accord's benchmarks
and load test (scripts/bench_ingest.py, scripts/bench_eval.py, scripts/load.sh).

    python3 scripts/gen_events.py --leads 260000 --days 365 --seed 42 --end 2026-11-01 --out events.ndjson
    python3 scripts/gen_events.py --leads 1000 --format csv | head

Every line is one event as `POST /api/v1/events` and `accord import` read it, in NDJSON (the
default) or CSV with the same columns: `external_id` (unique: `mkt-` or `crm-` and 16 hex digits,
by the system that logged it), `kind` (lead.created, .qualified, .handed_off, .contacted,
.converted, .rejected), `subject_id` (the lead, `L0001234`), `team` (marketing or sales),
`occurred_at` (UTC, to the second) and `attributes` (`source`, `region` and one key that depends
on the kind: campaign, score, owner, channel, amount or reason).

Each lead is created, maybe nurtured by marketing, then qualified or dropped; most qualified
leads are handed off to sales (a few twice, to a new owner); sales contacts most hand-offs after a
log-normal delay (a slow tail, and a load factor per ISO week so that weekly results differ),
follows up, and converts or rejects some. The rates and delays are the constants below. With the
defaults about 59 % of leads qualify and about 90 % of hand-offs are contacted within 24 hours
(87-94 % a week). Creation times follow weekdays, seasons, growth and each region's working
hours over [end - days, end); steps that would fall at or after --end are left out, as in a
snapshot of a live system. Output is sorted by time.

The same arguments always give the same bytes (one random.Random seeded with --seed), so
benchmark runs compare like with like; NDJSON and CSV of the same arguments hold the same events.
It holds every event in memory (about 0.3 KB each) and writes about a million events in 10-15 s
on one core. Python 3.9 or later, standard library only.
"""

import argparse
import bisect
import csv
import datetime as dt
import json
import math
import random
import sys

# --------------------------------------------------------------------------
# Distribution profile.  Probabilities are per lead unless noted.
# --------------------------------------------------------------------------
HOUR = 3600
DAY = 86400

# (source, share of leads, probability the lead becomes an MQL)
SOURCES = [
    ("webinar", 0.22, 0.70),
    ("paid_search", 0.25, 0.50),
    ("organic", 0.20, 0.55),
    ("referral", 0.08, 0.80),
    ("event", 0.10, 0.65),
    ("content", 0.15, 0.55),
]
# (region, share of leads, UTC hour at which the region's working day peaks)
REGIONS = [
    ("NA", 0.45, 17),
    ("EMEA", 0.35, 11),
    ("APAC", 0.15, 4),
    ("LATAM", 0.05, 16),
]
REPS_PER_REGION = 12           # sales owners: rep-NA-01 ... rep-LATAM-12

P_NURTURE = 0.30               # lead gets 1-3 marketing touches before MQL
P_MKT_REJECT = 0.50            # of non-qualified leads: explicitly rejected
P_HANDOFF = 0.70               # of qualified leads
P_REASSIGN = 0.08              # of handed-off leads: a second hand-off
P_NEVER_CONTACTED = 0.05       # per hand-off
P_SLOW_CONTACT = 0.10          # per contacted hand-off: slow-tail latency
P_CONVERT = 0.28               # of contacted leads
P_SALES_REJECT = 0.40          # of contacted, non-converted leads
FOLLOWUP_CONTINUE = 0.60       # geometric: P(another follow-up contact)

# Log-normal delays as (median in seconds, sigma of the underlying normal).
DELAY_NURTURE = (2 * DAY, 1.0)
DELAY_QUALIFY = (18 * HOUR, 1.2)
DELAY_MKT_REJECT = (2 * DAY, 1.0)
DELAY_HANDOFF = (1.5 * HOUR, 1.0)
DELAY_REASSIGN = (3 * DAY, 0.8)
DELAY_CONTACT_FAST = (2.5 * HOUR, 0.9)
DELAY_CONTACT_SLOW = (20 * HOUR, 0.8)
DELAY_FOLLOWUP = (2 * DAY, 0.9)
DELAY_CONVERT = (14 * DAY, 0.8)
DELAY_SALES_REJECT = (10 * DAY, 0.9)
WEEKLY_LOAD_SIGMA = 0.30       # per-ISO-week multiplier on contact latency
MIN_GAP = 60                   # every step is at least 60 s after the last

WEEKDAY_WEIGHT = [1.0, 1.05, 1.05, 1.0, 0.9, 0.35, 0.30]   # Mon..Sun
MONTH_WEIGHT = {1: 1.05, 7: 0.9, 8: 0.8, 12: 0.75}           # others 1.0
GROWTH = (0.8, 1.2)            # linear volume trend, start -> end of window

NURTURE_CHANNELS = ["email", "email", "email", "retargeting"]
SALES_CHANNELS = ["phone", "phone", "email", "linkedin", "meeting"]
MKT_REJECT_REASONS = ["spam", "student", "competitor", "duplicate", "no_fit"]
SALES_REJECT_REASONS = ["no_budget", "no_response", "lost_to_competitor",
                        "bad_timing", "bad_fit"]

KINDS = ["lead.created", "lead.qualified", "lead.handed_off",
         "lead.contacted", "lead.converted", "lead.rejected"]
(CREATED, QUALIFIED, HANDED_OFF, CONTACTED, CONVERTED, REJECTED) = range(6)
TEAMS = ["marketing", "sales"]
MKT, SALES = 0, 1
ID_PREFIX = ["mkt-", "crm-"]   # external_id namespace per source system
FIELDS = ["external_id", "kind", "subject_id", "team", "occurred_at",
          "attributes"]


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Generate a deterministic synthetic lead-funnel activity "
                    "log (NDJSON or CSV) for SLA-tracker benchmarks.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--leads", type=int, default=1000,
                   help="number of leads to simulate (default 1000; "
                        "~4 events per lead)")
    p.add_argument("--days", type=int, default=365,
                   help="length of the window in which leads are created "
                        "(default 365)")
    p.add_argument("--seed", type=int, default=42,
                   help="random seed (default 42)")
    p.add_argument("--end", default="2026-11-01",
                   help="end of the window, YYYY-MM-DD, exclusive, 00:00Z; "
                        "no event is at or after it (default 2026-11-01)")
    p.add_argument("--format", choices=["ndjson", "csv"], default="ndjson",
                   help="output format (default ndjson); CSV has a header "
                        "row and the attributes column holds JSON text")
    p.add_argument("--out", default="-",
                   help="output file (default '-' = stdout)")
    p.add_argument("--quiet", action="store_true",
                   help="do not print the summary to stderr")
    a = p.parse_args(argv)
    if a.leads < 0 or a.days < 1:
        p.error("--leads must be >= 0 and --days >= 1")
    try:
        a.end_date = dt.date.fromisoformat(a.end)
    except ValueError:
        p.error("--end must be YYYY-MM-DD")
    return a


class Funnel:
    """Simulates leads and collects their events as compact tuples
    (epoch_seconds, seq, kind, lead_no, team, attributes_json)."""

    def __init__(self, rng, start, end):
        self.rng = rng
        self.start, self.end = start, end      # epoch seconds, [start, end)
        self.events = []
        self.seq = 0                           # tie-breaker for the sort
        ndays = (end - start) // DAY
        first = dt.date(1970, 1, 1) + dt.timedelta(days=start // DAY)
        # Cumulative weight per day of the window (weekday x season x growth).
        w, acc = [], 0.0
        self.day_month = []                    # window day -> "YYYY-MM"
        for i in range(ndays):
            d = first + dt.timedelta(days=i)
            self.day_month.append(d.strftime("%Y-%m"))
            g = GROWTH[0] + (GROWTH[1] - GROWTH[0]) * (i / max(ndays - 1, 1))
            acc += WEEKDAY_WEIGHT[d.weekday()] * MONTH_WEIGHT.get(d.month, 1.0) * g
            w.append(acc)
        self.day_cum = w
        # Per region: cumulative weight of each UTC hour (bell around the
        # region's peak, +-4 h, with a small floor for off-hours sign-ups).
        self.hour_cum = []
        for _, _, peak in REGIONS:
            acc, cum = 0.0, []
            for h in range(24):
                dist = min((h - peak) % 24, (peak - h) % 24)
                acc += 0.05 + math.exp(-(dist / 3.0) ** 2)
                cum.append(acc)
            self.hour_cum.append(cum)
        self.src_cum = _cum(s[1] for s in SOURCES)
        self.reg_cum = _cum(r[1] for r in REGIONS)
        # Per-ISO-week load multiplier for contact latency (weeks by Monday).
        self.week_load = {}
        wk0 = (start // DAY + 3) // 7          # 1970-01-01 was a Thursday
        wk1 = ((end - 1) // DAY + 3) // 7
        for wk in range(wk0, wk1 + 1):
            self.week_load[wk] = math.exp(rng.gauss(0.0, WEEKLY_LOAD_SIGMA))

    # ---- random helpers ---------------------------------------------------
    def delay(self, spec, scale=1.0):
        median, sigma = spec
        return max(MIN_GAP, int(median * scale * math.exp(self.rng.gauss(0.0, sigma))))

    def pick(self, cum):
        return bisect.bisect_right(cum, self.rng.random() * cum[-1])

    def emit(self, t, kind, lead, team, attrs):
        """Record one event unless it falls outside the snapshot window."""
        if t >= self.end:
            return False
        self.seq += 1
        self.events.append((t, self.seq, kind, lead, team,
                            json.dumps(attrs, separators=(",", ":"))))
        return True

    # ---- one lead ----------------------------------------------------------
    def lead(self, n):
        rng, R = self.rng, self.rng.random
        src_i = self.pick(self.src_cum)
        reg_i = self.pick(self.reg_cum)
        source, _, p_mql = SOURCES[src_i]
        region = REGIONS[reg_i][0]
        base = {"source": source, "region": region}

        day = self.pick(self.day_cum)
        hour = self.pick(self.hour_cum[reg_i])
        t = self.start + day * DAY + hour * HOUR + int(R() * HOUR)
        campaign = "%s-%s" % (source, self.day_month[day])
        self.emit(t, CREATED, n, MKT, dict(base, campaign=campaign))

        if R() < P_NURTURE:                      # marketing nurture touches
            tn = t
            for _ in range(1 + int(R() * 3)):
                tn += self.delay(DELAY_NURTURE)
                self.emit(tn, CONTACTED, n, MKT,
                          dict(base, channel=NURTURE_CHANNELS[int(R() * 4)]))
            t = tn                               # touches precede the MQL

        if R() >= p_mql:                         # not an MQL
            if R() < P_MKT_REJECT:
                self.emit(t + self.delay(DELAY_MKT_REJECT), REJECTED, n, MKT,
                          dict(base, reason=MKT_REJECT_REASONS[int(R() * 5)]))
            return
        t += self.delay(DELAY_QUALIFY)
        if not self.emit(t, QUALIFIED, n, MKT, dict(base, score=40 + int(R() * 60))):
            return
        if R() >= P_HANDOFF:
            return

        # Hand-off(s) and the sales contacts that answer them.
        owner = "rep-%s-%02d" % (region, 1 + int(R() * REPS_PER_REGION))
        t += self.delay(DELAY_HANDOFF)
        handoffs = [t]
        if R() < P_REASSIGN:
            handoffs.append(t + self.delay(DELAY_REASSIGN))
        first_contact = None
        for i, th in enumerate(handoffs):
            if i:                                # re-assignment: new owner
                owner = "rep-%s-%02d" % (region, 1 + int(R() * REPS_PER_REGION))
            if not self.emit(th, HANDED_OFF, n, MKT, dict(base, owner=owner)):
                break
            if R() < P_NEVER_CONTACTED:
                continue
            load = self.week_load[(th // DAY + 3) // 7]
            spec = DELAY_CONTACT_SLOW if R() < P_SLOW_CONTACT else DELAY_CONTACT_FAST
            tc = th + self.delay(spec, load)
            self.emit(tc, CONTACTED, n, SALES,
                      dict(base, channel=SALES_CHANNELS[int(R() * 5)], owner=owner))
            first_contact = tc if first_contact is None else min(first_contact, tc)
        if first_contact is None:
            return

        # Outcome (converted / rejected / still open), then follow-up
        # contacts (geometric count) that stop at the outcome.
        outcome = None
        if R() < P_CONVERT:
            amount = int(1000 * math.exp(rng.gauss(2.3, 0.8)))   # ~10k median
            outcome = (first_contact + self.delay(DELAY_CONVERT), CONVERTED,
                       dict(base, amount=amount))
        elif R() < P_SALES_REJECT:
            outcome = (first_contact + self.delay(DELAY_SALES_REJECT), REJECTED,
                       dict(base, reason=SALES_REJECT_REASONS[int(R() * 5)]))
        tf = first_contact
        while R() < FOLLOWUP_CONTINUE:
            tf += self.delay(DELAY_FOLLOWUP)
            if outcome and tf >= outcome[0]:
                break
            self.emit(tf, CONTACTED, n, SALES,
                      dict(base, channel=SALES_CHANNELS[int(R() * 5)], owner=owner))
        if outcome:
            self.emit(outcome[0], outcome[1], n, SALES, outcome[2])


def _cum(weights):
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def _rfc3339(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write(events, rng, fmt, fh):
    """Sort by time and write; external ids are drawn in output order."""
    events.sort()
    day_str = {}                                 # epoch day -> "YYYY-MM-DD"
    seen = set()
    if fmt == "csv":
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(FIELDS)
    for t, _, kind, lead, team, attrs in events:
        d, s = divmod(t, DAY)
        ds = day_str.get(d)
        if ds is None:
            ds = day_str[d] = (dt.date(1970, 1, 1) + dt.timedelta(days=d)).isoformat()
        ts = "%sT%02d:%02d:%02dZ" % (ds, s // 3600, s // 60 % 60, s % 60)
        while True:                              # unique, deterministic ids
            xid = "%s%016x" % (ID_PREFIX[team], rng.getrandbits(64))
            if xid not in seen:
                seen.add(xid)
                break
        if fmt == "csv":
            w.writerow((xid, KINDS[kind], "L%07d" % lead, TEAMS[team], ts, attrs))
        else:
            # All values except attributes are plain ASCII identifiers, so
            # the line can be assembled without general JSON escaping.
            fh.write('{"external_id":"%s","kind":"%s","subject_id":"L%07d",'
                     '"team":"%s","occurred_at":"%s","attributes":%s}\n'
                     % (xid, KINDS[kind], lead, TEAMS[team], ts, attrs))


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    end = int(dt.datetime(a.end_date.year, a.end_date.month, a.end_date.day,
                          tzinfo=dt.timezone.utc).timestamp())
    start = end - a.days * DAY
    rng = random.Random(a.seed)
    f = Funnel(rng, start, end)
    for n in range(1, a.leads + 1):
        f.lead(n)
    fh = sys.stdout if a.out == "-" else open(a.out, "w", encoding="ascii", newline="")
    try:
        write(f.events, rng, a.format, fh)
    finally:
        if fh is not sys.stdout:
            fh.close()
    if not a.quiet:
        counts = [0] * len(KINDS)
        for e in f.events:
            counts[e[2]] += 1
        print("leads=%d events=%d window=[%s, %s) seed=%d" % (
            a.leads, len(f.events),
            _rfc3339(start), _rfc3339(end),
            a.seed), file=sys.stderr)
        print("  " + "  ".join("%s=%d" % (k, c) for k, c in zip(KINDS, counts)),
              file=sys.stderr)


if __name__ == "__main__":
    main()
