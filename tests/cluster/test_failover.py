#!/usr/bin/env python3
"""A worker dies mid-job. Coordinator (heartbeat timeout 2 s, interval 200 ms) and three
workers (2 slots each) run the keyed tumbling window job at parallelism 4, slowed down
on purpose (WEIR_FAULT_SLOW_BATCH_US on every worker) so that it is still running when
a worker that hosts tasks is killed with SIGKILL. Then:

- `weir workers --json` lists the killed worker LOST within the heartbeat timeout plus
  a margin; the other two stay ALIVE;
- `weir status --json` shows attempt 2 / restarts 1, the last failure naming the worker,
  and the new attempt's tasks only on the surviving workers, each partition once;
- the job FINISHES (`weir submit --wait`, running in the background all along, exits 0);
- the output topic: duplicates are allowed (the job restarts from its start offsets:
  at-least-once), but the last value of every key equals the reference model, no key
  is missing or extra, and no value exceeds the model (see check_window_output: with no
  late input, every value, even a replayed one, must be the complete one)."""
import time

from cluster import (ASAN, COORDINATOR_BIN, WEIR, WORKER_BIN, Cluster, check, check_placement,
                     check_window_output, consume, gen_events, max_lag, produce_all, reference,
                     require_binaries, run_tests, wait_until, window_job)

NPARTS = 8
NEVENTS = 40000
NUSERS = 400
BOUND_MS = 5000
P = 4
HB_TIMEOUT_S = 2
# Seen LOST at most this long after the kill: the timeout, plus one heartbeat check
# period and scheduling slack (more under ASan, where everything is slower).
LOST_WITHIN_S = HB_TIMEOUT_S + (4 if ASAN else 2)
# Per data batch taken by a window/sink subtask, with batches of BATCH_RECORDS: ~80
# batches per window subtask, so one attempt runs for about 10 s (measured 9.9 s
# without failures), long enough to kill a worker in the middle of it, in small enough
# steps that the kill lands mid-stream, and the whole test stays well under a minute.
SLOW_BATCH_US = 100000
BATCH_RECORDS = 128


