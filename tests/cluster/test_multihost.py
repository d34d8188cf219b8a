#!/usr/bin/env python3
"""The cluster test across "hosts": the coordinator and three workers each run in a
network namespace of their own, joined by a bridge in the root namespace through veth
pairs (10.213.7.0/24: bridge .1, coordinator .10, workers .11-.13). Nothing can use
127.0.0.1 to reach another node, so this catches addresses that only work on one
machine (a worker advertising 127.0.0.1, a coordinator handing out its listen address
0.0.0.0, a data connection dialled to the wrong host).

Kafka stays in the root namespace: `weir dev-kafka`'s mock brokers listen on 127.0.0.1
only and advertise 127.0.0.1:PORT, so tcp_relay.py forwards, in the root namespace,
BRIDGE_IP:PORT -> 127.0.0.1:PORT and, inside each namespace, 127.0.0.1:PORT ->
BRIDGE_IP:PORT; every node then uses the bootstrap list the mock printed. The CLI runs
in the root namespace against the coordinator's namespace address.

Needs root (and a kernel that allows network namespaces): otherwise it prints
"SKIPPED: ..." and exits 77, which meson reports as a skip. Namespaces and links are
removed at exit, also after a failure, and stale ones from a crashed run are removed
first."""
import atexit
import os
import re
import subprocess
import sys
import time

from cluster import (COORDINATOR_BIN, HERE, WEIR, WORKER_BIN, Cluster, check, check_placement,
                     check_window_output, consume, gen_events, max_lag, produce_all,
                     reference, require_binaries, run_tests, window_job)

# Every namespace and link of a run is named after the test's pid ("wt<pid>-w1" for a
# namespace, "wt<pid>w1" for the root end of its veth, "wt<pid>br" for the bridge: link
# names have at most 15 characters), so that runs on one machine (other engineers, other
# build dirs) do not collide, and a crashed run's leftovers are recognised: their pid
# no longer runs this script.
TAG = f"wt{os.getpid()}"
BRIDGE = TAG + "br"
SHORT = {"coord": "c", "w1": "w1", "w2": "w2", "w3": "w3"}
COORD_PORT, HTTP_PORT, WORKER_PORT = 7100, 8081, 7200
NET = None        # "10.213.X", chosen at setup: an X no route uses
BRIDGE_IP = None  # NET.1
NODES = {}  # name -> IP


NPARTS = 8
NEVENTS = 24000
NUSERS = 300
BOUND_MS = 5000
P = 4


def ns(name):
    return f"{TAG}-{name}"


def sh(*args, check_rc=True):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def _ours_or_stale(name, sep):
    """True for names this run made, or that a run which is no longer running made."""
    m = re.match(r"^wt(\d+)" + sep, name)
    if not m:
        return False
    pid = int(m.group(1))
    if pid == os.getpid():
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"test_multihost" not in f.read()
    except OSError:
        return True


