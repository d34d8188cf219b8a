#!/usr/bin/env python3
"""Event-time windows end to end: tumbling, sliding and session windows with allowed
lateness, at parallelism 1 and 4, and tumbling again with a state budget so small that
most window state lives in RocksDB. Each run is an unbounded `weir local` fed in
phases through `weir dev-kafka`; its whole output (upserted per key), its late-data
topic and its counters must equal what the reference model in this file computes.

Why phases: which records are late depends on the watermark when they are processed,
and arrival order across partitions is not deterministic. So the input comes in
phases, and after each one the test waits (on the output topics, with a timeout that
fails) until everything the model says must come out has come out. An output for a
window ending at E proves that the operator subtask owning that key has a watermark
W >= E; and W can never exceed min over partitions of (max event time produced there)
- max_out_of_orderness. The model gives every record that interval [lo, hi] for W and
refuses (Ambiguous) test data whose outcome would depend on where in it W is, so the
expected output is exact. The last phase pushes W past every window the test wants
fired; then SIGINT stops the job (open windows are not flushed) and everything is
compared.

The model (Model below) is plain Python over the list of records and the phase
structure; it knows nothing of weir's output. selfcheck_model() checks it on small
hand-computed cases before anything runs."""
import atexit
import json
import random
from collections import Counter

from harness import (DevKafka, Fail, LocalJob, check, consume, main, produce, wait_messages,
                     write_job)

SEC = 1000
MIN = 60 * SEC
T0 = 1_700_000_040_000  # a multiple of one minute (and of 10 s)
NEG = -(1 << 62)        # "no watermark yet"
POS = 1 << 62

# --------------------------------------------------------------------------------------
# Reference model
# --------------------------------------------------------------------------------------


class Ambiguous(Exception):
    """The test data would make the outcome depend on timing (or on a case the product
    semantics do not pin down): a bug in the test, not in weir."""


def rec(user, ts, amount=1.0):
    return {"user": user, "ts": ts, "amount": float(amount)}


def result(user, start, end, recs):
    return {"user": user, "window_start": start, "window_end": end, "clicks": len(recs),
            "total": float(sum(r["amount"] for r in recs))}


