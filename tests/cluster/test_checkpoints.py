#!/usr/bin/env python3
"""Checkpoints and recovery under failures (issue 5): the keyed tumbling-window job
(count + sum per user and minute) on a real coordinator and workers, with checkpoints
in `file://` storage, while processes are killed with SIGKILL.

- killing_workers_again_and_again_keeps_every_window_exact: 3 workers (2 slots each),
  parallelism 4, checkpoints every 500 ms, 1 000 000 input events. A worker is killed
  six times, each time once the current attempt runs everywhere and has completed a
  checkpoint: four times by the test (SIGKILL, at moments given by checkpoint and output
  events; once with the worker's disk lost too), and by fault injection in a replacement
  worker (WEIR_FAULT_KILL_AT) once in the middle of a barrier alignment and once in the
  middle of a snapshot upload. A replacement with the same id is started after every
  death. Each kill costs exactly one restart, every restart restores a checkpoint the
  killed attempt completed, and the output, once identical duplicates are removed, is
  the reference model exactly.
- a_coordinator_killed_and_restarted_resumes_its_job_from_its_checkpoints: the
  coordinator (with --data-dir) is killed after two checkpoints and started again on
  the same ports; the job comes back under its id, restores a checkpoint at least as
  new as the last one seen before the kill, and finishes with the exact output.
- a_corrupted_checkpoint_falls_back_to_the_previous_one: a byte of every private file of
  the newest checkpoint is flipped in storage, then a worker is killed; restoring that
  checkpoint fails its checksum, the coordinator marks it corrupt and says so, and the
  job restores the checkpoint before it (one more restart) and finishes with the exact
  output.

Every wait is for an event (a process exit, a log line, a state on the REST API polled
until it holds). The input is made of compact events spread over enough partitions that
`weir dev-kafka` (about 5 MB kept per partition) keeps all of it; WEIR_FAULT_SLOW_BATCH_US
slows the window subtasks down so that the job is still running while it is killed."""
import glob
import json
import os
import random
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

from cluster import (ASAN, COORDINATOR_BIN, MIN, T0, WAIT, WEIR, WORKER_BIN, Cluster, Fail,
                     check, check_placement, check_window_output, consume, produce,
                     require_binaries, run_tests, wait_until, window_job)

P = 4
WORKERS = ("w1", "w2", "w3")
BOUND_MS = 5000
SPAN_MS = 20 * MIN
# dev-kafka (librdkafka's mock broker) drops the oldest messages of a partition past
# 5 MiB of record batches; the payload stays well below, leaving room for the batches'
# own bytes (about 10 per record).
PARTITION_BYTES_MAX = 3_500_000
# Every wait for "the cluster got there" (a restart, a checkpoint, a process exit).
EVENT_WAIT = WAIT * (3 if ASAN else 1)


# --------------------------------------------------------------------------------------
# Input and its reference model
# --------------------------------------------------------------------------------------


