"""Integration-test harness: a private `weir dev-kafka`, kcat to produce and read,
and `weir local` runs. Every wait is for an event (a line on a pipe, a process exit)
with a timeout that fails the test; nothing sleeps.

The weir binary comes from $WEIR (meson passes it)."""
import atexit
import json
import os
import subprocess
import sys
import tempfile

WEIR = os.environ.get("WEIR", "weir")
TIMEOUT = int(os.environ.get("WEIR_TEST_TIMEOUT", "180"))


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class DevKafka:
    """`weir dev-kafka --port 0` with the given topics; .bootstrap is its address."""

    def __init__(self, topics):
        args = [WEIR, "dev-kafka", "--port", "0"]
        for name, parts in topics.items():
            args += ["--topic", f"{name}:{parts}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.bootstrap = None
        for line in self.proc.stdout:  # blocks until the broker says it is ready
            if line.startswith("bootstrap: "):
                self.bootstrap = line.split()[1]
            if line.strip() == "ready":
                break
        check(self.bootstrap is not None, "dev-kafka did not print its bootstrap address: "
              + self.proc.stderr.read() if self.proc.poll() is not None else "dev-kafka not ready")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def produce(bootstrap, topic, partition, values, keys=None):
    """Produces values (str or bytes, no newlines) to one partition, in order."""
    data = b"".join((v if isinstance(v, bytes) else v.encode()) + b"\n" for v in values)
    args = ["kcat", "-P", "-b", bootstrap, "-t", topic, "-p", str(partition), "-c", str(len(values))]
    r = subprocess.run(args, input=data, capture_output=True, timeout=TIMEOUT)
    check(r.returncode == 0, f"kcat produce to {topic}/{partition} failed: {r.stderr.decode()}")


def consume(bootstrap, topic):
    """Every message in topic as dicts {partition, offset, key, payload, headers}."""
    # a short broker long-poll: -e then sees the end of each partition in milliseconds
    args = ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-J", "-q",
            "-X", "fetch.wait.max.ms=10"]
    r = subprocess.run(args, capture_output=True, timeout=TIMEOUT)
    check(r.returncode == 0, f"kcat consume {topic} failed: {r.stderr.decode()}")
    out = []
    for line in r.stdout.decode().splitlines():
        if not line.strip():
            continue
        m = json.loads(line)
        hdrs = m.get("headers") or []
        # kcat -J gives headers as a flat [k, v, k, v, ...] list
        m["headers"] = {hdrs[i]: hdrs[i + 1] for i in range(0, len(hdrs), 2)}
        out.append(m)
    return out


def write_job(text):
    """Writes a job file; it is removed when the test process exits."""
    fd, path = tempfile.mkstemp(suffix=".yaml", prefix="weir-test-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    atexit.register(lambda: os.path.exists(path) and os.unlink(path))
    return path


def run_local(job_path, *extra):
    """Runs `weir local JOB --json`; returns (exit code, stats dict or None, stderr)."""
    args = [WEIR, "local", job_path, "--json", *extra]
    r = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
    stats = None
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            stats = json.loads(line)
    return r.returncode, stats, r.stderr


def run_weir(*args):
    r = subprocess.run([WEIR, *args], capture_output=True, text=True, timeout=TIMEOUT)
    return r.returncode, r.stdout, r.stderr


WAIT_TIMEOUT = int(os.environ.get("WEIR_TEST_WAIT", "60"))


class LocalJob:
    """`weir local JOB --json ...` running in the background (e.g. an unbounded job).
    Its stdout and stderr go to temporary files, so a chatty job never blocks on a full
    pipe. stop() ends it with SIGINT (a graceful stop) and returns (exit code, stats
    dict or None, stderr); leaving the `with` block kills it if it still runs."""

    def __init__(self, job_path, *extra):
        self.out = tempfile.TemporaryFile(mode="w+")
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([WEIR, "local", job_path, "--json", *extra],
                                     stdout=self.out, stderr=self.err, text=True)

    def running(self):
        return self.proc.poll() is None

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def stop(self, timeout=60):
        import signal
        if self.running():
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Fail(f"weir local did not stop within {timeout}s of SIGINT: "
                       f"{self.stderr()[-2000:]}")
        self.out.seek(0)
        stats = None
        for line in self.out.read().splitlines():
            if line.startswith("{"):
                stats = json.loads(line)
        return self.proc.returncode, stats, self.stderr()

    def kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        self.out.close()
        self.err.close()


def wait_messages(bootstrap, topic, n, timeout=None, job=None):
    """Waits until topic holds at least n messages (kcat -c n, which exits when it has
    read them), then returns every message in it (as consume()). Fails when timeout
    seconds pass first (default $WEIR_TEST_WAIT, 60), or when job (a LocalJob) exits
    while we wait; the message says how many arrived."""
    import time
    timeout = WAIT_TIMEOUT if timeout is None else timeout
    if n > 0:
        args = ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-c", str(n), "-q",
                "-X", "fetch.wait.max.ms=10"]
        k = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    k.wait(timeout=0.05)  # returns as soon as kcat has n messages
                    break
                except subprocess.TimeoutExpired:
                    pass
                if job is not None and not job.running():
                    raise Fail(f"weir local exited ({job.proc.returncode}) while waiting for "
                               f"{n} messages in {topic} ({len(consume(bootstrap, topic))} "
                               f"arrived): {job.stderr()[-2000:]}")
                if time.monotonic() > deadline:
                    raise Fail(f"timed out after {timeout}s waiting for {n} messages in "
                               f"{topic}: {len(consume(bootstrap, topic))} arrived")
        finally:
            if k.poll() is None:
                k.kill()
                k.wait()
        check(k.returncode == 0, f"kcat waiting on {topic} failed: {k.stderr.read().decode()}")
        k.stderr.close()
    return consume(bootstrap, topic)


def main(tests):
    """Runs test functions; prints one line each and a closing 'N passed, N failed'."""
    passed = failed = 0
    only = sys.argv[1:]
    for t in tests:
        if only and t.__name__ not in only:
            continue
        try:
            t()
            print(f"ok   {t.__name__}")
            passed += 1
        except Exception as e:  # noqa: BLE001 - report every failure the same way
            print(f"FAIL {t.__name__}: {type(e).__name__}: {e}")
            failed += 1
        sys.stdout.flush()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
