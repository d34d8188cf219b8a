"""Cluster-test harness: a coordinator and workers as real processes (optionally each in
a network namespace of its own), the `weir` CLI against the coordinator's REST API, and
the windowed job every cluster test runs with its independent reference model.

Processes: each node's stdout and stderr are drained by a thread into a log file under
the cluster's temporary directory; waits are for events — a line the process prints,
its exit, or a condition on the REST API polled until it holds — each with a generous
deadline that fails the test. Nothing sleeps for synchronisation. When a test fails,
the tail of every node's log is printed. At exit (normal, exception, or SIGTERM from
meson's timeout) every process still running is killed with SIGKILL and the temporary
directories are removed (set WEIR_KEEP_LOGS=1 to keep them).

Binaries come from the environment (meson passes them): $WEIR, $WEIR_COORDINATOR_BIN,
$WEIR_WORKER_BIN, $BAD_PEER; by default they are found next to $WEIR in the build tree
(build/cli/weir -> build/coordinator/weir-coordinator, ...).

The shared pieces of tests/integration/harness.py (DevKafka, produce, consume,
write_job, check, Fail) are imported from there, not copied."""
import atexit
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
from harness import DevKafka, Fail, check, consume, produce, write_job  # noqa: E402,F401

WEIR = os.path.abspath(harness.WEIR) if os.sep in harness.WEIR else harness.WEIR
_BUILD = os.path.dirname(os.path.dirname(WEIR)) if os.sep in WEIR else "."
COORDINATOR_BIN = os.environ.get("WEIR_COORDINATOR_BIN") or os.path.join(
    _BUILD, "coordinator", "weir-coordinator")
WORKER_BIN = os.environ.get("WEIR_WORKER_BIN") or os.path.join(_BUILD, "worker", "weir-worker")
BAD_PEER = os.environ.get("BAD_PEER") or os.path.join(_BUILD, "tests", "cluster", "bad-peer")
KEEP = bool(os.environ.get("WEIR_KEEP_LOGS"))
# Every wait has a deadline; this one is for "the cluster comes up", "a worker is seen
# LOST", ... — events that take well under a second normally, a few under ASan.
WAIT = float(os.environ.get("WEIR_CLUSTER_WAIT", "60"))
CLI_TIMEOUT = harness.TIMEOUT


def _is_sanitized(path):
    """True if the binary was built with AddressSanitizer (its timing and memory differ)."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


ASAN = _is_sanitized(WORKER_BIN) or _is_sanitized(WEIR)


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on at the moment (bound to 0, then closed)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class CliError(Fail):
    """A `weir` command failed (e.g. the coordinator did not answer): wait_until polls on."""


def wait_until(pred, timeout, what, interval=0.1):
    """Polls pred() until it returns something truthy (returned) or timeout seconds pass
    (Fail naming `what` and the last value pred returned, or the last CliError it raised).
    Any other exception from pred ends the wait at once."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
            last = v
        except CliError as e:
            last = f"error: {e}"
        if time.monotonic() > deadline:
            raise Fail(f"timed out after {timeout:.0f}s waiting for {what}; last seen: "
                       f"{str(last)[:1500]}")
        time.sleep(interval)


