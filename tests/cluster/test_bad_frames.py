#!/usr/bin/env python3
"""Hostile peers on the cluster's nng endpoints. With a coordinator and one worker up,
tests/cluster/bad-peer connects to the coordinator's worker endpoint and to the
worker's listen address and sends, in turn, garbage, an oversized frame, a truncated
frame and a well-formed frame of the wrong type. Each time the daemon must drop the
connection (bad-peer exits 0 when the peer hung up within 5 s) and keep running; after
all of them the coordinator still serves: the worker is listed ALIVE and a small
windowed job runs to FINISHED with the right output.

"The wrong type" depends on the endpoint (see bad-peer.c): the coordinator takes only
CONTROL frames, so it gets a DATA frame (`wrong-type`); a worker takes DATA frames (and
control from the coordinator) on its address, so it gets a Register (`register`), which
only a coordinator accepts. A well-formed DATA frame for a job the worker does not run
is, by design (worker.c on_data: data of an ended attempt is moot), ignored rather than
a reason to hang up; the worker must simply survive it."""
import os
import subprocess

from cluster import (BAD_PEER, COORDINATOR_BIN, WEIR, WORKER_BIN, Cluster, check,
                     check_window_output, consume, gen_events, produce_all, reference,
                     require_binaries, run_tests, window_job)

MODES = {"coordinator": ["garbage", "oversized", "truncated", "wrong-type"],
         "worker": ["garbage", "oversized", "truncated", "register"]}
S = {}


def cluster():
    check("c" in S, "no cluster (the first test failed)")
    return S["c"]


def a_coordinator_and_a_worker_come_up():
    require_binaries(WEIR, COORDINATOR_BIN, WORKER_BIN)
    c = Cluster("bad-frames")
    S["c"] = c
    c.start_kafka({"clicks": 2, "out": 2})
    c.start_coordinator()
    c.start_worker("w1", slots=2)
    c.wait_workers_alive()


def bad_peer(target_name, url):
    c = cluster()
    check(os.path.isfile(BAD_PEER) and os.access(BAD_PEER, os.X_OK),
          f"bad-peer is not built ({BAD_PEER})")
    results = {}
    for mode in MODES[target_name]:
        try:
            r = subprocess.run([BAD_PEER, url, mode], capture_output=True, text=True, timeout=30)
            results[mode] = (r.returncode, (r.stdout + r.stderr).strip()[-300:])
        except subprocess.TimeoutExpired:
            results[mode] = (None, "bad-peer did not exit within 30 s")
        dead = [n.name for n in c.nodes if n.name in ("coordinator", "w1") and not n.running()]
        check(not dead, f"after bad-peer {mode} against the {target_name}: {dead} exited "
              f"({results[mode]})")
    bad = {m: r for m, r in results.items() if r[0] != 0}
    check(not bad, f"the {target_name} at {url} did not drop the connection for "
          f"(mode: (exit, output)) {bad}")


def the_coordinator_drops_bad_frames_on_its_worker_endpoint():
    bad_peer("coordinator", cluster().coord.endpoint)


def the_worker_drops_bad_frames_on_its_listen_address():
    bad_peer("worker", cluster().workers["w1"].address)


def the_worker_survives_data_for_a_job_it_does_not_run():
    c = cluster()
    r = subprocess.run([BAD_PEER, c.workers["w1"].address, "wrong-type"], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode in (0, 1), f"bad-peer wrong-type: exit {r.returncode}: {r.stderr}")
    dead = [n.name for n in c.nodes if n.name in ("coordinator", "w1") and not n.running()]
    check(not dead, f"after a DATA frame for an unknown job: {dead} exited")


def afterwards_the_coordinator_serves_and_a_job_runs_to_finished():
    c = cluster()
    ws = c.wait_workers_alive(["w1"])
    check(len(ws) == 1, f"weir workers lists {ws}: bad peers must not register as workers")
    parts = gen_events(41, 2000, nusers=50, nparts=2, bound_ms=2000, span_ms=5 * 60000)
    model = reference(parts)
    produce_all(c.kafka.bootstrap, "clicks", parts)
    job = window_job("bad-frames-after", c.kafka.bootstrap, "clicks", "out", bound_ms=2000)
    rc, jid, err = c.submit(job, 2, wait=True, timeout_s=120)
    st = c.status(jid) if jid else {}
    check(rc == 0 and st.get("state") == "FINISHED",
          f"weir submit --wait exited {rc}: {err.strip()[-800:]}; job {st.get('state')}")
    check_window_output(consume(c.kafka.bootstrap, "out"), model, duplicates_allowed=False)
    sanitizer = [ln for n in c.nodes for ln in n.grep(r"Sanitizer|runtime error:")][:5]
    check(not sanitizer, f"sanitizer reports: {sanitizer}")


def main():
    tests = [a_coordinator_and_a_worker_come_up,
             the_coordinator_drops_bad_frames_on_its_worker_endpoint,
             the_worker_drops_bad_frames_on_its_listen_address,
             the_worker_survives_data_for_a_job_it_does_not_run,
             afterwards_the_coordinator_serves_and_a_job_runs_to_finished]

    def with_logs(t):
        def run():
            try:
                t()
            except BaseException:
                if "c" in S:
                    S["c"].dump_logs()
                raise
        run.__name__ = t.__name__
        return run
    try:
        run_tests([with_logs(t) for t in tests])
    finally:
        if "c" in S:
            S["c"].close()


if __name__ == "__main__":
    main()