def teardown_network():
    """Removes this run's namespaces and links, and those of crashed runs."""
    r = sh("ip", "netns", "list", check_rc=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if _ours_or_stale(name, "-"):
            sh("ip", "netns", "del", name, check_rc=False)  # takes its veth end (and pair)
    r = sh("ip", "-o", "link", "show", check_rc=False)
    for line in r.stdout.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            dev = parts[1].strip().split("@")[0]
            if _ours_or_stale(dev, r"(br|c|w\d)p?$"):
                sh("ip", "link", "del", dev, check_rc=False)


def skip(msg):
    print(f"SKIPPED: {msg}")
    sys.stdout.flush()
    os._exit(77)  # skip, before any cluster exists (nothing to clean up)


def setup_network():
    if os.geteuid() != 0:
        skip("needs root to create network namespaces (ip netns add)")
    teardown_network()
    r = subprocess.run(["ip", "netns", "add", ns("probe")], capture_output=True, text=True)
    if r.returncode != 0:
        skip(f"ip netns add failed: {r.stderr.strip()}")
    sh("ip", "netns", "del", ns("probe"))
    global NET, BRIDGE_IP
    routes = sh("ip", "-4", "route", "show").stdout
    used = set(re.findall(r"\b10\.213\.(\d+)\.", routes))
    free = [x for x in range(1, 255) if str(x) not in used]
    if not free:
        skip("no free 10.213.X.0/24 subnet on this machine")
    x = free[os.getpid() % len(free)]  # concurrent runs most likely pick different ones
    NET = f"10.213.{x}"
    BRIDGE_IP = NET + ".1"
    NODES.update({"coord": NET + ".10", "w1": NET + ".11", "w2": NET + ".12",
                  "w3": NET + ".13"})
    atexit.register(teardown_network)
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{BRIDGE_IP}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for name, ip in NODES.items():
        n, host_end, tmp = ns(name), TAG + SHORT[name], TAG + SHORT[name] + "p"
        sh("ip", "netns", "add", n)
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", tmp)
        sh("ip", "link", "set", tmp, "netns", n)
        sh("ip", "link", "set", host_end, "master", BRIDGE)
        sh("ip", "link", "set", host_end, "up")
        sh("ip", "-n", n, "link", "set", "lo", "up")
        sh("ip", "-n", n, "link", "set", tmp, "name", "eth0")
        sh("ip", "-n", n, "addr", "add", f"{ip}/24", "dev", "eth0")
        sh("ip", "-n", n, "link", "set", "eth0", "up")
        sh("ip", "-n", n, "route", "add", "default", "via", BRIDGE_IP)


def kafka_ports(bootstrap):
    return [hp.rsplit(":", 1)[1] for hp in bootstrap.split(",")]


S = {}


def the_cluster_spans_four_network_namespaces_and_the_job_matches_the_model():
    require_binaries(WEIR, COORDINATOR_BIN, WORKER_BIN)
    setup_network()
    relay = os.path.join(HERE, "tcp_relay.py")
    with Cluster("multihost") as c:
        c.extra_cleanup.append(teardown_network)
        k = c.start_kafka({"clicks": NPARTS, "out": 4})
        check(all(hp.startswith("127.0.0.1:") for hp in k.bootstrap.split(",")),
              f"dev-kafka bootstrap {k.bootstrap}: not on 127.0.0.1")
        ports = kafka_ports(k.bootstrap)
        relays = [c.add_node("relay-root", [sys.executable, relay, BRIDGE_IP, "127.0.0.1",
                                            *ports])]
        for name in NODES:
            relays.append(c.add_node(f"relay-{name}", [sys.executable, relay, "127.0.0.1",
                                                       BRIDGE_IP, *ports], netns=ns(name)))
        for r in relays:
            r.wait_line(r"^ready$")

        coord = c.start_coordinator(host=NODES["coord"], port=COORD_PORT, http_port=HTTP_PORT,
                                    netns=ns("coord"))
        for w in ("w1", "w2", "w3"):
            c.start_worker(w, slots=2, host=NODES[w], port=WORKER_PORT, netns=ns(w))
        for node in [coord, *c.workers.values()]:
            where = sh("ip", "netns", "identify", str(node.pid)).stdout.strip()
            check(where == ns("coord" if node is coord else node.id),
                  f"{node.name} (pid {node.pid}) runs in netns {where!r}")
        ws = c.wait_workers_alive()
        addr = {w["id"]: w.get("address") for w in ws}
        check(addr == {w: f"tcp://{NODES[w]}:{WORKER_PORT}" for w in ("w1", "w2", "w3")},
              f"workers' addresses as the coordinator lists them: {addr}")

        parts = gen_events(11, NEVENTS, nusers=NUSERS, nparts=NPARTS, bound_ms=BOUND_MS)
        check(max(max_lag(e) for e in parts.values()) < BOUND_MS, "test data: a record is late")
        model = reference(parts)
        produce_all(k.bootstrap, "clicks", parts)
        job = window_job("multihost-clicks", k.bootstrap, "clicks", "out", bound_ms=BOUND_MS)
        t0 = time.monotonic()
        rc, jid, err = c.submit(job, P, wait=True, timeout_s=180)
        secs = time.monotonic() - t0
        check(jid, f"weir submit printed no job id (exit {rc}): {err.strip()[-1500:]}")
        st = c.status(jid)
        check(rc == 0 and st.get("state") == "FINISHED",
              f"weir submit --wait exited {rc}: {err.strip()[-1500:]}; job state "
              f"{st.get('state')}, failure {st.get('failure')}")
        summary = check_window_output(consume(k.bootstrap, "out"), model,
                                      duplicates_allowed=False)
        by = check_placement(st, NPARTS, workers={"w1", "w2", "w3"})
        for t in st["tasks"]:
            check(t.get("address") == f"tcp://{NODES[t['worker']]}:{WORKER_PORT}",
                  f"task {t}: not its worker's namespace address")
        jobs = [j for j in c.jobs() if j.get("id") == jid]
        check(len(jobs) == 1 and jobs[0].get("state") == "FINISHED", f"weir list: {jobs}")
        print(f"     {NEVENTS} events -> {len(model)} windows in {secs:.1f} s; placement "
              f"{by}; {summary}")


if __name__ == "__main__":
    run_tests([the_cluster_spans_four_network_namespaces_and_the_job_matches_the_model])