def vm_kb(pid):
    """{'VmHWM': kB, 'VmRSS': kB, ...} from /proc/PID/status (peak and current RSS)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Vm"):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out


# --------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------


class Node:
    """One process (optionally `ip netns exec NS ...`; ip execs it, so the pid is the
    binary's own). Output goes to LOG_DIR/NAME.log through a reader thread, which also
    keeps the lines so that wait_line() can wait for one. A node started again under the
    same name (a restarted worker or coordinator) logs to NAME.2.log, NAME.3.log, ...:
    its predecessor's log stays."""

    def __init__(self, name, argv, log_dir, env=None, netns=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = os.path.join(log_dir, name + ".log")
        n = 2
        while os.path.exists(self.log_path):
            self.log_path = os.path.join(log_dir, f"{name}.{n}.log")
            n += 1
        self._log = open(self.log_path, "w", buffering=1)
        self._log.write("$ " + " ".join(self.argv) + (f"   (netns {netns})" if netns else "")
                        + "\n")
        e = dict(os.environ)
        e.update(env or {})
        full = (["ip", "netns", "exec", netns] if netns else []) + self.argv
        self.proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=e)
        self.pid = self.proc.pid
        self.lines = []
        self.eof = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                self._log.write(line + "\n")
            except ValueError:  # log closed at exit
                pass
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def running(self):
        return self.proc.poll() is None

    def wait_line(self, pattern, timeout=None, start=0):
        """Waits for a line matching the regex (searching from line index start); returns
        the match. Fails if the process exits first or timeout passes."""
        timeout = WAIT if timeout is None else timeout
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                if self.eof:
                    rc = self.proc.wait()
                    raise Fail(f"{self.name} exited ({rc}) before printing /{pattern}/; its "
                               f"log ends: {self.tail(12)}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail(f"{self.name} did not print /{pattern}/ within {timeout:.0f}s; "
                               f"its log ends: {self.tail(12)}")
                self._cond.wait(left)

    def grep(self, pattern):
        rx = re.compile(pattern)
        with self._cond:
            return [ln for ln in self.lines if rx.search(ln)]

    def tail(self, n=40):
        with self._cond:
            return "\n".join(self.lines[-n:])

    def vm(self):
        return vm_kb(self.pid)

    def kill9(self):
        """SIGKILL, and waits for the process to be gone. Returns its exit status."""
        if self.running():
            os.kill(self.pid, signal.SIGKILL)
        return self.proc.wait()

    def stop(self, timeout=30):
        """SIGTERM, then waits up to timeout s (SIGKILL after that). Returns the exit
        status, or None if it had to be killed."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None

    def close(self):
        self.kill9()
        self._thread.join(timeout=5)
        try:
            self._log.close()
        except Exception:  # noqa: BLE001
            pass


class Coordinator(Node):
    READY = r"weir-coordinator: workers at (\S+), REST API at (\S+)"

    def __init__(self, name, log_dir, *, host, port, http_port, args=(), env=None, netns=None):
        self.host = host
        self.port = port  # kept so that a restart can listen where the first one did
        self.http_port = http_port
        self.args = list(args)
        self.endpoint = f"tcp://{host}:{port}"
        self.url = f"http://{host}:{http_port}"
        super().__init__(name, [COORDINATOR_BIN, "--listen", self.endpoint, "--http",
                                f"{host}:{http_port}", *args], log_dir, env, netns)

    def wait_ready(self, timeout=None):
        m = self.wait_line(self.READY, timeout)
        check(m.group(1).rstrip(",") == self.endpoint,
              f"coordinator says workers at {m.group(1)}, expected {self.endpoint}")
        return self


class Worker(Node):
    READY = r"weir-worker: (\S+) ready"

    def __init__(self, name, log_dir, *, coordinator, host, port, slots, data_dir, args=(),
                 env=None, netns=None, listen_host=None):
        self.id = name
        self.address = f"tcp://{host}:{port}"
        os.makedirs(data_dir, exist_ok=True)
        super().__init__(name, [WORKER_BIN, "--coordinator", coordinator,
                                "--listen", f"tcp://{listen_host or host}:{port}",
                                "--advertise", self.address, "--id", name,
                                "--slots", str(slots), "--data-dir", data_dir, *args],
                         log_dir, env, netns)

    def wait_ready(self, timeout=None):
        m = self.wait_line(self.READY, timeout)
        check(m.group(1) == self.id, f"worker {self.id} says it is {m.group(1)}")
        return self


_clusters = []


class Cluster:
    """A set of nodes sharing a temporary directory. Use as a context manager: on an
    exception it prints every node's log tail, then kills everything."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"weircl-{name}-")
        self.nodes = []
        self.coord = None
        self.workers = {}
        self.kafka = None
        self.extra_cleanup = []
        _clusters.append(self)

    # ---- nodes ----
    def start_kafka(self, topics):
        self.kafka = DevKafka(topics)
        return self.kafka

    def start_coordinator(self, *, host="127.0.0.1", port=None, http_port=None, args=(),
                          env=None, netns=None, wait=True):
        c = Coordinator("coordinator", self.dir, host=host, port=port or free_port(),
                        http_port=http_port or free_port(), args=args, env=env, netns=netns)
        self.nodes.append(c)
        self.coord = c
        return c.wait_ready() if wait else c

    def restart_coordinator(self, *, args=None, env=None, wait=True):
        """Starts a new coordinator process on the ports of the current one (which must be
        gone, e.g. after kill9), with its arguments unless args is given: workers and the
        CLI find it where they found the first."""
        old = self.coord
        check(old is not None and not old.running(), "the coordinator still runs")
        return self.start_coordinator(host=old.host, port=old.port, http_port=old.http_port,
                                      args=old.args if args is None else args, env=env,
                                      wait=wait)

    def start_worker(self, wid, *, slots=2, host="127.0.0.1", port=None, args=(), env=None,
                     netns=None, listen_host=None, wait=True):
        check(self.coord is not None, "start the coordinator first")
        prev = self.workers.get(wid)
        check(prev is None or not prev.running(),
              f"worker {wid} still runs: kill it before starting another process with its id")
        w = Worker(wid, self.dir, coordinator=self.coord.endpoint, host=host,
                   port=port or free_port(), slots=slots,
                   data_dir=os.path.join(self.dir, "data-" + wid), args=args, env=env,
                   netns=netns, listen_host=listen_host)
        self.nodes.append(w)
        self.workers[wid] = w
        return w.wait_ready() if wait else w

    def add_node(self, name, argv, env=None, netns=None):
        """Any other process whose output should be logged and which dies with the cluster
        (e.g. a TCP relay)."""
        n = Node(name, argv, self.dir, env, netns)
        self.nodes.append(n)
        return n

    # ---- the CLI ----
    def weir(self, *args, timeout=None):
        """Runs `weir ARGS --coordinator URL`; returns (exit code, stdout, stderr)."""
        r = subprocess.run([WEIR, *args, "--coordinator", self.coord.url], capture_output=True,
                           text=True, timeout=timeout or CLI_TIMEOUT)
        return r.returncode, r.stdout, r.stderr

    def weir_json(self, *args):
        rc, out, err = self.weir(*args, "--json")
        if rc != 0:
            raise CliError(f"weir {' '.join(args)} --json: exit {rc}: {err.strip()[-800:]}")
        try:
            return json.loads(out)
        except ValueError:
            raise CliError(f"weir {' '.join(args)} --json printed no JSON: {out[:500]!r}") from None

    def list_workers(self):
        d = self.weir_json("workers")
        check(isinstance(d.get("workers"), list), f"weir workers --json: no workers list: {d}")
        return d["workers"]

    def status(self, job):
        return self.weir_json("status", job)

    def jobs(self):
        d = self.weir_json("list")
        check(isinstance(d.get("jobs"), list), f"weir list --json: no jobs list: {d}")
        return d["jobs"]

    def wait_workers_alive(self, ids=None, timeout=None):
        """Waits until `weir workers --json` lists every worker of `ids` (default: all
        started) as ALIVE; returns the list."""
        ids = set(ids if ids is not None else self.workers)

        def alive():
            ws = self.list_workers()
            have = {w.get("id") for w in ws if w.get("state") == "ALIVE"}
            return ws if ids <= have else None
        return wait_until(alive, timeout or WAIT, f"workers {sorted(ids)} ALIVE")

    def submit(self, job_path, parallelism, *, wait=True, timeout_s=240):
        """`weir submit JOB --parallelism P [--wait --timeout T]`; returns (exit code, job id
        or None, stderr)."""
        args = ["submit", job_path, "--parallelism", str(parallelism)]
        if wait:
            args += ["--wait", "--timeout", f"{int(timeout_s)}s"]
        rc, out, err = self.weir(*args, timeout=timeout_s + 60)
        lines = out.split()
        return rc, (lines[0] if lines else None), err

    def submit_background(self, job_path, parallelism, timeout_s=240):
        """`weir submit --wait` running in the background; returns (Node, job id) once it
        printed the id."""
        n = self.add_node(f"submit-{len(self.nodes)}", [WEIR, "submit", job_path, "--parallelism",
                                     str(parallelism), "--wait", "--timeout", f"{int(timeout_s)}s",
                                     "--coordinator", self.coord.url])
        m = n.wait_line(r"^([0-9A-Za-z_-]+)$")
        return n, m.group(1)

    def wait_job(self, job, states=("FINISHED", "FAILED", "CANCELED"), timeout=None):
        def ended():
            s = self.status(job)
            return s if s.get("state") in states else None
        return wait_until(ended, timeout or WAIT * 3, f"job {job} in {states}", interval=0.2)

    # ---- reporting and cleanup ----
    def dump_logs(self, n=40):
        for node in self.nodes:
            print(f"----- {node.name} (pid {node.pid}, "
                  f"{'running' if node.running() else 'exit ' + str(node.proc.returncode)}), "
                  f"last {n} lines of {node.log_path}:")
            print(node.tail(n))
        print("-----")
        sys.stdout.flush()

    def close(self):
        for node in reversed(self.nodes):
            node.close()
        self.nodes = []
        if self.kafka is not None:
            self.kafka.stop()
            self.kafka = None
        for fn in reversed(self.extra_cleanup):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                print(f"cleanup: {e}")
        self.extra_cleanup = []
        if not KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)
        elif os.path.isdir(self.dir):
            print(f"logs kept in {self.dir}")
        if self in _clusters:
            _clusters.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.dump_logs()
        self.close()


