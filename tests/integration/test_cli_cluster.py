#!/usr/bin/env python3
"""The cluster verbs of the CLI (submit, list, status, cancel, workers, checkpoints) against a FAKE
coordinator: a Python http.server on 127.0.0.1:0 that serves canned JSON shaped as in
docs/rest-api.md and records every request. Covers what needs no real cluster: table
rendering, --json passthrough, server errors, response framing (Content-Length,
chunked, read to the end), submit's request and --wait, an unreachable coordinator, and
bad usage. The real coordinator is exercised by the cluster tests."""
import json
import os
import re
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from harness import TIMEOUT, WEIR, check, main, write_job

JOB_YAML = """name: clicks-per-user
sources:
  - name: clicks
    kafka: {brokers: "127.0.0.1:1", topic: clicks, stop: latest}
    schema: {user: string, amount: double}
pipeline:
  - filter: "amount > 0"
sinks:
  - kafka: {brokers: "127.0.0.1:1", topic: out}
"""

STATS = {"records_in": 1234, "records_out": 1200, "filtered": 30, "dead_letters": 4,
         "bytes_in": 99999, "late_records": 7, "late_updates": 2, "windows_fired": 12,
         "retractions": 0, "state_evictions": 0, "state_db_writes": 0, "state_db_reads": 0,
         "state_cache_bytes": 0, "watermark": 1700000000000, "windowed": True,
         "backpressured_ms": 0}


def summary(id_, name, state, parallelism=4, attempt=1, restarts=0):
    return {"id": id_, "name": name, "state": state, "parallelism": parallelism,
            "attempt": attempt, "restarts": restarts, "submitted_ms": 1700000000000}


NO_CHECKPOINTS = {"last": None, "latest_completed": None, "restored_from": None,
                  "consecutive_failures": 0}


def job(id_="3f9a0c12d4e5", state="RUNNING", failure=None, attempt=1, checkpoints=None):
    j = summary(id_, "clicks-per-user", state, attempt=attempt, restarts=attempt - 1)
    j.update({
        "failure": failure, "state_ms": 5230,
        "tasks": [
            {"subtask": 0, "worker": "w1", "address": "tcp://10.0.0.2:7200", "state": "RUNNING",
             "partitions": [0, 4]},
            {"subtask": 1, "worker": "w2-long-name", "address": "tcp://10.0.0.3:7200",
             "state": "DEPLOYING", "partitions": [1, 5]},
        ],
        "deployments": [{"worker": "w1", "state": "RUNNING", "message": None, "stats": STATS}],
        "stats": STATS,
        "checkpoints": checkpoints or NO_CHECKPOINTS})
    return j


def checkpoint(id_, status, trigger_unix_ms, duration_ms, state_bytes=0, uploaded_bytes=0,
               attempt=2, acks=8, tasks=8, retained=False, corrupt=False, reason=None):
    """One CHECKPOINT of docs/rest-api.md."""
    return {"id": id_, "status": status, "attempt": attempt, "trigger_unix_ms": trigger_unix_ms,
            "duration_ms": duration_ms, "state_bytes": state_bytes,
            "uploaded_bytes": uploaded_bytes, "acks": acks, "tasks": tasks,
            "retained": retained, "corrupt": corrupt, "reason": reason}


T0 = 1700000000000  # 2023-11-14 22:13:20 UTC
CK_IN_PROGRESS = checkpoint(14, "IN_PROGRESS", T0 + 30000, None, state_bytes=2048, acks=3)
CK_FAILED = checkpoint(13, "FAILED", T0 + 20000, 600000, reason="timed out after 600000 ms",
                       acks=7)
CK_COMPLETED = checkpoint(12, "COMPLETED", T0 + 10000, 412, state_bytes=12897484,
                          uploaded_bytes=1258291, retained=True)
CK_CORRUPT = checkpoint(11, "COMPLETED", T0 + 1000, 1340, state_bytes=512, uploaded_bytes=512,
                        attempt=1, corrupt=True, reason="subtask 1: 000012.sst: crc32 mismatch")