def killing_a_worker_mid_job_restarts_it_on_the_others_and_the_output_is_exact():
    require_binaries(WEIR, COORDINATOR_BIN, WORKER_BIN)
    with Cluster("failover") as c:
        k = c.start_kafka({"clicks": NPARTS, "out": 4})
        c.start_coordinator(args=["--heartbeat-timeout", f"{HB_TIMEOUT_S}s",
                                  "--heartbeat-interval", "200ms", "--restart-delay", "200ms",
                                  "--max-restarts", "3"])
        slow = {"WEIR_FAULT_SLOW_BATCH_US": str(SLOW_BATCH_US)}
        for i in (1, 2, 3):
            c.start_worker(f"w{i}", slots=2, env=slow)
        c.wait_workers_alive()

        parts = gen_events(23, NEVENTS, nusers=NUSERS, nparts=NPARTS, bound_ms=BOUND_MS)
        check(max(max_lag(e) for e in parts.values()) < BOUND_MS, "test data: a record is late")
        model = reference(parts)
        produce_all(k.bootstrap, "clicks", parts)
        job = window_job("failover-clicks", k.bootstrap, "clicks", "out", bound_ms=BOUND_MS,
                         extra=f"limits: {{batch_records: {BATCH_RECORDS}}}\n")

        t_submit = time.monotonic()
        sub, jid = c.submit_background(job, P, timeout_s=240)

        def running_with_input():
            s = c.status(jid)
            check(s.get("state") not in ("FINISHED", "FAILED", "CANCELED"),
                  f"job ended ({s.get('state')}, failure {s.get('failure')}) before a worker "
                  "could be killed: make SLOW_BATCH_US larger")
            # records in, and some results out: the restart then has to re-emit them
            stats = s.get("stats") or {}
            return s if s.get("state") == "RUNNING" and stats.get("records_in", 0) > 0 \
                and stats.get("records_out", 0) > 0 else None
        st1 = wait_until(running_with_input, 60,
                         "the job RUNNING with records_in > 0 and records_out > 0")
        t_running = time.monotonic()
        check(st1.get("attempt") == 1, f"attempt {st1.get('attempt')} before any failure")
        by1 = check_placement(st1, NPARTS, workers={"w1", "w2", "w3"})
        victim = max(sorted(by1), key=lambda w: len(by1[w]))  # a worker with the most tasks
        survivors = sorted(set(c.workers) - {victim})

        t_kill = time.monotonic()
        c.workers[victim].kill9()

        def victim_lost():
            ws = {w["id"]: w for w in c.list_workers()}
            v = ws.get(victim)
            check(v is not None, f"the killed worker {victim} vanished from weir workers: {ws}")
            return ws if v.get("state") == "LOST" else None
        ws = wait_until(victim_lost, 30, f"worker {victim} LOST", interval=0.05)
        lost_s = time.monotonic() - t_kill
        check(lost_s <= LOST_WITHIN_S, f"{victim} seen LOST {lost_s:.1f} s after SIGKILL; "
              f"heartbeat timeout {HB_TIMEOUT_S} s (allowed up to {LOST_WITHIN_S} s)")
        check(all(ws[w].get("state") == "ALIVE" for w in survivors),
              f"survivors: {[(w, ws.get(w, {}).get('state')) for w in survivors]}")

        def restarted():
            s = c.status(jid)
            check(s.get("state") not in ("FAILED", "CANCELED"),
                  f"job {s.get('state')}: {s.get('failure')}")
            return s if s.get("attempt") == 2 and s.get("state") in ("RUNNING", "FINISHED") \
                else None
        st2 = wait_until(restarted, 60, "attempt 2 RUNNING")
        restart_s = time.monotonic() - t_kill
        check(st2.get("restarts") == 1, f"restarts {st2.get('restarts')} on attempt 2")
        check(victim in (st2.get("failure") or ""),
              f"the last failure does not name {victim}: {st2.get('failure')!r}")
        by2 = check_placement(st2, NPARTS)
        check(victim not in by2 and set(by2) <= set(survivors),
              f"attempt 2 runs on {by2}; {victim} is dead")

        try:
            rc = sub.proc.wait(timeout=180)
        except Exception:  # noqa: BLE001
            rc = None
        total_s = time.monotonic() - t_submit
        st = c.status(jid)
        check(rc == 0 and st.get("state") == "FINISHED",
              f"weir submit --wait: exit {rc} (None: still waiting after 180 s); job "
              f"{st.get('state')} attempt {st.get('attempt')}, failure {st.get('failure')}; "
              f"submit said: {sub.tail(6)}")
        check(st.get("attempt") == 2 and st.get("restarts") == 1,
              f"finished at attempt {st.get('attempt')} with {st.get('restarts')} restarts")
        check(sub.grep(r"attempt 2"), f"weir submit --wait did not report attempt 2: "
              f"{sub.tail(6)}")
        summary = check_window_output(consume(k.bootstrap, "out"), model,
                                      duplicates_allowed=True)
        ws = {w["id"]: w for w in c.list_workers()}
        check(all(ws[w].get("slots_used") == 0 for w in survivors),
              f"slots still used after the job: {[(w, ws[w].get('slots_used')) for w in survivors]}")
        s1 = st1.get("stats") or {}
        print(f"     running {t_running - t_submit:.1f} s after submit (records_in "
              f"{s1.get('records_in')}, records_out {s1.get('records_out')}); killed {victim} "
              f"(subtasks {by1[victim]}); LOST after {lost_s:.2f} s; attempt 2 RUNNING "
              f"after {restart_s:.2f} s on {by2}; FINISHED {total_s:.1f} s after submit; "
              f"{summary}")


if __name__ == "__main__":
    run_tests([killing_a_worker_mid_job_restarts_it_on_the_others_and_the_output_is_exact])