def _cleanup_all():
    for c in list(_clusters):
        c.close()


def _on_sigterm(signum, frame):
    raise SystemExit(f"signal {signum}")


atexit.register(_cleanup_all)
signal.signal(signal.SIGTERM, _on_sigterm)


def require_binaries(*paths):
    missing = [p for p in paths if not (os.path.isfile(p) and os.access(p, os.X_OK))]
    check(not missing, f"missing binaries: {missing}")


def run_tests(tests):
    """harness.main with timing: one line per test, then 'N passed, N failed'."""
    timed = []
    for t in tests:
        def wrapped(t=t):
            t0 = time.monotonic()
            try:
                t()
            finally:
                print(f"     {t.__name__}: {time.monotonic() - t0:.1f} s")
        wrapped.__name__ = t.__name__
        timed.append(wrapped)
    harness.main(timed)


# --------------------------------------------------------------------------------------
# The windowed job and its reference model
# --------------------------------------------------------------------------------------

SEC = 1000
MIN = 60 * SEC
T0 = 1_700_000_040_000  # a whole minute


def gen_events(seed, n, *, nusers, nparts, bound_ms, span_ms=20 * MIN, pad=0, user_pad=0):
    """n events {user, ts, amount[, url]} spread over nparts partitions, each partition
    covering [T0, T0 + span_ms), produced out of event-time order but never by bound_ms
    or more (each is put in produce order by ts + a random delay < bound_ms), so with
    max_out_of_orderness = bound_ms none is late. Amounts are multiples of 1/4: sums are
    exact in binary whatever the order. pad adds a `url` field of that many characters;
    user_pad makes every user name that much longer (the key crosses the exchange).
    Returns {partition: [event, ...]} in produce order."""
    rnd = random.Random(seed)
    users = [f"user-{i:04d}" + ("-" + "x" * (user_pad - 1) if user_pad else "")
             for i in range(nusers)]
    parts = {}
    for p in range(nparts):
        k = n // nparts + (1 if p < n % nparts else 0)
        evs = []
        for _ in range(k):
            e = {"user": rnd.choice(users), "ts": T0 + rnd.randrange(span_ms),
                 "amount": rnd.randrange(1, 400) / 4}
            if pad:
                e["url"] = "/p/" + "x" * max(0, pad - 3)
            evs.append((e["ts"] + rnd.randrange(bound_ms), e))
        evs.sort(key=lambda x: x[0])
        parts[p] = [e for _, e in evs]
    return parts