CHECKPOINTS = {"job": "3f9a0c12d4e5",
               "counts": {"completed": 2, "failed": 1, "in_progress": 1},
               "restored_from": 11, "latest_completed": CK_COMPLETED,
               "history": [CK_IN_PROGRESS, CK_FAILED, CK_COMPLETED, CK_CORRUPT]}


WORKERS = {"workers": [
    {"id": "w1", "address": "tcp://10.0.0.2:7200", "host": "node-a", "version": "0.1.0",
     "state": "ALIVE", "slots": 2, "slots_used": 1, "last_heartbeat_ms_ago": 420},
    {"id": "w2-long-name", "address": "tcp://10.0.0.3:7200", "host": "node-b",
     "version": "0.1.0", "state": "LOST", "slots": 4, "slots_used": 0,
     "last_heartbeat_ms_ago": 125000},
]}


class FakeCoordinator:
    """Serves routes {(METHOD, PATH): (status, body, framing)} where body is a JSON-able
    object, raw bytes, or a function of the request returning (status, body, framing);
    framing is "length" (Content-Length), "chunked", or "eof" (no length, then close).
    .requests holds every request as a dict; .url is the base URL."""

    def __init__(self, routes=None, prefix=""):
        self.routes = dict(routes or {})
        self.requests = []
        self.prefix = prefix
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                u = urlsplit(self.path)
                req = {"method": self.command, "path": u.path, "query": parse_qs(u.query),
                       "headers": dict(self.headers), "body": body}
                fake.requests.append(req)
                path = u.path[len(fake.prefix):] if u.path.startswith(fake.prefix) else None
                route = fake.routes.get((self.command, path))
                if route is None:
                    status, payload, framing = 404, {"error": f"no route {u.path}"}, "length"
                elif callable(route):
                    status, payload, framing = route(req)
                else:
                    status, payload, framing = route
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if framing == "length":
                    self.send_header("Content-Length", str(len(data)))
                elif framing == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if framing == "chunked":
                    for i in range(0, len(data), 7):  # many small chunks, some with extensions
                        piece = data[i:i + 7]
                        ext = ";x=y" if i % 14 == 0 else ""
                        self.wfile.write(b"%x%s\r\n%s\r\n" % (len(piece), ext.encode(), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(data)
                self.wfile.flush()

            do_GET = do_POST = do_DELETE = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{prefix}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def weir(*args, env=None):
    e = dict(os.environ)
    e.pop("WEIR_COORDINATOR", None)
    e.update(env or {})
    r = subprocess.run([WEIR, *args], capture_output=True, text=True, timeout=TIMEOUT, env=e)
    return r.returncode, r.stdout, r.stderr


def free_port():
    """A port nobody listens on (bound, then closed: connecting is refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def one_line(err):
    return len(err.strip().splitlines()) == 1


# ---- no coordinator at all -------------------------------------------------------------

def an_unreachable_coordinator_is_one_line_and_exit_1():
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["list"], ["workers"], ["status", "abc"], ["cancel", "abc"],
                 ["checkpoints", "abc"]):
        rc, out, err = weir(*args, "--coordinator", url)
        check(rc == 1, f"{args}: exit {rc}, expected 1: {err}")
        check(err == f"weir: cannot reach the coordinator at {url}: Connection refused\n",
              f"{args}: unexpected error: {err!r}")
        check(out == "", f"{args}: wrote to stdout: {out!r}")


def the_coordinator_comes_from_the_environment_then_the_default():
    url = f"http://127.0.0.1:{free_port()}"
    rc, out, err = weir("list", env={"WEIR_COORDINATOR": url})
    check(rc == 1 and f"cannot reach the coordinator at {url}:" in err, f"({rc}) {err}")
    with FakeCoordinator({("GET", "/v1/jobs"): (200, {"jobs": []}, "length")}) as fake:
        # --coordinator wins over the environment, before or after the verb
        for args in (["list", "--coordinator", fake.url], ["--coordinator", fake.url, "list"]):
            rc, out, err = weir(*args, env={"WEIR_COORDINATOR": url})
            check(rc == 0 and out.split() == ["ID", "NAME", "STATE", "PARALLELISM", "ATTEMPT",
                                              "RESTARTS"], f"{args}: ({rc}) {out} {err}")
    rc, out, err = weir("workers", env={"WEIR_COORDINATOR": ""})
    # (something may really listen on the default port on a developer's machine)
    check(rc == 0 or "coordinator at http://127.0.0.1:8081:" in err,
          f"default coordinator not used: {err}")


def an_invalid_job_file_is_refused_without_contacting_the_coordinator():
    bad = write_job("name: e\nparalellism: 2\nsources: []\nsinks: []\n")
    with FakeCoordinator() as fake:
        rc, out, err = weir("submit", bad, "--coordinator", fake.url)
        check(rc == 2, f"exit {rc}, expected 2: {err}")
        check(f"{bad}:2:1:" in err and "paralellism" in err, f"errors not printed: {err}")
        check(fake.requests == [], f"the coordinator was contacted: {fake.requests}")


def bad_usage_exits_2_with_a_usage_line():
    job_path = write_job(JOB_YAML)
    cases = [["list", "--bogus"], ["list", "extra"], ["workers", "--all"], ["status"],
             ["status", "a", "b"], ["status", "a", "--verbose"], ["cancel"],
             ["cancel", "--force", "a"], ["submit"], ["submit", job_path, "--nope"],
             ["submit", job_path, "--parallelism", "zero"], ["submit", job_path, "--wait",
                                                             "--timeout", "soon"],
             ["submit", job_path, "--timeout", "5s"], ["list", "--coordinator"],
             ["list", "--coordinator", "https://example.com"],
             ["list", "--coordinator", "http://host:99999"], ["checkpoints"],
             ["checkpoints", "a", "b"], ["checkpoints", "--all", "a"]]
    for args in cases:
        rc, out, err = weir(*args)
        check(rc == 2, f"{args}: exit {rc}, expected 2: {err}")
        check(one_line(err) and err.strip(), f"{args}: not one line: {err!r}")


# ---- rendering ---------------------------------------------------------------------------

def workers_prints_an_aligned_table_with_slots_and_heartbeats():
    with FakeCoordinator({("GET", "/v1/workers"): (200, WORKERS, "length")}) as fake:
        rc, out, err = weir("workers", "--coordinator", fake.url)
    check(rc == 0, f"exit {rc}: {err}")
    lines = out.splitlines()
    check(len(lines) == 3, f"expected header + 2 rows: {out}")
    check(lines[0].split() == ["ID", "ADDRESS", "HOST", "STATE", "SLOTS", "LAST", "HEARTBEAT"],
          f"header: {lines[0]}")
    check("w1" in lines[1] and "1/2" in lines[1] and "0.4 s ago" in lines[1]
          and "ALIVE" in lines[1] and "node-a" in lines[1], f"row 1: {lines[1]}")
    check("w2-long-name" in lines[2] and "0/4" in lines[2] and "2m05s ago" in lines[2]
          and "LOST" in lines[2], f"row 2: {lines[2]}")
    # columns line up: each header word starts where its values start
    for col in ("ADDRESS", "HOST", "STATE", "SLOTS"):
        at = lines[0].index(col)
        check(lines[1][at - 1] == " " and lines[1][at] != " " and lines[2][at] != " ",
              f"column {col} not aligned:\n{out}")
    check(all(line == line.rstrip() for line in lines), "trailing blanks")


def list_prints_one_row_per_job():
    jobs = {"jobs": [summary("3f9a0c12d4e5", "clicks-per-user", "RUNNING"),
                     summary("77aa", "x", "FAILED", parallelism=1, attempt=3, restarts=2)]}
    with FakeCoordinator({("GET", "/v1/jobs"): (200, jobs, "length")}) as fake:
        rc, out, err = weir("list", "--coordinator", fake.url)
    check(rc == 0, f"exit {rc}: {err}")
    rows = [line.split() for line in out.splitlines()]
    check(rows == [["ID", "NAME", "STATE", "PARALLELISM", "ATTEMPT", "RESTARTS"],
                   ["3f9a0c12d4e5", "clicks-per-user", "RUNNING", "4", "1", "0"],
                   ["77aa", "x", "FAILED", "1", "3", "2"]], f"table: {out}")


def status_shows_the_job_its_counters_and_the_partition_assignment():
    j = job(failure="worker w2 lost: no heartbeat for 5.0 s", attempt=2)
    with FakeCoordinator({("GET", "/v1/jobs/3f9a0c12d4e5"): (200, j, "length")}) as fake:
        rc, out, err = weir("status", "3f9a0c12d4e5", "--coordinator", fake.url)
    check(rc == 0, f"exit {rc}: {err}")
    for want in ("3f9a0c12d4e5", "clicks-per-user", "RUNNING for 5.2 s",
                 "worker w2 lost: no heartbeat for 5.0 s", "1234", "1200", "Dead letters",
                 "Windows fired", "1700000000000"):
        check(want in out, f"'{want}' missing from:\n{out}")
    lines = out.splitlines()
    header = [i for i, line in enumerate(lines) if line.split()[:1] == ["SUBTASK"]]
    check(header and lines[header[0]].split() == ["SUBTASK", "WORKER", "ADDRESS", "STATE",
                                                  "PARTITIONS"], f"no task table:\n{out}")
    tasks = [line.split() for line in lines[header[0] + 1:]]
    check(tasks == [["0", "w1", "tcp://10.0.0.2:7200", "RUNNING", "0,4"],
                    ["1", "w2-long-name", "tcp://10.0.0.3:7200", "DEPLOYING", "1,5"]],
          f"task rows: {tasks}")


def status_shows_the_last_checkpoint_or_none():
    with FakeCoordinator({("GET", "/v1/jobs/j"): (200, job("j"), "length")}) as fake:
        rc, out, err = weir("status", "j", "--coordinator", fake.url)
    check(rc == 0, f"exit {rc}: {err}")
    check(re.search(r"^Last checkpoint: +none$", out, re.M), f"no 'none' line:\n{out}")
    check("Restored from" not in out, f"restored from without a restore:\n{out}")

    now = int(time.time() * 1000)
    done = checkpoint(12, "COMPLETED", now - 3400, 180, state_bytes=12897484,
                      uploaded_bytes=1258291, retained=True)
    cks = {"last": done, "latest_completed": done, "restored_from": 11,
           "consecutive_failures": 0}
    with FakeCoordinator({("GET", "/v1/jobs/j"): (200, job("j", checkpoints=cks),
                                                  "length")}) as fake:
        rc, out, err = weir("status", "j", "--coordinator", fake.url)
    check(rc == 0, f"exit {rc}: {err}")
    m = re.search(r"^Last checkpoint: +#12 COMPLETED (\d+\.\d)s ago, took 180ms, 12\.3 MiB "
                  r"\(uploaded 1\.2 MiB\)$", out, re.M)
    check(m, f"no last checkpoint line:\n{out}")
    check(3.2 <= float(m.group(1)) < 30, f"age {m.group(1)} s, expected from 3.2 s")
    check(re.search(r"^Restored from: +#11$", out, re.M), f"no restored line:\n{out}")
    # the block's values stay aligned
    starts = {line.index(":") + 1 + len(line[line.index(":") + 1:]) -
              len(line[line.index(":") + 1:].lstrip())
              for line in out.split("\n\n")[0].splitlines()}
    check(len(starts) == 1, f"values not aligned:\n{out}")

    failed = checkpoint(13, "FAILED", now - 603000, 600000, reason="timed out after 600000 ms")
    running = checkpoint(14, "IN_PROGRESS", now - 1500, None, acks=3)
    for last, failures, want in (
            (failed, 2, r"#13 FAILED \d+\.\ds ago, after 10m00s: timed out after 600000 ms "
                        r"\(2 in a row\)$"),
            (running, 0, r"#14 IN_PROGRESS for \d+\.\ds, 3/8 tasks acknowledged$")):
        cks = {"last": last, "latest_completed": None, "restored_from": None,
               "consecutive_failures": failures}
        with FakeCoordinator({("GET", "/v1/jobs/j"): (200, job("j", checkpoints=cks),
                                                      "length")}) as fake:
            rc, out, err = weir("status", "j", "--coordinator", fake.url)
        check(rc == 0 and re.search(r"^Last checkpoint: +" + want, out, re.M),
              f"({rc}) {last['status']}:\n{out}{err}")


def cell_table(out):
    """Splits a table whose header words are single words into rows of cells, cut where
    each header word starts (cells such as '12.3 MiB' hold blanks)."""
    lines = out.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    cuts = list(zip(starts, starts[1:] + [None]))
    return [[line[a:b].strip() for a, b in cuts] for line in lines]


def checkpoints_prints_the_history_newest_first():
    routes = {("GET", "/v1/jobs/3f9a0c12d4e5/checkpoints"): (200, CHECKPOINTS, "length")}
    with FakeCoordinator(routes) as fake:
        rc, out, err = weir("checkpoints", "3f9a0c12d4e5", "--coordinator", fake.url,
                            env={"TZ": "UTC"})
        check(fake.requests[-1]["method"] == "GET", "not a GET")
    check(rc == 0, f"exit {rc}: {err}")
    first, rest = out.split("\n", 1)
    check(first == "restored from checkpoint 11", f"first line: {first!r}")
    rows = cell_table(rest)
    check(rows == [
        ["ID", "STATUS", "ATTEMPT", "TRIGGERED", "DURATION", "SIZE", "UPLOADED", "REASON"],
        ["14", "IN_PROGRESS", "2", "22:13:50", "-", "2.0 KiB", "0 B", "-"],
        ["13", "FAILED", "2", "22:13:40", "10m00s", "0 B", "0 B", "timed out after 600000 ms"],
        ["12", "COMPLETED", "2", "22:13:30", "412ms", "12.3 MiB", "1.2 MiB", "-"],
        ["11", "COMPLETED", "1", "22:13:21", "1.3s", "512 B", "512 B",
         "corrupt: subtask 1: 000012.sst: crc32 mismatch"],
    ], f"table:\n{out}")
    check(all(line == line.rstrip() for line in out.splitlines()), "trailing blanks")

    # local time: the same instant in another zone
    with FakeCoordinator(routes) as fake:
        rc, out, err = weir("checkpoints", "3f9a0c12d4e5", "--coordinator", fake.url,
                            env={"TZ": "XST-5:30"})
    check(rc == 0 and "03:43:50" in out, f"({rc}) not local time:\n{out}{err}")

    # no restore, no checkpoints yet
    empty = {"job": "j", "counts": {"completed": 0, "failed": 0, "in_progress": 0},
             "restored_from": None, "latest_completed": None, "history": []}
    with FakeCoordinator({("GET", "/v1/jobs/j/checkpoints"): (200, empty, "length")}) as fake:
        rc, out, err = weir("checkpoints", "j", "--coordinator", fake.url)
    check(rc == 0 and out == "No checkpoints.\n", f"({rc}) {out!r} {err}")


def checkpoints_json_passes_the_body_through():
    pretty = json.dumps(CHECKPOINTS, indent=2).encode() + b"\n"
    routes = {("GET", "/v1/jobs/3f9a0c12d4e5/checkpoints"): (200, pretty, "chunked")}
    with FakeCoordinator(routes) as fake:
        rc, out, err = weir("--json", "checkpoints", "3f9a0c12d4e5", "--coordinator", fake.url)
    check(rc == 0 and out.count("\n") == 1, f"({rc}) not one line: {out!r} {err}")
    check(json.loads(out) == CHECKPOINTS, "checkpoints --json differs from the server's body")


def checkpoints_of_an_unknown_job_is_the_servers_message():
    nope = (404, {"error": "unknown job 'nope'"}, "length")
    with FakeCoordinator({("GET", "/v1/jobs/nope/checkpoints"): nope}) as fake:
        rc, out, err = weir("checkpoints", "nope", "--coordinator", fake.url)
        check(fake.requests[-1]["path"] == "/v1/jobs/nope/checkpoints",
              f"path {fake.requests[-1]['path']}")
    check(rc == 1 and err == "weir: unknown job 'nope'\n", f"({rc}) {err!r}")
    check(out == "", f"stdout {out!r}")
    with FakeCoordinator({("GET", "/v1/jobs/j/checkpoints"): (200, {"job": "j"},
                                                              "length")}) as fake:
        rc, out, err = weir("checkpoints", "j", "--coordinator", fake.url)
    check(rc == 1 and one_line(err) and "no \"history\" array" in err, f"({rc}) {err!r}")


def json_prints_the_servers_body_on_one_line():
    j = job()
    pretty = json.dumps(j, indent=2).encode() + b"\n"
    routes = {("GET", "/v1/jobs/3f9a0c12d4e5"): (200, pretty, "length"),
              ("GET", "/v1/workers"): (200, WORKERS, "length"),
              ("GET", "/v1/jobs"): (200, {"jobs": []}, "length")}
    with FakeCoordinator(routes) as fake:
        rc, out, err = weir("status", "--json", "3f9a0c12d4e5", "--coordinator", fake.url)
        check(rc == 0 and out.count("\n") == 1, f"({rc}) not one line: {out!r} {err}")
        check(json.loads(out) == j, "status --json differs from the server's body")
        rc, out, err = weir("--json", "workers", "--coordinator", fake.url)
        check(rc == 0 and out == json.dumps(WORKERS) + "\n", f"({rc}) not as-is: {out!r}")
        rc, out, err = weir("list", "--json", f"--coordinator={fake.url}")
        check(rc == 0 and json.loads(out) == {"jobs": []}, f"({rc}) {out!r} {err}")


def an_unknown_job_prints_the_servers_message():
    nope = (404, {"error": "unknown job 'nope'"}, "length")
    with FakeCoordinator({("GET", "/v1/jobs/nope"): nope,
                          ("POST", "/v1/jobs/nope/cancel"): nope}) as fake:
        for verb in ("status", "cancel"):
            rc, out, err = weir(verb, "nope", "--coordinator", fake.url)
            check(rc == 1, f"{verb}: exit {rc}, expected 1")
            check(err == "weir: unknown job 'nope'\n", f"{verb}: {err!r}")
            check(out == "", f"{verb}: stdout {out!r}")


def cancel_prints_the_returned_state():
    routes = {("POST", "/v1/jobs/3f9a0c12d4e5/cancel"):
              (202, {"id": "3f9a0c12d4e5", "state": "CANCELING"}, "length"),
              ("POST", "/v1/jobs/done/cancel"):
              (409, {"error": "job 'done' already ended (FINISHED)"}, "length")}
    with FakeCoordinator(routes) as fake:
        rc, out, err = weir("cancel", "3f9a0c12d4e5", "--coordinator", fake.url)
        check(rc == 0 and out == "3f9a0c12d4e5: CANCELING\n", f"({rc}) {out!r} {err}")
        check(fake.requests[-1]["method"] == "POST", "cancel did not POST")
        rc, out, err = weir("cancel", "done", "--coordinator", fake.url)
        check(rc == 1 and err == "weir: job 'done' already ended (FINISHED)\n", f"({rc}) {err!r}")


def chunked_and_unframed_responses_are_read_whole():
    j = job()
    for framing in ("chunked", "eof"):
        routes = {("GET", "/v1/workers"): (200, WORKERS, framing),
                  ("GET", "/v1/jobs/3f9a0c12d4e5"): (200, j, framing)}
        with FakeCoordinator(routes) as fake:
            rc, out, err = weir("workers", "--coordinator", fake.url, "--json")
            check(rc == 0 and json.loads(out) == WORKERS, f"{framing}: ({rc}) {out!r} {err}")
            rc, out, err = weir("status", "3f9a0c12d4e5", "--coordinator", fake.url)
            check(rc == 0 and "0,4" in out, f"{framing}: ({rc}) {out} {err}")


def a_malformed_answer_is_one_line_and_exit_1():
    routes = {("GET", "/v1/workers"): (200, b"{\"workers\": [", "length"),
              ("GET", "/v1/jobs"): (200, b"<html>oops</html>", "chunked"),
              ("GET", "/v1/jobs/x"): (500, b"Internal Server Error", "length")}
    with FakeCoordinator(routes) as fake:
        for args in (["workers"], ["list"], ["list", "--json"], ["status", "x"]):
            rc, out, err = weir(*args, "--coordinator", fake.url)
            check(rc == 1 and one_line(err), f"{args}: ({rc}) {err!r}")
            check(err.startswith("weir: "), f"{args}: {err!r}")


def a_coordinator_that_never_answers_times_out():
    """Accepts the connection, reads the request, says nothing: the default 10 s bound."""
    import time
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    held = []
    threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()
    url = f"http://127.0.0.1:{srv.getsockname()[1]}"
    t0 = time.monotonic()
    try:
        rc, out, err = weir("workers", "--coordinator", url)
    finally:
        for conn, _ in held:
            conn.close()
        srv.close()
    took = time.monotonic() - t0
    check(rc == 1 and one_line(err) and "no complete response within 10 s" in err,
          f"({rc}) {err!r}")
    check(9 < took < 30, f"took {took:.1f} s")


def an_error_status_without_a_message_shows_what_came():
    with FakeCoordinator({("GET", "/v1/jobs"): (502, b"Bad Gateway\n<html>", "length")}) as fake:
        rc, out, err = weir("list", "--coordinator", fake.url)
    check(rc == 1 and err == f"weir: the coordinator at {fake.url} answered HTTP 502: "
          "Bad Gateway\n", f"({rc}) {err!r}")


def a_url_prefix_is_kept_in_every_request():
    with FakeCoordinator({("GET", "/v1/jobs"): (200, {"jobs": []}, "length")},
                         prefix="/weir") as fake:
        rc, out, err = weir("list", "--coordinator", fake.url + "/")
        check(rc == 0, f"({rc}) {err}")
        check(fake.requests[0]["path"] == "/weir/v1/jobs", f"path {fake.requests[0]['path']}")


# ---- submit ------------------------------------------------------------------------------

def submit_sends_the_yaml_and_the_parallelism_and_prints_the_id():
    created = (201, {"id": "3f9a0c12d4e5", "name": "clicks-per-user", "state": "CREATED"},
               "length")
    job_path = write_job(JOB_YAML)
    with FakeCoordinator({("POST", "/v1/jobs"): created}) as fake:
        rc, out, err = weir("submit", job_path, "--parallelism", "3", "--coordinator", fake.url)
        check(rc == 0 and out == "3f9a0c12d4e5\n", f"({rc}) {out!r} {err}")
        req = fake.requests[-1]
        check(req["method"] == "POST" and req["body"] == JOB_YAML.encode(),
              f"body not the file: {req['body'][:80]!r}")
        check(req["query"].get("parallelism") == ["3"], f"query {req['query']}")
        check(req["query"].get("name") == [job_path], f"query {req['query']}")
        check(req["headers"].get("Content-Length") == str(len(JOB_YAML.encode())),
              f"headers {req['headers']}")
        rc, out, err = weir("submit", job_path, "--json", "--coordinator", fake.url)
        check(rc == 0 and json.loads(out) == created[1], f"({rc}) {out!r}")
        check("parallelism" not in fake.requests[-1]["query"], "parallelism sent unasked")


def submit_reports_the_servers_refusal():
    refused = (400, {"error": "cannot reach Kafka brokers at 127.0.0.1:1"}, "length")
    job_path = write_job(JOB_YAML)
    with FakeCoordinator({("POST", "/v1/jobs"): refused}) as fake:
        rc, out, err = weir("submit", job_path, "--coordinator", fake.url)
    check(rc == 1 and err == "weir: cannot reach Kafka brokers at 127.0.0.1:1\n",
          f"({rc}) {err!r}")


def sequence(states):
    """A GET /v1/jobs/ID route answering each state of states in turn, then the last."""
    calls = []

    def route(req):
        calls.append(1)
        state, failure = states[min(len(calls), len(states)) - 1]
        return 200, job(state=state, failure=failure), "length"
    return route


def submit_wait_follows_the_job_until_it_finishes():
    job_path = write_job(JOB_YAML)
    routes = {("POST", "/v1/jobs"): (201, {"id": "3f9a0c12d4e5", "name": "n",
                                           "state": "CREATED"}, "length"),
              ("GET", "/v1/jobs/3f9a0c12d4e5"): sequence([("SCHEDULED", None), ("RUNNING", None),
                                                          ("RUNNING", None), ("FINISHED", None)])}
    with FakeCoordinator(routes) as fake:
        rc, out, err = weir("submit", job_path, "--wait", "--coordinator", fake.url)
    check(rc == 0, f"exit {rc}: {err}")
    check(out == "3f9a0c12d4e5\n", f"stdout {out!r}")
    changes = [line for line in err.splitlines() if line.startswith("3f9a0c12d4e5: ")]
    check(changes == ["3f9a0c12d4e5: SCHEDULED", "3f9a0c12d4e5: RUNNING",
                      "3f9a0c12d4e5: FINISHED"], f"state changes: {err}")


def submit_wait_exits_1_with_the_reason_when_the_job_fails():
    job_path = write_job(JOB_YAML)
    reason = "topic clicks partition 0 offset 3: field 'amount': not a double"
    routes = {("POST", "/v1/jobs"): (201, {"id": "3f9a0c12d4e5", "name": "n",
                                           "state": "CREATED"}, "length"),
              ("GET", "/v1/jobs/3f9a0c12d4e5"): sequence([("RUNNING", None), ("FAILED", reason)])}
    with FakeCoordinator(routes) as fake:
        rc, out, err = weir("submit", job_path, "--wait", "--coordinator", fake.url)
    check(rc == 1, f"exit {rc}, expected 1: {err}")
    check(f"FAILED: {reason}" in err, f"reason missing: {err}")


def submit_wait_rides_out_a_coordinator_that_is_briefly_unavailable():
    job_path = write_job(JOB_YAML)
    answers = [(503, {"error": "restarting"}, "length")] * 2 + [(200, job(state="FINISHED"),
                                                                  "length")]
    routes = {("POST", "/v1/jobs"): (201, {"id": "3f9a0c12d4e5", "name": "n",
                                           "state": "CREATED"}, "length"),
              ("GET", "/v1/jobs/3f9a0c12d4e5"): lambda req: answers.pop(0) if len(answers) > 1
              else answers[0]}
    with FakeCoordinator(routes) as fake:
        rc, out, err = weir("submit", job_path, "--wait", "--coordinator", fake.url)
    check(rc == 0, f"exit {rc}: {err}")
    check("retrying" in err and "answers again" in err and "3f9a0c12d4e5: FINISHED" in err,
          f"stderr: {err}")


def submit_wait_gives_up_after_the_timeout():
    job_path = write_job(JOB_YAML)
    routes = {("POST", "/v1/jobs"): (201, {"id": "j", "name": "n", "state": "CREATED"},
                                     "length"),
              ("GET", "/v1/jobs/j"): sequence([("RUNNING", None)])}
    with FakeCoordinator(routes) as fake:
        rc, out, err = weir("submit", job_path, "--wait", "--timeout", "700ms",
                            "--coordinator", fake.url)
        polls = len([r for r in fake.requests if r["method"] == "GET"])
    check(rc == 1 and "still RUNNING after 700ms" in err, f"({rc}) {err}")
    check(2 <= polls <= 6, f"{polls} polls in 700 ms at one per 200 ms")


if __name__ == "__main__":
    main([
        an_unreachable_coordinator_is_one_line_and_exit_1,
        the_coordinator_comes_from_the_environment_then_the_default,
        an_invalid_job_file_is_refused_without_contacting_the_coordinator,
        bad_usage_exits_2_with_a_usage_line,
        workers_prints_an_aligned_table_with_slots_and_heartbeats,
        list_prints_one_row_per_job,
        status_shows_the_job_its_counters_and_the_partition_assignment,
        status_shows_the_last_checkpoint_or_none,
        checkpoints_prints_the_history_newest_first,
        checkpoints_json_passes_the_body_through,
        checkpoints_of_an_unknown_job_is_the_servers_message,
        json_prints_the_servers_body_on_one_line,
        an_unknown_job_prints_the_servers_message,
        cancel_prints_the_returned_state,
        chunked_and_unframed_responses_are_read_whole,
        a_malformed_answer_is_one_line_and_exit_1,
        a_url_prefix_is_kept_in_every_request,
        an_error_status_without_a_message_shows_what_came,
        a_coordinator_that_never_answers_times_out,
        submit_sends_the_yaml_and_the_parallelism_and_prints_the_id,
        submit_reports_the_servers_refusal,
        submit_wait_follows_the_job_until_it_finishes,
        submit_wait_exits_1_with_the_reason_when_the_job_fails,
        submit_wait_rides_out_a_coordinator_that_is_briefly_unavailable,
        submit_wait_gives_up_after_the_timeout,
    ])