def gen_input(seed, n, *, nusers, nparts):
    """n compact events {"user":"uN","ts":...,"amount":...} over nparts partitions, each
    partition covering [T0, T0 + SPAN_MS) in produce order but with each event's time up
    to BOUND_MS - 1 ms before its place (event i of k is produced at T0 + BOUND_MS +
    i * (SPAN_MS - BOUND_MS) / k and happened up to BOUND_MS - 1 earlier), so none is late
    with max_out_of_orderness = BOUND_MS. Amounts are multiples of 1/4 (exact sums).
    Returns ({partition: [JSON line, ...]}, model) where model is the reference result
    {(user, window_start): (count, sum)} of tumbling 1-minute windows, computed here
    from the generated values."""
    rnd = random.Random(seed)
    bits = rnd.getrandbits
    nwin = SPAN_MS // MIN
    heads = [f'{{"user":"u{u}","ts":' for u in range(nusers)]
    tails = [f',"amount":{a / 4}}}' for a in range(400)]
    count = [0] * (nusers * nwin)
    quarters = [0] * (nusers * nwin)
    base, width = T0 + BOUND_MS, SPAN_MS - BOUND_MS
    parts = {}
    for p in range(nparts):
        k = n // nparts + (1 if p < n % nparts else 0)
        lines = []
        add = lines.append
        top = 0
        for i in range(k):
            x = bits(63)
            ts = base + i * width // k - x % BOUND_MS
            x //= BOUND_MS
            u = x % nusers
            a = (x // nusers) % 399 + 1
            j = u * nwin + (ts - T0) // MIN
            count[j] += 1
            quarters[j] += a
            add(heads[u] + str(ts) + tails[a])
            check(ts > top - BOUND_MS, f"test data: event {i} of partition {p} is late")
            top = max(top, ts)
        parts[p] = lines
    model = {(f"u{j // nwin}", T0 + (j % nwin) * MIN): (c, quarters[j] / 4)
             for j, c in enumerate(count) if c}
    return parts, model


def produce_input(bootstrap, topic, parts):
    """Produces every partition (kcat, several at once); checks first that each fits in
    what dev-kafka keeps. Returns the largest partition's payload bytes."""
    sizes = {p: sum(len(x) + 1 for x in lines) for p, lines in parts.items()}
    biggest = max(sizes.values())
    check(biggest <= PARTITION_BYTES_MAX,
          f"test data: {biggest} bytes in one partition; dev-kafka keeps about 5 MB per "
          f"partition (allowed here: {PARTITION_BYTES_MAX}): use more partitions")
    with ThreadPoolExecutor(6) as ex:
        list(ex.map(lambda p: produce(bootstrap, topic, p, parts[p]), sorted(parts)))
    return biggest


def check_output(bootstrap, topic, model):
    """The output topic against the model: check_window_output with duplicates allowed
    (every value of every key must equal the model, not only the last one, so duplicates
    can only be identical), and, said once more on its own, no (key, window) with two
    different values. Returns check_window_output's summary plus "duplicates" (messages
    beyond one per key)."""
    msgs = consume(bootstrap, topic)
    summary = check_window_output(msgs, model, duplicates_allowed=True)
    values = {}
    for m in msgs:
        v = json.loads(m["payload"])
        values.setdefault(m["key"], set()).add((v.get("clicks"), v.get("total")))
    differing = {k: v for k, v in values.items() if len(v) > 1}
    check(not differing, f"{len(differing)} (key, window)s have different values, e.g. "
          f"{sorted(differing.items())[:3]}")
    summary["duplicates"] = len(msgs) - len(values)
    return summary


# --------------------------------------------------------------------------------------
# Helpers on the REST API
# --------------------------------------------------------------------------------------


def check_no_sanitizer_reports(c):
    """No process of the cluster (killed ones included) printed an ASan/UBSan report."""
    bad = [f"{n.name}: {ln}" for n in c.nodes
           for ln in n.grep(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")]
    check(not bad, f"sanitizer reports: {bad[:5]}")


def checkpoints(c, jid):
    return c.weir_json("checkpoints", jid)


def not_ended(s, what):
    check(s.get("state") not in ("FINISHED", "FAILED", "CANCELED"),
          f"job {s.get('id')} {s.get('state')} (attempt {s.get('attempt')}, restarts "
          f"{s.get('restarts')}, failure {s.get('failure')!r}) {what}")


def ck_of(s):
    return s.get("checkpoints") or {}


def fault_env(spec, slow):
    return {"WEIR_FAULT_SLOW_BATCH_US": str(slow), "WEIR_FAULT_KILL_AT": spec}


# --------------------------------------------------------------------------------------
# 1. Workers killed again and again
# --------------------------------------------------------------------------------------

K_NPARTS = 24
K_NEVENTS = 1_000_000
K_NUSERS = 1000
K_BATCH_RECORDS = 128
# Per data batch taken by a window subtask (about 2 000 batches each): the job runs for
# about 45 s (with 10 ms it took 37 to 45 s, the six kills 10 to 25 s of it), while
# barriers wait behind at most 2 batches per channel. The sleep dominates the worker's
# own cost, with ASan too.
K_SLOW_US = 12000
# The kills, in order: (kind, worker). A "kill9" is the test's SIGKILL of a worker (all
# three host tasks), at a moment given by an event of the current attempt:
#   "checkpoint"  a checkpoint of the attempt completed;
#   "in_progress" one completed and the next is in progress (a kill mid-checkpoint);
#   "output"      window results are going out (records_out grew since the previous
#                 poll): those since the checkpoint the restart restores are fired again
#                 (duplicates, identical ones). Windows fire only when the watermark (the
#                 minimum over all partitions) passes a minute, and a backpressured source
#                 reads its partitions unevenly (seen: no result for 30 s of a 45 s job),
#                 so this moment also comes once the attempt completed 15 checkpoints.
#                 First in the plan: a fresh attempt gave its first results after 5 s,
#                 while restored ones often gave none for 10 s and more;
#   "two"         two checkpoints of the attempt completed.
# "wipe" also deletes the worker's data directory (a machine lost with its disk), so its
# replacement restores its subtasks from checkpoint storage instead of its local copies.
# "align"/"upload": the replacement started after the previous kill has WEIR_FAULT_KILL_AT
# set and kills itself there. Fault counts: a window subtask blocks channels three times
# per checkpoint (4 inputs: after each of the first three barriers) and uploads once per
# checkpoint; only one checkpoint is pending at a time, so with one or two window subtasks
# on the worker the 7th alignment and the 3rd upload come after a checkpoint of the
# attempt completed. After every death a replacement with the same id is started.
K_PLAN = [("kill9", "w2", "output"), ("align", "w2", None), ("upload", "w2", None),
          ("kill9", "w3", "in_progress"), ("kill9", "w1", "checkpoint+wipe"),
          ("kill9", "w2", "two")]
K_FAULT = {"align": "align:7", "upload": "upload:3"}
# Small fetches: with librdkafka's default (1 MiB per partition, ~20 000 of these
# records) a source reads its partitions in big chunks one after the other, and the
# watermark (the minimum over partitions) waited for ~490 000 records before the first
# window fired; with 16 KiB, ~170 000, and windows fire more often (when the source does
# not starve a partition; see "output" above).
K_SOURCE_PROPERTIES = ", properties: {max.partition.fetch.bytes: 16384}"


def killing_workers_again_and_again_keeps_every_window_exact():
    require_binaries(WEIR, COORDINATOR_BIN, WORKER_BIN)
    with Cluster("ck-kills") as c:
        k = c.start_kafka({"clicks": K_NPARTS, "out": 8})
        store = os.path.join(c.dir, "storage")
        os.makedirs(store)
        # A replacement registers long before the heartbeat timeout: its registration
        # ("worker restarted") is what ends the killed attempt, so the next attempt is
        # placed on all three workers. Restart backoff kept short (it doubles per restart).
        c.start_coordinator(args=["--heartbeat-timeout", "20s" if ASAN else "10s",
                                  "--heartbeat-interval", "200ms", "--restart-delay", "100ms",
                                  "--restart-delay-max", "400ms", "--max-failures", "100"])
        for w in WORKERS:
            c.start_worker(w, slots=2, env={"WEIR_FAULT_SLOW_BATCH_US": str(K_SLOW_US)})
        c.wait_workers_alive()

        parts, model = gen_input(5, K_NEVENTS, nusers=K_NUSERS, nparts=K_NPARTS)
        biggest = produce_input(k.bootstrap, "clicks", parts)
        job = window_job(
            "ck-kills", k.bootstrap, "clicks", "out", bound_ms=BOUND_MS,
            src_extra=K_SOURCE_PROPERTIES,
            extra=f"limits: {{batch_records: {K_BATCH_RECORDS}, channel_batches: 2}}\n"
                  f"checkpoint: {{interval: 500ms, timeout: 60s, retained: 3, "
                  f"storage: \"file://{store}\", min_pause: 0s, tolerable_failures: 3}}\n")
        t_submit = time.monotonic()
        sub, jid = c.submit_background(job, P, timeout_s=600)

        restored = {}   # attempt -> restored_from
        kills = []      # (kind, worker, attempt killed)
        wiped = None    # the replacement of the worker whose data directory was deleted

        def running(attempt):
            """attempt RUNNING, every deployment RUNNING on the three workers; fails at
            once on a restart too many or the job ending."""
            s = c.status(jid)
            not_ended(s, f"while attempt {attempt} was expected ({len(kills)} kills so far)")
            check(s.get("attempt", 0) <= attempt and s.get("restarts", 0) <= attempt - 1,
                  f"attempt {s.get('attempt')} with {s.get('restarts')} restarts after "
                  f"{len(kills)} kills ({kills}): a kill caused more than one restart; "
                  f"failure: {s.get('failure')!r}")
            if s.get("attempt") != attempt or s.get("state") != "RUNNING":
                return None
            deps = s.get("deployments") or []
            if not deps or any(d.get("state") != "RUNNING" for d in deps):
                return None
            return s

        def killable(attempt):
            """running(attempt), every worker hosting tasks, and a checkpoint of this
            attempt completed."""
            s = running(attempt)
            if not s:
                return None
            latest = ck_of(s).get("latest_completed") or {}
            if latest.get("attempt") != attempt:
                return None
            by = check_placement(s, K_NPARTS)
            return s if set(by) == set(WORKERS) else None

        def note_restore(s, attempt):
            r = ck_of(s).get("restored_from")
            check(isinstance(r, int) and r > 0,
                  f"attempt {attempt} restored no checkpoint (restored_from {r!r}): {ck_of(s)}")
            prev = restored.get(attempt - 1, 0)
            check(r > prev, f"attempt {attempt} restored checkpoint {r}, attempt {attempt - 1} "
                  f"restored {prev}: no checkpoint of attempt {attempt - 1} completed before "
                  f"its kill ({kills[-1]})")
            # the latest completed before the kill: one of the killed attempt
            h = {e["id"]: e for e in checkpoints(c, jid)["history"]}.get(r)
            check(h is None or (h["status"] == "COMPLETED" and h["attempt"] == attempt - 1),
                  f"attempt {attempt} restored checkpoint {r}: {h}; expected one completed by "
                  f"attempt {attempt - 1} before its kill ({kills[-1]})")
            restored[attempt] = r

        def start_replacement(wid, nxt):
            env = ({"WEIR_FAULT_SLOW_BATCH_US": str(K_SLOW_US)} if nxt not in K_FAULT
                   else fault_env(K_FAULT[nxt], K_SLOW_US))
            w = c.start_worker(wid, slots=2, env=env)
            w.wait_line(r"registered with", timeout=EVENT_WAIT)
            return w

        def completed_in(attempt):
            return sum(1 for h in checkpoints(c, jid)["history"]
                       if h["attempt"] == attempt and h["status"] == "COMPLETED")

        def moment(attempt, when, base):
            """killable(attempt) and the event `when` (see K_PLAN) has happened; base (a
            dict, empty at first) keeps the records_out of the previous poll."""
            s = killable(attempt)
            if not s:
                return None
            ck = ck_of(s)
            latest, last = ck.get("latest_completed"), ck.get("last") or {}
            if when == "checkpoint":
                return s
            if when == "in_progress":
                return s if last.get("status") == "IN_PROGRESS" and \
                    last.get("id", 0) > latest["id"] else None
            if when == "two":
                return s if completed_in(attempt) >= 2 else None
            # "output": records_out grew since the previous poll (windows are firing), or
            # the attempt completed 15 checkpoints
            out = (s.get("stats") or {}).get("records_out", 0)
            grew = "out" in base and out > base["out"]
            base["out"] = out
            if grew:
                base["why"] = "results going out"
                return s
            if completed_in(attempt) >= 15:
                base["why"] = "no result, 15 checkpoints"
                return s
            return None

        attempt = 1
        for i, (kind, victim, when) in enumerate(K_PLAN):
            w = c.workers[victim]
            if kind == "kill9":
                base = {}
                s = wait_until(lambda: moment(attempt, when.split("+")[0], base), EVENT_WAIT,
                               f"attempt {attempt} RUNNING everywhere, then: {when}")
                if attempt > 1:
                    note_restore(s, attempt)
                rc = w.kill9()
                check(rc == -9, f"{victim} exited {rc} before it was killed")
                if when.endswith("+wipe"):
                    shutil.rmtree(os.path.join(c.dir, "data-" + victim))
            else:
                # the replacement dies by itself once it hosts a window subtask at that
                # point; meanwhile the attempt comes up everywhere
                s = wait_until(lambda: (not w.running()) or running(attempt), EVENT_WAIT,
                               f"attempt {attempt} RUNNING (or {victim} dead)")
                if s is not True:
                    note_restore(s, attempt)
                    by = check_placement(s, K_NPARTS)
                    check(victim in by, f"attempt {attempt} runs on {by}: the replacement "
                          f"{victim} (with WEIR_FAULT_KILL_AT={K_FAULT[kind]}) has no task, so "
                          "it cannot die at its fault point; it registered after the restart")
                try:
                    rc = w.proc.wait(timeout=EVENT_WAIT)
                except Exception:  # noqa: BLE001
                    raise Fail(f"{victim} with WEIR_FAULT_KILL_AT={K_FAULT[kind]} still runs "
                               f"{EVENT_WAIT:.0f} s into attempt {attempt}; job: "
                               f"{c.status(jid)}") from None
                check(rc == -9, f"{victim} with WEIR_FAULT_KILL_AT={K_FAULT[kind]} exited {rc}, "
                      f"not by SIGKILL: {w.tail(10)}")
                w.wait_line(rf"weir: fault injection: killing this process at '{kind}'",
                            timeout=5)
            kills.append((kind if kind != "kill9" else
                          f"kill9 ({when}{': ' + base['why'] if 'why' in base else ''})",
                          victim, attempt))
            nxt = K_PLAN[i + 1][0] if i + 1 < len(K_PLAN) else None
            replacement = start_replacement(victim, nxt)
            if when and when.endswith("+wipe"):
                wiped = (replacement, attempt + 1)
            attempt += 1

        s = wait_until(lambda: running(attempt), EVENT_WAIT, f"attempt {attempt} RUNNING")
        note_restore(s, attempt)
        st = c.wait_job(jid, timeout=600)
        total_s = time.monotonic() - t_submit
        ck = checkpoints(c, jid)
        check(st.get("state") == "FINISHED",
              f"job {st.get('state')}: {st.get('failure')!r} (attempt {st.get('attempt')}, "
              f"restarts {st.get('restarts')}, kills {kills})")
        check(st.get("restarts") == len(kills) and st.get("attempt") == len(kills) + 1,
              f"{len(kills)} kills {kills}, but restarts {st.get('restarts')} and attempt "
              f"{st.get('attempt')}")
        check(ck.get("restored_from") == restored[attempt],
              f"weir checkpoints says restored_from {ck.get('restored_from')}, weir status "
              f"said {restored[attempt]}")
        try:
            rc = sub.proc.wait(timeout=60)
        except Exception:  # noqa: BLE001
            rc = None
        check(rc == 0, f"weir submit --wait exit {rc}: {sub.tail(6)}")
        # the replacement of the worker that lost its disk had no local copies
        wiped, wiped_attempt = wiped
        lines = wiped.grep(rf"restored checkpoint {restored[wiped_attempt]} ")
        check(lines and all("from checkpoint storage" in ln for ln in lines),
              f"{wiped.name} started with an empty data directory; in attempt {wiped_attempt} "
              f"it restored: {lines}")
        summary = check_output(k.bootstrap, "out", model)
        n_completed = len(c.coord.grep(rf"job {jid}: checkpoint \d+ completed"))
        by_kind = {}
        for kind, _, _ in kills:
            by_kind[kind.split()[0]] = by_kind.get(kind.split()[0], 0) + 1
        check_no_sanitizer_reports(c)
        print(f"     {K_NEVENTS} events ({biggest} bytes in the biggest of {K_NPARTS} "
              f"partitions); kills {by_kind}: {kills} (kind, worker, attempt); restarts "
              f"{st.get('restarts')}; restored per attempt {restored}; checkpoints completed "
              f"{n_completed} (the last {len(ck.get('history') or [])}: {ck.get('counts')}); "
              f"FINISHED {total_s:.1f} s after submit; output {summary}")


# --------------------------------------------------------------------------------------
# 2. The coordinator killed and restarted
# --------------------------------------------------------------------------------------

C_NPARTS = 8
C_NEVENTS = 200_000
C_NUSERS = 400
C_SLOW_US = 40000  # the job runs for about 20 s
# A worker registers every second until acknowledged (docs/protocol.md).
REREGISTER_S = 30 if ASAN else 15


def a_coordinator_killed_and_restarted_resumes_its_job_from_its_checkpoints():
    require_binaries(WEIR, COORDINATOR_BIN, WORKER_BIN)
    with Cluster("ck-coord") as c:
        k = c.start_kafka({"clicks": C_NPARTS, "out": 4})
        store = os.path.join(c.dir, "storage")
        data = os.path.join(c.dir, "coordinator-data")
        c.start_coordinator(args=["--data-dir", data, "--checkpoint-storage", "file://" + store,
                                  "--heartbeat-timeout", "4s", "--heartbeat-interval", "200ms",
                                  "--restart-delay", "100ms"])
        for w in WORKERS:
            c.start_worker(w, slots=2, env={"WEIR_FAULT_SLOW_BATCH_US": str(C_SLOW_US)})
        c.wait_workers_alive()
        parts, model = gen_input(7, C_NEVENTS, nusers=C_NUSERS, nparts=C_NPARTS)
        produce_input(k.bootstrap, "clicks", parts)
        job = window_job("ck-coord", k.bootstrap, "clicks", "out", bound_ms=BOUND_MS,
                         extra="limits: {batch_records: 128, channel_batches: 2}\n"
                               "checkpoint: {interval: 500ms}\n")
        rc, jid, err = c.submit(job, P, wait=False)
        check(rc == 0 and jid, f"weir submit: exit {rc}: {err}")

        def two_done():
            s = c.status(jid)
            not_ended(s, "before the coordinator could be killed: make C_SLOW_US larger")
            r = checkpoints(c, jid)
            return s if s.get("state") == "RUNNING" and r["counts"]["completed"] >= 2 else None
        s1 = wait_until(two_done, EVENT_WAIT, "2 checkpoints completed")
        old = c.coord
        rc = old.kill9()
        check(rc == -9, f"the coordinator exited {rc} before it was killed")
        # the last checkpoint the coordinator completed before it died: it logs that
        # after writing the checkpoint's metadata
        done = [int(re.search(r"checkpoint (\d+) completed", ln).group(1))
                for ln in old.grep(rf"job {jid}: checkpoint \d+ completed")]
        last_seen = max(done + [(ck_of(s1).get("latest_completed") or {}).get("id") or 0])
        t_kill = time.monotonic()
        c.restart_coordinator()
        # the workers ran on: they must register with the new coordinator (which knows
        # their ids from nothing but their heartbeats) before the job can come back
        try:
            c.wait_workers_alive(timeout=REREGISTER_S)
        except Fail as e:
            raise Fail(f"the workers did not register again within {REREGISTER_S} s of the "
                       f"coordinator restart ({e}); the new coordinator logged: "
                       f"{c.coord.grep(r'worker')[:4]}") from None

        def back():
            s = c.status(jid)
            not_ended(s, "after the coordinator restarted")
            return s if s.get("state") == "RUNNING" and s.get("attempt", 0) >= 2 else None
        s2 = wait_until(back, EVENT_WAIT, f"job {jid} RUNNING again after the restart")
        back_s = time.monotonic() - t_kill
        r = ck_of(s2).get("restored_from")
        check(isinstance(r, int) and r >= last_seen,
              f"after the coordinator restart the job restored checkpoint {r!r}; checkpoint "
              f"{last_seen} had completed before the kill: {ck_of(s2)}")
        check(s2.get("id") == jid, f"status of {jid} names job {s2.get('id')}")
        st = c.wait_job(jid, timeout=600)
        check(st.get("state") == "FINISHED", f"job {st.get('state')}: {st.get('failure')!r}")
        summary = check_output(k.bootstrap, "out", model)
        check_no_sanitizer_reports(c)
        print(f"     killed the coordinator after checkpoint {last_seen} (status showed "
              f"{(ck_of(s1).get('latest_completed') or {}).get('id')}); the job RUNNING again "
              f"{back_s:.1f} s later, attempt {s2.get('attempt')}, restored_from {r}; "
              f"FINISHED with restarts {st.get('restarts')}; output {summary}")


# --------------------------------------------------------------------------------------
# 3. A corrupted checkpoint
# --------------------------------------------------------------------------------------

X_NPARTS = 8
X_NEVENTS = 200_000
X_NUSERS = 400
X_SLOW_US = 40000  # the job runs for about 20 s
# Long enough that no newer checkpoint completes between the test seeing one complete
# and its kill of a worker.
X_INTERVAL_S = 3 if ASAN else 2


def flip_byte(path):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        check(data, f"{path} is empty: nothing to corrupt")
        i = len(data) // 2
        data[i] ^= 0x5A
        f.seek(0)
        f.write(data)


def a_corrupted_checkpoint_falls_back_to_the_previous_one():
    require_binaries(WEIR, COORDINATOR_BIN, WORKER_BIN)
    with Cluster("ck-corrupt") as c:
        k = c.start_kafka({"clicks": X_NPARTS, "out": 4})
        store = os.path.join(c.dir, "storage")
        c.start_coordinator(args=["--checkpoint-storage", "file://" + store,
                                  "--heartbeat-timeout", "2s", "--heartbeat-interval", "200ms",
                                  "--restart-delay", "100ms"])
        for w in WORKERS:
            c.start_worker(w, slots=2, env={"WEIR_FAULT_SLOW_BATCH_US": str(X_SLOW_US)})
        c.wait_workers_alive()
        parts, model = gen_input(11, X_NEVENTS, nusers=X_NUSERS, nparts=X_NPARTS)
        produce_input(k.bootstrap, "clicks", parts)
        job = window_job("ck-corrupt", k.bootstrap, "clicks", "out", bound_ms=BOUND_MS,
                         extra="limits: {batch_records: 128, channel_batches: 2}\n"
                               f"checkpoint: {{interval: {X_INTERVAL_S}s, retained: 3}}\n")
        rc, jid, err = c.submit(job, P, wait=False)
        check(rc == 0 and jid, f"weir submit: exit {rc}: {err}")

        def completed():
            s = c.status(jid)
            not_ended(s, "before its checkpoint could be corrupted: make X_SLOW_US larger")
            r = checkpoints(c, jid)
            return r if s.get("state") == "RUNNING" and r["counts"]["completed"] >= 3 else None
        r0 = wait_until(completed, EVENT_WAIT * 2, "3 checkpoints completed")
        before = r0["latest_completed"]["id"]

        # right after a checkpoint completes the next one is an interval away
        def fresh():
            r = checkpoints(c, jid)
            latest = r.get("latest_completed") or {}
            return r if latest.get("id", 0) > before else None
        r1 = wait_until(fresh, EVENT_WAIT, f"a checkpoint newer than {before}", interval=0.05)
        n = r1["latest_completed"]["id"]
        prev = max(h["id"] for h in r1["history"]
                   if h["status"] == "COMPLETED" and h.get("retained") and h["id"] < n)
        files = sorted(f for f in glob.glob(os.path.join(store, jid, f"chk-{n}", "*", "*"))
                       if os.path.isfile(f))
        check(len(files) >= 3 * P, f"checkpoint {n}: expected the private files of {P} "
              f"subtasks under {store}/{jid}/chk-{n}, found {files}")
        for f in files:
            flip_byte(f)
        s = c.status(jid)
        latest = ck_of(s).get("latest_completed") or {}
        check(latest.get("id") == n and s.get("state") == "RUNNING",
              f"checkpoint {latest.get('id')} completed while {n} was being corrupted "
              f"(or the job is {s.get('state')}): make X_INTERVAL_S longer")
        by = check_placement(s, X_NPARTS, workers=set(WORKERS))
        victim = max(sorted(by), key=lambda w: len(by[w]))
        # not replaced: its subtasks (and, by the placement, every other one) move, so
        # they restore from storage, where the files were corrupted
        c.workers[victim].kill9()

        def fell_back():
            s = c.status(jid)
            not_ended(s, f"before falling back from checkpoint {n}")
            return s if s.get("state") == "RUNNING" and \
                ck_of(s).get("restored_from") not in (None, n) else None
        s2 = wait_until(fell_back, EVENT_WAIT, f"the job RUNNING restored from a checkpoint "
                        f"other than the corrupted {n}")
        hist = {h["id"]: h for h in checkpoints(c, jid)["history"]}
        newer = [h for h in hist.values()
                 if h["id"] > n and h["attempt"] == 1 and h["status"] == "COMPLETED"]
        check(not newer, f"checkpoint {newer} completed after {n} before the kill: the test "
              "corrupted the wrong one (make X_INTERVAL_S longer)")
        check(ck_of(s2).get("restored_from") == prev,
              f"restored_from {ck_of(s2).get('restored_from')}, expected {prev} (the checkpoint "
              f"before the corrupted {n})")
        # the kill's restart restored n and failed on its checksum; one more restored prev
        check(s2.get("attempt") == 3 and s2.get("restarts") == 2,
              f"fell back at attempt {s2.get('attempt')} with {s2.get('restarts')} restarts; "
              f"expected attempt 3 (1: killed, 2: restoring {n} fails, 3: restores {prev})")
        hn = hist.get(n)
        check(hn is not None and hn.get("corrupt") is True and hn.get("retained") is False,
              f"checkpoint {n} after its checksum failed: {hn}")
        reason = hn.get("reason") or ""
        check("checksum" in reason and any(os.path.basename(f) in reason for f in files),
              f"checkpoint {n}'s reason names no corrupted file: {reason!r}")
        said = c.coord.grep(r"checksum")
        check(said and any(f"checkpoint {n}" in ln for ln in said),
              f"the coordinator log does not mention checkpoint {n}'s checksum failure: "
              f"{said}")
        st = c.wait_job(jid, timeout=600)
        check(st.get("state") == "FINISHED" and st.get("restarts") == 2,
              f"job {st.get('state')} after {st.get('restarts')} restarts: "
              f"{st.get('failure')!r}")
        summary = check_output(k.bootstrap, "out", model)
        check_no_sanitizer_reports(c)
        left = os.path.isdir(os.path.join(store, jid, f"chk-{n}"))
        print(f"     corrupted {len(files)} files of checkpoint {n}, killed {victim}; "
              f"checkpoint {n}: corrupt {hn.get('corrupt')}, retained {hn.get('retained')}, "
              f"reason {reason!r}; restored {prev} at attempt {s2.get('attempt')}; coordinator "
              f"said: {said[0] if said else None!r}; chk-{n} {'still' if left else 'no longer'} "
              f"in storage; FINISHED with restarts {st.get('restarts')}; output {summary}")


if __name__ == "__main__":
    run_tests([killing_workers_again_and_again_keeps_every_window_exact,
               a_coordinator_killed_and_restarted_resumes_its_job_from_its_checkpoints,
               a_corrupted_checkpoint_falls_back_to_the_previous_one])