def max_lag(events):
    top, lag = None, 0
    for e in events:
        if top is not None:
            lag = max(lag, top - e["ts"])
        top = e["ts"] if top is None else max(top, e["ts"])
    return lag


def reference(parts):
    """The expected window results: {(user, window_start): (count, sum)} for tumbling
    1-minute windows — computed straight from the input, knowing nothing of weir."""
    out = {}
    for evs in parts.values():
        for e in evs:
            k = (e["user"], e["ts"] - e["ts"] % MIN)
            c, s = out.get(k, (0, 0.0))
            out[k] = (c + 1, s + e["amount"])
    return out


def produce_all(bootstrap, topic, parts):
    """Produces each partition's events (JSON, in order); returns the bytes produced."""
    total = 0
    for p, evs in parts.items():
        lines = [json.dumps(e, separators=(",", ":")) for e in evs]
        total += sum(len(x) for x in lines)
        # kcat reads stdin line by line; big partitions go in chunks to bound its memory
        for i in range(0, len(lines), 50000):
            produce(bootstrap, topic, p, lines[i:i + 50000])
    return total


WINDOW_JOB = """name: {name}
parallelism: 4
sources:
  - name: clicks
    kafka: {{brokers: "{brokers}", topic: {src}, stop: latest{src_extra}}}
    schema: {{user: string, ts: timestamp_ms, amount: double{schema_extra}}}
    event_time: {{field: ts, max_out_of_orderness: {bound_ms}ms}}
pipeline:
  - key_by: user
  - window: {{tumbling: 1m}}
  - aggregate: {{clicks: "count()", total: "sum(amount)"}}
sinks:
  - kafka: {{brokers: "{brokers}", topic: {out}}}
{extra}"""