class Model:
    """The job's expected behaviour for input given as phases.

    phases: a list of {partition: [record, ...]} (records in produce order). The test
    produces a phase, then waits until the model's expected output for it is there.

    run() returns one snapshot per phase (what must be in the topics once that phase's
    output is complete): out {(user, window_start): (messages, final value or None for
    a tombstone)}, late [records], late_w [(lo, hi) of the watermark when each late record
    was processed], stats {...}, classes Counter of the phase's records
    ('open', 'within', 'late'), watermark (the watermark once the phase is processed).
    """

    def __init__(self, kind, *, lateness, bound, nparts, parallelism, size=0, slide=0, gap=0):
        assert kind in ("tumbling", "sliding", "session")
        self.kind, self.L, self.B = kind, lateness, bound
        self.nparts, self.parallelism = nparts, parallelism
        self.size, self.slide, self.gap = size, slide, gap
        if kind == "sliding":
            assert slide <= size and size % slide == 0

    # ---- windows of one record (tumbling, sliding) ----
    def windows_of(self, ts):
        if self.kind == "tumbling":
            s = ts - ts % self.size
            return [(s, s + self.size)]
        first_end = (ts // self.slide + 1) * self.slide  # ends are multiples of the slide
        return [(e - self.size, e) for e in range(first_end, ts + self.size + 1, self.slide)
                if e - self.size <= ts < e]

    def classify(self, end, lo, hi, what):
        """A window ending at end, for a record processed while lo <= W <= hi."""
        if end > hi:
            return "open"          # W < end: not fired yet
        if end + self.L <= lo:
            return "expired"       # W >= end + L: state gone, too late
        if end <= lo and end + self.L > hi:
            return "within"        # fired, still inside allowed lateness
        raise Ambiguous(f"{what}: window end {end} with W in [{lo}, {hi}] (L={self.L})")

    def run(self, phases):
        # The highest event time each partition will ever get: a record not yet proven
        # processed may be processed after any later phase was produced.
        all_max = {p: NEG for p in range(self.nparts)}
        for ph in phases:
            for p, rs in ph.items():
                for r in rs:
                    all_max[p] = max(all_max[p], r["ts"])
        self.late, self.late_w, self.out = [], [], {}
        self.fired = self.late_updates = self.retractions = 0
        self.proven = {}            # user (or '*' at parallelism 1) -> proven lower bound of W
        self.wins = {}              # tumbling/sliding: (user, start, end) -> window
        self.sessions = {}          # user -> [session]
        self.purged = {}            # user -> [(start, end)] of sessions whose state is gone
        self.key_part = {}
        self.pending_proof = {}     # user -> highest window end output in this phase
        part_max = {p: NEG for p in range(self.nparts)}
        snaps = []
        for ph in phases:
            classes = Counter()
            for p in sorted(ph):
                assert 0 <= p < self.nparts
                others = min([all_max[q] for q in range(self.nparts) if q != p] or [POS])
                for r in ph[p]:
                    own = part_max[p]
                    hi = NEG if min(own, others) == NEG else min(own, others) - self.B
                    lo = self.proven.get("*" if self.parallelism == 1 else r["user"], NEG)
                    assert lo <= hi, (r, lo, hi)  # proven by outputs that came before
                    classes[self.process(p, r, lo, hi)] += 1
                    part_max[p] = max(own, r["ts"])
            wm = NEG if NEG in part_max.values() else min(part_max.values()) - self.B
            self.end_of_phase(wm)
            snaps.append({"out": self.snapshot_out(), "late": list(self.late),
                          "late_w": list(self.late_w), "watermark": wm,
                          "classes": classes, "stats": self.stats(phases, snaps)})
        return snaps

    def stats(self, phases, snaps):
        n = sum(len(rs) for ph in phases[:len(snaps) + 1] for rs in ph.values())
        return {"records_in": n, "late_records": len(self.late), "windows_fired": self.fired,
                "late_updates": self.late_updates, "retractions": self.retractions}

    def process(self, p, r, lo, hi):
        if self.kind == "session":
            return self.process_session(p, r, lo, hi)
        u, ts = r["user"], r["ts"]
        cls = [(w, self.classify(w[1], lo, hi, f"record {r}")) for w in self.windows_of(ts)]
        if all(c == "expired" for _, c in cls):
            self.late.append(r)
            self.late_w.append((lo, hi))
            return "late"
        for (s, e), c in cls:
            w = self.wins.setdefault((u, s, e), {"open": [], "within": [], "fired": False})
            if c == "open":
                w["open"].append(r)
            elif c == "within":
                w["within"].append(r)   # re-emitted at once, with everything so far
                self.late_updates += 1
                self.note_emit(u, e)
        return "within" if any(c == "within" for _, c in cls) else "open"

    def note_emit(self, user, end):
        self.pending_proof[user] = max(self.pending_proof.get(user, NEG), end)

    # ---- sessions ----
    def process_session(self, p, r, lo, hi):
        u, t, gap, L = r["user"], r["ts"], self.gap, self.L
        if self.key_part.setdefault(u, p) != p:
            raise Ambiguous(f"session key {u} in partitions {self.key_part[u]} and {p}: "
                            "its records' order would not be deterministic")
        live = self.sessions.setdefault(u, [])
        for s in list(live):  # state that is certainly gone by now
            if s["end"] + L <= lo:
                assert s["fired"], s
                live.remove(s)
                self.purged.setdefault(u, []).append((s["start"], s["end"]))

        def touches(a, b):  # [t, t+gap) and [a, b) overlap or touch
            return a <= t + gap and t <= b
        touched = [s for s in live if touches(s["start"], s["end"])]
        for s in touched:
            if lo < s["end"] <= hi:
                raise Ambiguous(f"record {r}: session [{s['start']},{s['end']}) may or may "
                                f"not have fired (W in [{lo}, {hi}])")
            if lo < s["end"] + L <= hi:
                raise Ambiguous(f"record {r}: session [{s['start']},{s['end']}) may or may "
                                "not be purged")
            assert s["fired"] == (s["end"] <= lo), s
        for a, b in self.purged.get(u, []):
            if touches(a, b):
                raise Ambiguous(f"record {r} touches the purged session [{a},{b}) of {u}")
        start = min([t] + [s["start"] for s in touched])
        end = max([t + gap] + [s["end"] for s in touched])
        c = self.classify(end, lo, hi, f"record {r} (session [{start},{end}))")
        if touched and c != "expired" and t + gap + L <= hi:
            raise Ambiguous(f"record {r}: late by itself but merges into a live session; "
                            "the semantics do not say which wins")
        if c == "expired":
            assert not touched
            self.late.append(r)
            self.late_w.append((lo, hi))
            return "late"
        old = [s for s in touched if s["visible"] and s["start"] != start]
        if old and c == "open":
            raise Ambiguous(f"record {r}: an emitted session would move to an earlier "
                            "start inside a session that has not fired")
        for s in old:
            self.emit(u, s["start"], None)
            self.retractions += 1
        recs = [x for s in touched for x in s["recs"]] + [r]
        m = {"start": start, "end": end, "recs": recs, "fired": False,
             "visible": any(s["visible"] and s["start"] == start for s in touched)}
        for s in touched:
            live.remove(s)
        live.append(m)
        if c == "within":  # merged into fired state (or late by itself, inside lateness)
            self.emit(u, start, result(u, start, end, recs))
            m["fired"] = m["visible"] = True
            self.late_updates += 1
        return "within" if c == "within" else "open"

    def emit(self, user, start, value):
        n, _ = self.out.get((user, start), (0, None))
        self.out[(user, start)] = (n + 1, value)
        if value is not None:
            self.note_emit(user, value["window_end"])

    # ---- the watermark reaches wm once a phase is processed ----
    def end_of_phase(self, wm):
        if self.kind == "session":
            for u, live in self.sessions.items():
                for s in live:
                    if s["end"] <= wm and not s["fired"]:
                        self.emit(u, s["start"], result(u, s["start"], s["end"], s["recs"]))
                        s["fired"] = s["visible"] = True
                        self.fired += 1
        else:
            for (u, s, e), w in self.wins.items():
                if e <= wm and w["open"] and not w["fired"]:
                    w["fired"] = True
                    self.fired += 1
                    self.note_emit(u, e)
        # The test checks this phase's output before the next phase: from then on, each
        # output proves a lower bound of the watermark of the subtask owning its key
        # (at parallelism 1, of the only subtask).
        for u, e in self.pending_proof.items():
            self.proven[u] = max(self.proven.get(u, NEG), e)
            self.proven["*"] = max(self.proven.get("*", NEG), e)
        self.pending_proof = {}

    def snapshot_out(self):
        if self.kind == "session":
            return dict(self.out)
        out = {}
        for (u, s, e), w in self.wins.items():
            n = int(w["fired"]) + len(w["within"])
            if n:
                out[(u, s)] = (n, result(u, s, e, w["open"] + w["within"]))
        return out


# --------------------------------------------------------------------------------------
# Model self-check: small cases computed by hand
# --------------------------------------------------------------------------------------


def selfcheck_model():
    S = SEC
    # Tumbling 1 m, L 30 s, bound 2 s, two partitions.
    m = Model("tumbling", size=MIN, lateness=30 * S, bound=2 * S, nparts=2, parallelism=2)
    snaps = m.run([
        {0: [rec("a", 10 * S), rec("a", 61 * S), rec("b", 59 * S, 5), rec("a", 62 * S)],
         1: [rec("b", 5 * S, 2), rec("b", 62 * S)]},
        # W = 60 s: a@30s updates [0,60) (fired, 60 + 30 > 60); b@-10s is too late for
        # [-60s,0) (0 + 30 <= 60)
        {0: [rec("a", 30 * S, 4)], 1: [rec("b", -10 * S)]},
        {0: [rec("z", 200 * S)], 1: [rec("z", 200 * S)]},   # W = 198 s
    ])
    assert snaps[0]["watermark"] == 60 * S
    assert snaps[0]["out"] == {("a", 0): (1, result("a", 0, MIN, [rec("a", 10 * S)])),
                               ("b", 0): (1, {"user": "b", "window_start": 0, "window_end": MIN,
                                              "clicks": 2, "total": 7.0})}, snaps[0]["out"]
    assert snaps[0]["classes"] == Counter(open=6)  # b@59s is 2 s out of order: on time
    assert snaps[1]["out"][("a", 0)] == (2, {"user": "a", "window_start": 0, "window_end": MIN,
                                             "clicks": 2, "total": 5.0})
    assert snaps[1]["late"] == [rec("b", -10 * S)]
    assert snaps[1]["classes"] == Counter(within=1, late=1)
    f = snaps[2]
    assert f["out"][("a", MIN)][0] == 1 and f["out"][("a", MIN)][1]["clicks"] == 2
    assert f["out"][("b", MIN)] == (1, result("b", MIN, 2 * MIN, [rec("b", 62 * S)]))
    assert ("z", 3 * MIN) not in f["out"] and len(f["out"]) == 4
    assert f["stats"] == {"records_in": 10, "late_records": 1, "windows_fired": 4,
                          "late_updates": 1, "retractions": 0}, f["stats"]
    # Rejected as ambiguous: a record 30 s out of order (more than the bound) whose window
    # may or may not have fired when it arrives; and, at parallelism 2, a record for a
    # fired window of a key with no output yet (nothing proves its subtask's watermark).
    for ph2 in ({0: [rec("a", 130 * S), rec("a", 100 * S)], 1: [rec("b", 130 * S)]},
                {1: [rec("c", 30 * S)]}):
        try:
            Model("tumbling", size=MIN, lateness=30 * S, bound=2 * S, nparts=2,
                  parallelism=2).run([{0: [rec("a", 10 * S), rec("a", 62 * S)],
                                       1: [rec("b", 62 * S)]}, ph2])
            raise AssertionError(f"not ambiguous: {ph2}")
        except Ambiguous:
            pass
    # ... while at parallelism 1 any output proves the watermark: c@30s is within
    # lateness, and [0,60) of c was empty when it fired, so it is emitted once.
    s = Model("tumbling", size=MIN, lateness=30 * S, bound=2 * S, nparts=2, parallelism=1).run(
        [{0: [rec("a", 10 * S), rec("a", 62 * S)], 1: [rec("b", 62 * S)]}, {1: [rec("c", 30 * S)]}])
    assert s[1]["out"][("c", 0)] == (1, result("c", 0, MIN, [rec("c", 30 * S)]))

    # Sliding 30 s every 10 s, L 15 s; W = 60 s when the late phase comes.
    m = Model("sliding", size=30 * S, slide=10 * S, lateness=15 * S, bound=2 * S, nparts=1,
              parallelism=1)
    assert m.windows_of(45 * S) == [(20 * S, 50 * S), (30 * S, 60 * S), (40 * S, 70 * S)]
    assert m.windows_of(0) == [(-20 * S, 10 * S), (-10 * S, 20 * S), (0, 30 * S)]
    assert [e for _, e in m.windows_of(-1)] == [0, 10 * S, 20 * S]
    snaps = m.run([
        {0: [rec("a", 25 * S, 1), rec("a", 45 * S, 2), rec("a", 55 * S, 4), rec("a", 62 * S, 8)]},
        # 45 s: windows ending 50, 60 re-emitted, 70 open; 35 s: 40 expired, 50 and 60
        # re-emitted; 15 s: ends 20, 30, 40 all expired -> late
        {0: [rec("a", 45 * S, 16), rec("a", 35 * S, 32), rec("a", 15 * S, 64)]},
        {0: [rec("a", 100 * S, 128)]},  # W = 98 s
    ])
    o = snaps[0]["out"]  # fired: ends 30 .. 60
    assert {k[1] // S: v[1]["total"] for k, v in o.items()} == \
        {0: 1.0, 10: 1.0, 20: 3.0, 30: 6.0}, o
    assert snaps[1]["late"] == [rec("a", 15 * S, 64)]
    o = snaps[1]["out"]
    assert o[("a", 20 * S)] == (3, result("a", 20 * S, 50 * S, [
        rec("a", 25 * S, 1), rec("a", 45 * S, 2), rec("a", 45 * S, 16), rec("a", 35 * S, 32)]))
    assert o[("a", 30 * S)][0] == 3 and o[("a", 30 * S)][1]["total"] == 2 + 4 + 16 + 32
    assert o[("a", 10 * S)] == (1, result("a", 10 * S, 40 * S, [rec("a", 25 * S, 1)]))
    assert ("a", 40 * S) not in o
    f = snaps[2]
    assert f["out"][("a", 40 * S)] == (1, result("a", 40 * S, 70 * S, [
        rec("a", 45 * S, 2), rec("a", 55 * S, 4), rec("a", 62 * S, 8), rec("a", 45 * S, 16)]))
    assert f["out"][("a", 60 * S)][1]["total"] == 8.0  # [60, 90)
    assert ("a", 70 * S) not in f["out"]               # ends at 100 > 98
    assert f["stats"] == {"records_in": 8, "late_records": 1, "windows_fired": 4 + 3,
                          "late_updates": 4, "retractions": 0}, f["stats"]

    # Sessions, gap 10 s, L 20 s; W = 60 s in the late phase (every key has a session
    # ending exactly at 60 s, so every key's watermark is proven to be 60 s).
    snaps = Model("session", gap=10 * S, lateness=20 * S, bound=2 * S, nparts=2,
                  parallelism=2).run(session_hand_phases(2))
    check_hand_sessions(snaps)
    assert snaps[1]["classes"] == Counter(within=4, late=2, open=1)  # E's 55 s is not late
    st = snaps[2]["stats"]
    assert st == {"records_in": 19 + 7 + 2, "late_records": 2, "late_updates": 4,
                  "retractions": 2, "windows_fired": 14}, st  # + G, E's [50,72), m0, m1
    assert snaps[0]["stats"]["windows_fired"] == 10  # A x2, B, C, D x2, E, F x2, H
    assert len(snaps[2]["out"]) == 15 and sum(n for n, _ in snaps[2]["out"].values()) == 20


def session_hand_phases(nparts, push=10 * MIN, base=0, part_of=None):
    """The hand-made session cases (seconds after base), in phases. part_of maps user ->
    partition (default: A, B, C, F in 0, the rest in 1); phase 1 is in event-time order
    per partition except G's two records (2 s out of order); every partition gets a
    marker record at 62 s (so the watermark is then 60 s) and a push record at
    base + push."""
    S = SEC
    part_of = part_of or {"A": 0, "B": 0, "C": 0, "F": 0, "D": 1, "E": 1, "G": 1, "H": 1}

    def r(u, s, amt=1.0):
        return rec(u, base + s * S, amt)
    ph1 = [r("A", 30), r("A", 36), r("A", 50),        # [30,46) [50,60)
           r("B", 48), r("B", 50),                    # [48,60)
           r("C", 45), r("C", 50),                    # [45,60)
           r("D", 25), r("D", 50),                    # [25,35) (purged at 55) [50,60)
           r("E", 50), r("E", 62),                    # [50,60) [62,72)
           r("F", 20), r("F", 30), r("F", 50),        # 30 - 20 = gap: one session [20,40); [50,60)
           r("G", 52), r("G", 50),                    # 2 s out of order: [50,62)
           r("H", 50)]                                # [50,60)
    ph2 = [r("A", 41, 10),  # [41,51) joins [30,46) and [50,60): [30,60) re-emitted,
           #                  [A,50] retracted
           r("B", 40, 10),  # [40,50) joins [48,60): [40,60) re-emitted, [B,48] retracted
           r("C", 47, 10),  # inside [45,60): re-emitted under the same key
           r("D", 12), r("D", 2),  # [12,22), [2,12): end + 20 <= 60: too late
           r("E", 55, 10),  # [55,65) bridges fired [50,60) and open [62,72): [50,72) fires later
           r("H", 35, 10)]  # [35,45): alone, 45 + 20 > 60: a new session emitted at once
    phases = [{}, {}, {}]
    for ph, rs in ((0, ph1), (1, ph2)):
        for x in rs:
            phases[ph].setdefault(part_of[x["user"]], []).append(x)
    for p, rs in phases[0].items():  # G's 52 s goes just before 50 s: 2 s out of order
        rs.sort(key=lambda x: x["ts"] - (2500 if (x["user"], x["ts"]) == ("G", base + 52 * S)
                                         else 0))
    for p in range(nparts):
        phases[0].setdefault(p, []).append(r(f"m{p}", 62))
        phases[2].setdefault(p, []).append(rec(f"zpush{p}", base + push))
    return phases


def check_hand_sessions(snaps, base=0):
    S = SEC

    def v(u, a, b, n, total):
        return {"user": u, "window_start": base + a * S, "window_end": base + b * S,
                "clicks": n, "total": float(total)}

    def k(u, a):
        return (u, base + a * S)
    o = snaps[0]["out"]
    assert snaps[0]["watermark"] == base + 60 * S
    for key, want in [(k("A", 30), (1, v("A", 30, 46, 2, 2))),
                      (k("A", 50), (1, v("A", 50, 60, 1, 1))),
                      (k("B", 48), (1, v("B", 48, 60, 2, 2))),
                      (k("D", 25), (1, v("D", 25, 35, 1, 1))),
                      (k("F", 20), (1, v("F", 20, 40, 2, 2))),
                      (k("E", 50), (1, v("E", 50, 60, 1, 1)))]:
        assert o[key] == want, (key, o.get(key), want)
    assert k("G", 50) not in o and k("E", 62) not in o
    o = snaps[1]["out"]
    assert o[k("A", 30)] == (2, v("A", 30, 60, 4, 13)) and o[k("A", 50)] == (2, None)
    assert o[k("B", 40)] == (1, v("B", 40, 60, 3, 12)) and o[k("B", 48)] == (2, None)
    assert o[k("C", 45)] == (2, v("C", 45, 60, 3, 12))
    assert o[k("E", 50)] == (1, v("E", 50, 60, 1, 1))  # bridged into a session not fired yet
    assert o[k("H", 35)] == (1, v("H", 35, 45, 1, 10))
    assert sorted(x["ts"] for x in snaps[1]["late"] if x["user"] == "D") == \
        [base + 2 * S, base + 12 * S]
    o = snaps[2]["out"]
    assert o[k("E", 50)] == (2, v("E", 50, 72, 3, 12))
    assert o[k("G", 50)] == (1, v("G", 50, 62, 2, 2))
    assert o[k("m0", 62)] == (1, v("m0", 62, 72, 1, 1))
    assert o[k("F", 20)] == (1, v("F", 20, 40, 2, 2))
    assert o[k("F", 50)] == (1, v("F", 50, 60, 1, 1))
    assert o[k("D", 50)] == (1, v("D", 50, 60, 1, 1)) and k("D", 12) not in o


# --------------------------------------------------------------------------------------
# Test data
# --------------------------------------------------------------------------------------


def reorder_within_bound(recs, rnd, bound, exact=2, keep=lambda r: False):
    """Sorts by event time, then swaps some adjacent pairs at most `bound` apart, and
    inserts `exact` extra records exactly `bound` behind the running maximum: input that
    is out of order, but never by more than the bound. Records for which keep(r) is true
    are never put behind a later one."""
    recs = sorted(recs, key=lambda r: r["ts"])
    i = 0
    while i + 1 < len(recs):
        if (recs[i + 1]["ts"] - recs[i]["ts"] <= bound and not keep(recs[i])
                and rnd.random() < 0.5):
            recs[i], recs[i + 1] = recs[i + 1], recs[i]
            i += 2
        else:
            i += 1
    for _ in range(exact):
        i = rnd.randrange(1, len(recs))
        top = max(r["ts"] for r in recs[:i])
        recs.insert(i, rec(recs[i - 1]["user"], top - bound, rnd.randrange(1, 20)))
    return recs


def max_lag(recs):
    top, lag = NEG, 0
    for r in recs:
        lag = max(lag, top - r["ts"])
        top = max(top, r["ts"])
    return lag


def amount(rnd):
    return rnd.randrange(1, 400) / 4  # exact in binary: sums do not depend on order


def windowed_phases(rnd, *, nparts, users, last_fired_end, start, step, width, late_specs,
                    push, bound, extra_ph1=(), extra_late=()):
    """Phase 1: records of every user from `start` to the window ending at
    last_fired_end (each user gets at least one record in [last_fired_end - step,
    last_fired_end), so every key proves the watermark), spread over partitions at
    random and out of order within the bound, plus a marker at last_fired_end + bound in
    every partition (so the watermark is exactly last_fired_end). Phase 2: late
    records: for each (lo_offset, hi_offset, n) in late_specs, n records at event times
    in [last_fired_end + lo_offset, last_fired_end + hi_offset), of random users, in
    random partitions. Phase 3: one record at `push` in every partition. extra_ph1 and
    extra_late are (partition, record) pairs added to phases 1 and 2."""
    wm = last_fired_end
    ph1 = {p: [] for p in range(nparts)}
    for u in users:
        for t in range(start, wm, step):
            for _ in range(rnd.randrange(0 if t < wm - step else 1, 4)):
                ph1[rnd.randrange(nparts)].append(rec(u, t + rnd.randrange(width), amount(rnd)))
        if rnd.random() < 0.5:  # some records of the window the marker opens
            ph1[rnd.randrange(nparts)].append(rec(u, wm + rnd.randrange(bound + 1), amount(rnd)))
    for p, r in extra_ph1:
        ph1[p].append(r)
    for p in range(nparts):
        ph1[p] = reorder_within_bound(ph1[p], rnd, bound)
        ph1[p].append(rec(rnd.choice(users), wm + bound, amount(rnd)))
    ph2 = {p: [] for p in range(nparts)}
    for lo_off, hi_off, n in late_specs:
        for _ in range(n):
            ph2[rnd.randrange(nparts)].append(
                rec(rnd.choice(users), wm + rnd.randrange(lo_off, hi_off), amount(rnd)))
    for p, r in extra_late:
        ph2[p].append(r)
    ph3 = {p: [rec("zz-push", push, 1.0)] for p in range(nparts)}
    return [ph1, {p: rs for p, rs in ph2.items() if rs}, ph3]


# --------------------------------------------------------------------------------------
# Running weir and comparing
# --------------------------------------------------------------------------------------

JOB = """name: {name}
parallelism: 1
{state}sources:
  - name: clicks
    kafka: {{brokers: "{b}", topic: {src}}}
    schema: {{user: string, ts: timestamp_ms, amount: double}}
    event_time: {{field: ts, max_out_of_orderness: 2s, idle_timeout: 0s}}
pipeline:
  - key_by: user
  - window: {window}
  - aggregate: {{clicks: "count()", total: "sum(amount)"}}
sinks:
  - kafka: {{brokers: "{b}", topic: {out}}}
late_data: {{kafka: {{topic: {late}}}}}
"""

# Every run and its source partitions. One dev-kafka serves the whole file (starting and
# stopping one takes about 2 s); each run has topics of its own: clicks-, out-, late-NAME.
RUNS = {"tumbling-p1": 4, "tumbling-p4": 8, "tumbling-tiny-state": 8, "sliding-p1": 4,
        "sliding-p4": 4, "session-p1": 4, "session-p4": 8}
_kafka = []


def kafka():
    if not _kafka:
        topics = {}
        for name, nparts in RUNS.items():
            topics.update({f"clicks-{name}": nparts, f"out-{name}": 3, f"late-{name}": 2})
        _kafka.append(DevKafka(topics))
        atexit.register(_kafka[0].stop)
    return _kafka[0]


def canon(d):
    """Comparable form of a record: numbers as floats (JSON does not tell 3 from 3.0)."""
    if d is None:
        return None
    return json.dumps({k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                       else v for k, v in d.items()}, sort_keys=True)


def upserted(msgs):
    """Output messages -> {(user, window_start): (messages, last value or None)}, checking
    each message's key: the compact JSON array [user, window_start] of its value."""
    got, bad = {}, []
    for m in msgs:  # kcat gives each partition in offset order; one key is in one partition
        key = m.get("key")
        try:
            user, start = json.loads(key)
        except (TypeError, ValueError):
            bad.append(f"message key {key!r} is not [user, window_start]")
            continue
        if key != json.dumps([user, start], separators=(",", ":")):
            bad.append(f"message key {key!r} is not compact JSON")
        val = None if m["payload"] is None else json.loads(m["payload"])
        if val is not None and (val.get("user") != user or val.get("window_start") != start):
            bad.append(f"message key {key} does not match its value {m['payload']}")
        n, _ = got.get((user, start), (0, None))
        got[(user, start)] = (n + 1, val)
    return got, bad


def diff_outputs(snap, got_msgs, late_msgs, job_name):
    """A list of differences from a model snapshot (empty: equal), each naming key,
    expected and got."""
    want, want_late = snap["out"], snap["late"]
    got, problems = upserted(got_msgs)
    for key in sorted(set(want) | set(got), key=str):
        w, g = want.get(key), got.get(key)
        if w is None:
            problems.append(f"unexpected key {list(key)}: {g[0]} message(s), last {g[1]}")
        elif g is None:
            problems.append(f"missing key {list(key)}: expected {w[0]} message(s), last {w[1]}")
        elif w[0] != g[0] or canon(w[1]) != canon(g[1]):
            problems.append(f"key {list(key)}: expected {w[0]} message(s), last {w[1]}; "
                            f"got {g[0]}, last {g[1]}")
    gl = Counter(canon(json.loads(m["payload"] or "null")) for m in late_msgs)
    wl = Counter(canon(r) for r in want_late)
    for r in sorted((wl - gl).elements()):
        problems.append(f"missing from the late topic: {r}")
    for r in sorted((gl - wl).elements()):
        problems.append(f"unexpected in the late topic: {r}")
    bounds = {}  # the watermark a late record may have been judged against
    for r, (lo, hi) in zip(want_late, snap["late_w"]):
        bounds.setdefault(canon(r), []).append((lo, hi))
    for m in late_msgs:
        h, r = m["headers"], json.loads(m["payload"] or "null") or {}
        wm = h.get("weir.late.watermark", "")
        if (h.get("weir.job") != job_name or h.get("weir.late.event_time") != str(r.get("ts"))
                or not wm.lstrip("-").isdigit()
                or not any(lo <= int(wm) <= hi for lo, hi in bounds.get(canon(r), []))):
            problems.append(f"late record {m['payload']} has headers {h}; expected weir.job "
                            f"{job_name}, its event time, and a watermark in "
                            f"{bounds.get(canon(r))}")
            break
    return problems


def count_messages(snap):
    return sum(n for n, _ in snap["out"].values())


def run_phases(name, window, phases, snaps, *, nparts, parallelism, state=""):
    """Runs the job over the phases, checking the topics against each snapshot; returns
    the final stats."""
    job_name = f"it-{name}"
    check(RUNS[name] == nparts, f"RUNS[{name}] is not {nparts}")
    b = kafka().bootstrap
    src, out, late_t = f"clicks-{name}", f"out-{name}", f"late-{name}"
    check(not consume(b, src), f"topic {src} is not empty: each run needs fresh topics")
    job = write_job(JOB.format(name=job_name, b=b, src=src, out=out, late=late_t,
                               window=window, state=state))
    with LocalJob(job, "--parallelism", str(parallelism)) as run:
        for i, (ph, snap) in enumerate(zip(phases, snaps)):
            for p in sorted(ph):
                produce(b, src, p, [json.dumps(r) for r in ph[p]])
            try:
                got = wait_messages(b, out, count_messages(snap), job=run)
                late = wait_messages(b, late_t, len(snap["late"]), job=run)
            except Fail as e:
                got, late = consume(b, out), consume(b, late_t)
                probs = diff_outputs(snap, got, late, job_name)
                raise Fail(f"phase {i + 1}: {e}; differences so far ({len(probs)}): "
                           + "; ".join(probs[:8])) from None
            probs = diff_outputs(snap, got, late, job_name)
            check(not probs, f"after phase {i + 1} (watermark {snap['watermark']}), "
                  f"{len(probs)} differences: " + "; ".join(probs[:8]))
        rc, stats, err = run.stop()
    check(rc == 0, f"exit {rc} after SIGINT: {err[-2000:]}")
    got, late = consume(b, out), consume(b, late_t)
    final = snaps[-1]
    probs = diff_outputs(final, got, late, job_name)
    check(not probs, f"after the stop, {len(probs)} differences: " + "; ".join(probs[:8]))
    check(stats is not None and stats.get("state") == "FINISHED", f"stats: {stats}")
    want = dict(final["stats"], dead_letters=0)
    wrong = {f: (v, stats.get(f)) for f, v in want.items() if stats.get(f) != v}
    check(not wrong, "stats differ (field: (expected, got)): " + repr(wrong))
    # every message written to the output counts, tombstones included
    check(stats.get("records_out") == count_messages(final) == len(got),
          f"records_out {stats.get('records_out')}, expected {count_messages(final)} "
          f"(the output topic holds {len(got)} messages)")
    check(stats.get("watermark") == final["watermark"],
          f"final watermark {stats.get('watermark')}, expected {final['watermark']}")
    return stats


def check_coverage(phases, snaps, bound, *, within=1, late=1):
    """The input really has what the test claims: out-of-order records up to exactly the
    bound, all on time; late records within lateness and too late."""
    lags = [max_lag(rs) for rs in phases[0].values()]
    check(max(lags) == bound, f"phase 1 out-of-orderness {max(lags)}, meant {bound}")
    c1, c2 = snaps[0]["classes"], snaps[1]["classes"]
    check(set(c1) == {"open"}, f"phase 1 has records the model calls late: {c1}")
    check(c2["within"] >= within and c2["late"] >= late, f"phase 2 classes {c2}")


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------

TUMBLING = "{tumbling: 1m, allowed_lateness: 30s}"


def tumbling_case(parallelism, nparts, seed, nusers):
    rnd = random.Random(seed)
    users = [f"u{i:04d}" for i in range(nusers)]
    # W = T0 + 3 m after phase 1: [T0+2m, T0+3m) is fired and within lateness
    # (3 m + 30 s > 3 m); windows ending at T0 + 2 m or before are past it.
    late_specs = [(-MIN, 0, max(8, nusers // 8)),           # within lateness: re-emitted
                  (-3 * MIN, -MIN, max(6, nusers // 20))]   # too late: late topic
    extra, extra1 = [], []
    if parallelism == 1:
        # a key with nothing in [2m, 3m) when it fired: the late record emits it at once
        # (at parallelism 1 any output proves the watermark of the only subtask)
        extra = [(0, rec("lonely", T0 + 2 * MIN + 5 * SEC, 7.0))]
        extra1 = [(1, rec("lonely", T0 + 10 * SEC, 1.0))]
    phases = windowed_phases(rnd, nparts=nparts, users=users, last_fired_end=T0 + 3 * MIN,
                             start=T0, step=MIN, width=MIN, late_specs=late_specs,
                             push=T0 + 10 * MIN, bound=2 * SEC, extra_ph1=extra1,
                             extra_late=extra)
    model = Model("tumbling", size=MIN, lateness=30 * SEC, bound=2 * SEC, nparts=nparts,
                  parallelism=parallelism)
    snaps = model.run(phases)
    check_coverage(phases, snaps, 2 * SEC, within=8, late=6)
    return phases, snaps


def tumbling(parallelism, nparts, seed):
    phases, snaps = tumbling_case(parallelism, nparts, seed, 12)
    run_phases(f"tumbling-p{parallelism}", TUMBLING, phases, snaps, nparts=nparts,
               parallelism=parallelism)


def tumbling_counts_and_sums_at_parallelism_1():
    tumbling(1, 4, 101)


def tumbling_counts_and_sums_at_parallelism_4():
    tumbling(4, 8, 104)


def tumbling_with_16kib_of_state_memory_spills_to_rocksdb_and_stays_exact():
    phases, snaps = tumbling_case(4, 8, 116, 2400)
    stats = run_phases("tumbling-tiny-state", TUMBLING, phases, snaps, nparts=8, parallelism=4,
                       state="state: {memory: 16KiB}\n")
    check(stats.get("state_evictions", 0) > 0 and stats.get("state_db_reads", 0) > 0
          and stats.get("state_db_writes", 0) > 0,
          "state did not go through RocksDB: " + repr({k: stats.get(k) for k in
                                                       ("state_evictions", "state_db_writes",
                                                        "state_db_reads")}))


SLIDING = "{sliding: {size: 30s, slide: 10s}, allowed_lateness: 15s}"


def sliding(parallelism, nparts, seed):
    rnd = random.Random(seed)
    users = [f"s{i:02d}" for i in range(10)]
    # W = T0 + 60 s after phase 1. A late record at T0 + x s belongs to the windows
    # ending at the next three multiples of 10 s: those ending at 50 and 60 are fired
    # and within lateness (end + 15 > 60), those ending <= 40 are gone, > 60 are open.
    late_specs = [(-10 * SEC, 0, 4),           # 60 re-emitted, 70 and 80 open
                  (-20 * SEC, -10 * SEC, 4),   # 50 and 60 re-emitted, 70 open
                  (-30 * SEC, -20 * SEC, 4),   # 40 gone, 50 and 60 re-emitted
                  (-40 * SEC, -30 * SEC, 4),   # 30 and 40 gone, 50 re-emitted
                  (-60 * SEC, -40 * SEC, 6)]   # all gone: late topic
    phases = windowed_phases(rnd, nparts=nparts, users=users, last_fired_end=T0 + 60 * SEC,
                             start=T0, step=10 * SEC, width=10 * SEC, late_specs=late_specs,
                             push=T0 + 5 * MIN, bound=2 * SEC)
    model = Model("sliding", size=30 * SEC, slide=10 * SEC, lateness=15 * SEC, bound=2 * SEC,
                  nparts=nparts, parallelism=parallelism)
    snaps = model.run(phases)
    check_coverage(phases, snaps, 2 * SEC, within=16, late=6)
    run_phases(f"sliding-p{parallelism}", SLIDING, phases, snaps, nparts=nparts,
               parallelism=parallelism)


def sliding_sums_at_parallelism_1():
    sliding(1, 4, 201)


def sliding_sums_at_parallelism_4():
    sliding(4, 4, 204)


SESSION = "{session: {gap: 10s}, allowed_lateness: 20s}"


def session_phases(rnd, nparts):
    """The hand-made cases (whose expected output is spelled out in
    check_hand_sessions) plus random keys, each key in one partition (as a keyed
    producer would put them), and too-late records of the random keys."""
    S = SEC
    part_of = {u: rnd.randrange(nparts) for u in "ABCDEFGH"}
    phases = session_hand_phases(nparts, push=10 * MIN, base=T0, part_of=part_of)
    users = [f"k{i:02d}" for i in range(30)]
    for u in users:
        p = rnd.randrange(nparts)
        t = T0 + rnd.randrange(0, 20) * S
        first_end = None  # the end of the key's first session
        for _ in range(rnd.randrange(1, 7)):  # steps of 1..14 s: some within the gap, some not
            if t > T0 + 60 * S:
                break
            phases[0].setdefault(p, []).append(rec(u, t, amount(rnd)))
            step = rnd.choice([1, 3, 5, 10, 10, 12, 14]) * S
            if step > 10 * S and first_end is None:
                first_end = t + 10 * S
            t += step
        if first_end is not None and first_end <= T0 + 50 * S and rnd.random() < 0.5:
            # too late: [t, t + 10 s) ends 30 s or more before T0, and the key's first
            # session (fired in phase 1) proves its subtask's watermark is >= T0 + 10 s
            phases[1].setdefault(p, []).append(rec(u, T0 - rnd.randrange(40, 100) * S, 1.0))
    for p in range(nparts):
        rs = phases[0][p]
        marker = [r for r in rs if r["user"] == f"m{p}"]
        # the hand-made cases stay in event-time order (G's pair too, here): e.g. F's 30 s
        # touches its session [20,30) only if the watermark is still below 30 s when it
        # comes (else it is late)
        rest = reorder_within_bound([r for r in rs if r["user"] != f"m{p}"], rnd, 2 * S,
                                    exact=0, keep=lambda r: len(r["user"]) == 1)
        # exactly bound behind the running max, for a key of its own (keeps keys in one partition)
        top = max(r["ts"] for r in rest)
        rest.append(rec(f"late2s-{p}", top - 2 * S, 1.0))
        phases[0][p] = rest + marker
    return phases


def session(parallelism, nparts, seed):
    rnd = random.Random(seed)
    phases = session_phases(rnd, nparts)
    model = Model("session", gap=10 * SEC, lateness=20 * SEC, bound=2 * SEC, nparts=nparts,
                  parallelism=parallelism)
    snaps = model.run(phases)
    check_hand_sessions(snaps, base=T0)
    check_coverage(phases, snaps, 2 * SEC, within=4, late=2)
    run_phases(f"session-p{parallelism}", SESSION, phases, snaps, nparts=nparts,
               parallelism=parallelism)


def session_counts_at_parallelism_1():
    session(1, 4, 301)


def session_counts_at_parallelism_4():
    session(4, 8, 304)


def the_reference_model_passes_its_hand_computed_cases():
    selfcheck_model()


if __name__ == "__main__":
    main([
        the_reference_model_passes_its_hand_computed_cases,
        tumbling_counts_and_sums_at_parallelism_1,
        tumbling_counts_and_sums_at_parallelism_4,
        sliding_sums_at_parallelism_1,
        sliding_sums_at_parallelism_4,
        session_counts_at_parallelism_1,
        session_counts_at_parallelism_4,
        tumbling_with_16kib_of_state_memory_spills_to_rocksdb_and_stays_exact,
    ])
