#!/usr/bin/env python3
"""A real cluster on one machine: weir-coordinator, three weir-workers (2 slots each),
`weir dev-kafka`, and a bounded keyed window job (tumbling 1-minute count and sum per
user, event time with 5 s of out-of-orderness) submitted at parallelism 4 with
`weir submit --wait`. The output topic must equal an independent reference model (per
user and window: count and sum; exactly one message per key, none missing, none extra),
the job's tasks must be spread over all three workers with every partition read by
exactly one task, and the nodes must stop cleanly on SIGTERM.

The tests share one cluster and run in order; `test_cluster.py NAME` runs one (with
the ones it depends on failing fast)."""
import time

from cluster import (COORDINATOR_BIN, WEIR, WORKER_BIN, Cluster, check, check_placement,
                     check_window_output, consume, gen_events, max_lag, produce_all, reference,
                     require_binaries, run_tests, window_job)

NPARTS = 8
NEVENTS = 40000
NUSERS = 400
BOUND_MS = 5000
P = 4

S = {}  # the shared cluster and what the tests learned


def cluster():
    check("c" in S, "no cluster (the first test failed)")
    return S["c"]


def three_workers_register_and_are_alive():
    require_binaries(WEIR, COORDINATOR_BIN, WORKER_BIN)
    c = Cluster("cluster")
    S["c"] = c
    try:
        c.start_kafka({"clicks": NPARTS, "out": 4})
        c.start_coordinator()
        for i in (1, 2, 3):
            c.start_worker(f"w{i}", slots=2)
        ws = c.wait_workers_alive()
        by = {w["id"]: w for w in ws}
        for wid, node in c.workers.items():
            w = by[wid]
            check(w.get("address") == node.address and w.get("slots") == 2
                  and w.get("slots_used") == 0 and w.get("version"),
                  f"worker {wid} as listed: {w} (expected address {node.address}, 2 slots, "
                  "none used, a version)")
        check(len(ws) == 3, f"weir workers lists {len(ws)} workers: {ws}")
    except BaseException:
        c.dump_logs()
        raise


def a_keyed_window_job_at_parallelism_4_matches_the_reference_model():
    c = cluster()
    parts = gen_events(7, NEVENTS, nusers=NUSERS, nparts=NPARTS, bound_ms=BOUND_MS)
    check(max(max_lag(e) for e in parts.values()) < BOUND_MS, "test data: a record is late")
    model = reference(parts)
    nbytes = produce_all(c.kafka.bootstrap, "clicks", parts)
    job = window_job("cluster-clicks", c.kafka.bootstrap, "clicks", "out", bound_ms=BOUND_MS)
    t0 = time.monotonic()
    rc, jid, err = c.submit(job, P, wait=True, timeout_s=180)
    secs = time.monotonic() - t0
    S["job"] = jid
    check(jid, f"weir submit printed no job id (exit {rc}): {err.strip()[-1500:]}")
    st = c.status(jid)
    S["status"] = st
    check(rc == 0, f"weir submit --wait exited {rc}: {err.strip()[-1500:]}; status: "
          f"state {st.get('state')}, failure {st.get('failure')}")
    check(st.get("state") == "FINISHED" and st.get("attempt") == 1 and st.get("restarts") == 0,
          f"job ended {st.get('state')} attempt {st.get('attempt')} restarts "
          f"{st.get('restarts')}: failure {st.get('failure')}")
    summary = check_window_output(consume(c.kafka.bootstrap, "out"), model,
                                  duplicates_allowed=False)
    stats = st.get("stats") or {}
    want = {"records_in": NEVENTS, "records_out": len(model), "windows_fired": len(model),
            "late_records": 0, "dead_letters": 0}
    wrong = {k: (v, stats.get(k)) for k, v in want.items() if stats.get(k) != v}
    check(not wrong, f"job stats differ (field: (expected, got)): {wrong}")
    print(f"     {NEVENTS} events ({nbytes} bytes) in {NPARTS} partitions -> {len(model)} "
          f"windows; submit --wait took {secs:.1f} s; {summary}")


def its_tasks_are_spread_over_all_workers_and_each_partition_is_read_once():
    c = cluster()
    check("status" in S, "the job did not run")
    st = S["status"]
    check(st.get("parallelism") == P, f"parallelism {st.get('parallelism')}, expected {P}")
    by = check_placement(st, NPARTS, workers={"w1", "w2", "w3"})
    check(sorted(len(v) for v in by.values()) == [1, 1, 2],
          f"4 subtasks on 3 workers with 2 slots each should be placed 2, 1, 1: {by}")
    for t in st["tasks"]:
        node = c.workers.get(t.get("worker"))
        check(node is not None and t.get("address") == node.address,
              f"task {t} does not name its worker's address")
    deps = st.get("deployments") or []
    check(sorted(d.get("worker") for d in deps) == ["w1", "w2", "w3"],
          f"deployments: {[(d.get('worker'), d.get('state')) for d in deps]}")
    jobs = c.jobs()
    mine = [j for j in jobs if j.get("id") == S["job"]]
    check(len(mine) == 1 and mine[0].get("state") == "FINISHED"
          and mine[0].get("name") == "cluster-clicks" and mine[0].get("parallelism") == P,
          f"weir list --json: {jobs}")
    # the slots are free again once the job has ended
    ws = c.list_workers()
    check(all(w.get("slots_used") == 0 for w in ws),
          f"slots still used after the job finished: {[(w['id'], w.get('slots_used')) for w in ws]}")


def the_nodes_stop_cleanly_on_sigterm():
    c = cluster()
    rcs = {}
    for wid, w in c.workers.items():
        rcs[wid] = w.stop(timeout=30)
    rcs["coordinator"] = c.coord.stop(timeout=30)
    bad = {k: v for k, v in rcs.items() if v != 0}
    sanitizer = [ln for n in c.nodes for ln in n.grep(r"Sanitizer|runtime error:")][:5]
    check(not bad and not sanitizer, f"exit statuses after SIGTERM {rcs} (None: did not stop "
          f"within 30 s); sanitizer reports: {sanitizer}")


def main():
    tests = [three_workers_register_and_are_alive,
             a_keyed_window_job_at_parallelism_4_matches_the_reference_model,
             its_tasks_are_spread_over_all_workers_and_each_partition_is_read_once,
             the_nodes_stop_cleanly_on_sigterm]

    def teardown_on_failure(t):
        def run():
            try:
                t()
            except BaseException:
                if "c" in S and t is not three_workers_register_and_are_alive:
                    S["c"].dump_logs()
                raise
        run.__name__ = t.__name__
        return run
    try:
        run_tests([teardown_on_failure(t) for t in tests])
    finally:
        if "c" in S:
            S["c"].close()


if __name__ == "__main__":
    main()