def window_job(name, brokers, src, out, *, bound_ms, extra="", src_extra="", pad=False):
    """Writes the tumbling 1-minute count+sum job keyed by user (a temp file removed at
    exit); returns its path."""
    return write_job(WINDOW_JOB.format(name=name, brokers=brokers, src=src, out=out,
                                       bound_ms=bound_ms, extra=extra, src_extra=src_extra,
                                       schema_extra=", url: string" if pad else ""))


def check_window_output(msgs, model, *, duplicates_allowed):
    """Compares the output topic with the model. Every message must be keyed
    ["user",window_start] (compact JSON) with a value that matches its key and spans one
    minute. Per key, the last value (in offset order) must equal the model; no key may be
    missing or extra; no value may exceed the model's count or sum. Results fire only
    when the watermark passes the window's end, and the input has no late records, so
    even a replayed result is complete: every value (not only the last) must equal the
    model. Without duplicates_allowed each key must appear exactly once.
    Returns a summary dict; raises Fail listing the first differences."""
    problems = []
    got = {}
    where = {}
    for m in sorted(msgs, key=lambda m: (m["partition"], m["offset"])):
        key = m.get("key")
        try:
            user, start = json.loads(key)
        except (TypeError, ValueError):
            problems.append(f"message key {key!r} is not [user, window_start]")
            continue
        if key != json.dumps([user, start], separators=(",", ":")):
            problems.append(f"message key {key!r} is not compact JSON")
        if m["payload"] is None:
            problems.append(f"tombstone under {key} (tumbling windows never retract)")
            continue
        v = json.loads(m["payload"])
        if (v.get("user") != user or v.get("window_start") != start
                or v.get("window_end") != start + MIN):
            problems.append(f"message key {key} does not match its value {m['payload']}")
        where.setdefault((user, start), set()).add(m["partition"])
        got.setdefault((user, start), []).append(v)
    missing = sorted(set(model) - set(got))
    extra = sorted(set(got) - set(model))
    for k in missing[:5]:
        problems.append(f"missing key {list(k)}: expected clicks/total {model[k]}")
    if len(missing) > 5:
        problems.append(f"... {len(missing)} keys missing in all")
    for k in extra[:5]:
        problems.append(f"unexpected key {list(k)}: {got[k][-1]}")
    if len(extra) > 5:
        problems.append(f"... {len(extra)} unexpected keys in all")
    wrong_last = bigger = partial = dups = 0
    for k in sorted(set(got) & set(model)):
        want_c, want_s = model[k]
        vals = got[k]
        if len(where[k]) > 1:
            problems.append(f"key {list(k)} is in partitions {sorted(where[k])}: its last "
                            "value is undefined for an upserting consumer")
        last = vals[-1]
        if last.get("clicks") != want_c or float(last.get("total", "nan")) != want_s:
            wrong_last += 1
            if wrong_last <= 5:
                problems.append(f"key {list(k)}: last value clicks {last.get('clicks')} total "
                                f"{last.get('total')}, expected {want_c} {want_s} "
                                f"({len(vals)} message(s))")
        for v in vals:
            if v.get("clicks", 0) > want_c or float(v.get("total", 0)) > want_s:
                bigger += 1
                if bigger <= 3:
                    problems.append(f"key {list(k)}: a value larger than the model: {v}, "
                                    f"expected {want_c} {want_s}")
            elif v.get("clicks") != want_c or float(v.get("total", "nan")) != want_s:
                partial += 1
                if partial <= 3:
                    problems.append(f"key {list(k)}: a partial result {v} (expected "
                                    f"{want_c} {want_s}): a window fired before its input "
                                    "was complete")
        if len(vals) > 1:
            dups += 1
            if not duplicates_allowed and dups <= 3:
                problems.append(f"key {list(k)} emitted {len(vals)} times: {vals}")
    summary = {"messages": len(msgs), "keys": len(got), "model_keys": len(model),
               "missing": len(missing), "unexpected": len(extra), "wrong_last": wrong_last,
               "larger": bigger, "partial": partial, "keys_with_duplicates": dups}
    check(not problems, f"output differs from the model {summary}: " + "; ".join(problems[:12]))
    return summary


def check_placement(status, nparts, workers=None):
    """Every subtask has a task on a worker; every source partition is read by exactly
    one task. If workers is given, the tasks must be on exactly that set of workers.
    Returns {worker: [subtask...]}."""
    tasks = status.get("tasks")
    check(isinstance(tasks, list) and tasks, f"status has no tasks: {status}")
    P = status.get("parallelism")
    subtasks = sorted(t.get("subtask") for t in tasks)
    check(subtasks == list(range(P)), f"tasks' subtasks {subtasks} are not 0..{P - 1}")
    parts = Counter(p for t in tasks for p in (t.get("partitions") or []))
    check(sorted(parts) == list(range(nparts)) and set(parts.values()) == {1},
          f"partitions are not each assigned exactly once: {dict(parts)} "
          f"(tasks: {[(t.get('subtask'), t.get('worker'), t.get('partitions')) for t in tasks]})")
    by = {}
    for t in tasks:
        by.setdefault(t.get("worker"), []).append(t.get("subtask"))
    if workers is not None:
        check(set(by) == set(workers), f"tasks are on workers {sorted(by, key=str)}, expected "
              f"{sorted(workers)}: {by}")
    return by
