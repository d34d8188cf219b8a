#!/usr/bin/env bash
# bench/run-checkpoints.sh — checkpoints on a weir cluster with about 1 M keys of state:
# checkpoint duration and bytes per checkpoint at a 1 s interval, throughput with 1 s
# checkpoints against the same job without checkpoints, and recovery time from kill -9 of
# the worker that runs the window subtask to the first output record of the new attempt.
# Everything (dev-kafka, coordinator, workers, checkpoint storage) runs on this machine.
# See docs/benchmarks.md ("Checkpoints").
#
#   ./bench/run-checkpoints.sh [--runs R] [--events N] [--keys rotating|uniform]
#       [--recoveries K] [--rec-events N] [--seed S] [--job-timeout SECS]
#       [--limits YAML] [--build-dir DIR] [--no-build] [--perf]
#
#   --runs R          rounds of the throughput comparison; each round runs the state job
#                     once without and once with checkpoints, the order alternating
#                     (default 3)
#   --events N        events for the state job (default 8000000; 128 partitions)
#   --keys K          how the state job's second key field is chosen (default rotating):
#                     rotating  slot = (ts / 60 s) mod 10: at any moment only the keys of
#                               the current minute's slot (100 000 of the 1 M) change
#                     uniform   slot = |amount in cents| mod 10: every event may touch
#                               any of the 1 M keys
#   --recoveries K    kill -9 runs of the recovery job (default 3; 0 skips recovery)
#   --rec-events N    events for the recovery job (default 2000000; 32 partitions)
#   --seed S          PRNG seed of the generator (default 42)
#   --job-timeout T   a job still running after T seconds fails the benchmark (default 600)
#   --limits YAML     a `limits:` mapping for both variants of the state job, e.g.
#                     '{channel_batches: 256}' (default: none, weir's defaults)
#   --build-dir DIR   where to build weir (release; default bench/out/build)
#   --no-build        reuse the binaries in the build directory and bench/out/bin
#   --perf            afterwards, profile 15 s of the worker in one more run of each
#                     variant (`perf record -e cpu-clock -g`): bench/out/perf-checkpoints-*.txt
#
# The state job (parts 1-3): gen-events writes N events (100 000 lower-case users, event
# times spread over 40 minutes that all fall in one hour, up to 2 s out of order) into
# topic `events`. The job maps each event to (user, slot), keys by both (100 000 × 10 =
# 1 M keys), counts per key in a 1-hour tumbling window (so no window fires until the
# input ends and the state grows to 1 M keys), and drops every result with
# `filter: "clicks < 0"`: nothing is produced. With --keys rotating the state reaches
# 86 % of its keys after a quarter of the input and 98 % after half; the figures for
# "steady state" use the checkpoints completed after half the input was read.
# Each round runs, on a fresh coordinator + 1 worker (1 slot), parallelism 1:
#   off   the job without checkpoints
#   on    the same job with `checkpoint: {interval: 1s, storage: file://...}`
# The script polls the job (GET /v1/jobs/ID, every 0.5 s) until FINISHED and takes the
# coordinator's own time from accepting the job to FINISHED (submitted_ms, state_ms).
# Every run is checked: records_in = N, attempt 1 and no restarts, windows_fired =
# filtered = the number of keys, the same in every run, records_out = 0, no late records,
# no dead letters; for `on`, a checkpoint completed at least every 2 s after the first 4 s.
# Checkpoint figures come from the coordinator's log of the `on` runs (one line per
# completed checkpoint: duration, state bytes, uploaded bytes) and its checkpoint history
# (failed checkpoints).
#
# The recovery job (part 4) needs output that flows all the time and about 1 M keys of
# state: it reads M events (topic `rec`, 32 partitions, same distribution), keys by user,
# counts in 10-second tumbling windows kept 20 minutes for late data (allowed_lateness:
# 20m, so the state holds the (user, window) pairs of the last 20 minutes of event time,
# ≈ 120 windows × 8 000 users ≈ 0.96 M keys), and writes the results with clicks >= 2
# (≈ 340 per window, one window per 10 s of event time) to Kafka. Cluster: a coordinator
# with --heartbeat-timeout 2s --heartbeat-interval 200ms --restart-delay 200ms and two
# workers with 1 slot each and their own data directories (like two hosts sharing the
# checkpoint volume). First a reference run without a kill, then K runs: when 60 % of the
# input has been read and at least 2 checkpoints completed, the script kill -9s the worker
# that runs the job; the coordinator restarts it on the other worker, which restores the
# latest checkpoint from storage. Recovery time = from the kill to the first record in the
# output topic whose Kafka timestamp (set by the producer) is after the kill, broken down
# with the coordinator's and the new worker's logs. Each run is checked: FINISHED after
# exactly 1 restart, and the output, with identical duplicates removed, equals the
# reference run's (and no result key has two different values).
#
# Writes bench/out/checkpoints-report.md and prints it; raw results per run in
# bench/out/checkpoints-runs.jsonl, logs under bench/out/work-checkpoints/logs/. Exits
# non-zero if any check fails. Everything it starts is stopped on exit.
set -euo pipefail

RUNS=3
EVENTS=8000000
KEYS=rotating
RECOVERIES=3
REC_EVENTS=2000000
SEED=42
BUILD=1
PERF=0
JOB_TIMEOUT=600
LIMITS=""
BUILDDIR=""
USERS=100000
SPAN_MS=2400000
DISORDER_MS=2000
PARTS=128
REC_PARTS=32
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --events) EVENTS="$2"; shift 2 ;;
    --keys) KEYS="$2"; shift 2 ;;
    --recoveries) RECOVERIES="$2"; shift 2 ;;
    --rec-events) REC_EVENTS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --job-timeout) JOB_TIMEOUT="$2"; shift 2 ;;
    --limits) LIMITS="$2"; shift 2 ;;
    --build-dir) BUILDDIR="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --perf) PERF=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
    *) echo "run-checkpoints: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$RUNS" "$EVENTS" "$REC_EVENTS" "$JOB_TIMEOUT"; do
  case "$v" in ''|*[!0-9]*|0) echo "run-checkpoints: --runs, --events, --rec-events and --job-timeout must be positive integers" >&2; exit 2 ;; esac
done
case "$RECOVERIES" in ''|*[!0-9]*) echo "run-checkpoints: --recoveries must be an integer >= 0" >&2; exit 2 ;; esac
case "$KEYS" in
  rotating) SLOT_EXPR='(to_long(ts) / 60000) % 10' ;;
  uniform) SLOT_EXPR='abs(to_long(amount * 100)) % 10' ;;
  *) echo "run-checkpoints: --keys must be rotating or uniform, got '$KEYS'" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/bench/out"
BUILDDIR="${BUILDDIR:-$OUT/build}"
case "$BUILDDIR" in /*) ;; *) BUILDDIR="$ROOT/$BUILDDIR" ;; esac
BIN="$OUT/bin"
WORK="$OUT/work-checkpoints"
WEIR="$BUILDDIR/cli/weir"
COORD_BIN="$BUILDDIR/coordinator/weir-coordinator"
WORKER_BIN="$BUILDDIR/worker/weir-worker"
mkdir -p "$OUT" "$BIN" "$WORK"
rm -rf "$WORK/logs" "$WORK/data" "$WORK/storage" "$WORK/keys"
mkdir -p "$WORK/logs" "$WORK/data" "$WORK/storage"

log() { echo "run-checkpoints: $*" >&2; }

"$ROOT/scripts/deps.sh"

if [ "$BUILD" = 1 ]; then
  log "building weir (release) in $BUILDDIR"
  if [ -d "$BUILDDIR" ]; then
    meson configure "$BUILDDIR" -Dbuildtype=release -Dtests=false >/dev/null
  else
    meson setup "$BUILDDIR" "$ROOT" --buildtype=release -Dtests=false >/dev/null
  fi
  ninja -C "$BUILDDIR" cli/weir coordinator/weir-coordinator worker/weir-worker >/dev/null
  log "building gen-events"
  # shellcheck disable=SC2046
  cc -O2 -std=gnu11 -Wall -Wextra -o "$BIN/gen-events" "$ROOT/bench/gen-events.c" \
    $(pkg-config --cflags --libs rdkafka)
fi
# The source the binaries were built from (as in run-cluster.sh): HEAD, +dirty if the
# work tree differed, noted at build time; with --no-build that note is used if no
# binary is newer than it.
MARK="$BUILDDIR/.bench-commit"
if [ "$BUILD" = 1 ]; then
  echo "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo +dirty)" >"$MARK"
fi
if [ -f "$MARK" ] && [ ! "$WEIR" -nt "$MARK" ] && [ ! "$COORD_BIN" -nt "$MARK" ] && [ ! "$WORKER_BIN" -nt "$MARK" ]; then
  COMMIT="$(cat "$MARK")"
else
  COMMIT="unknown (binaries not built by this script; HEAD is $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown))"
fi
for b in "$WEIR" "$COORD_BIN" "$WORKER_BIN" "$BIN/gen-events"; do
  [ -x "$b" ] || { log "$b is missing (run without --no-build)"; exit 1; }
done
command -v kcat >/dev/null || { log "kcat is missing (scripts/deps.sh installs it)"; exit 1; }

# --- processes ------------------------------------------------------------------------
# Every process this script starts in the background is in PIDS; on exit (also on error
# or Ctrl-C) each one still running gets SIGTERM, then SIGKILL after 5 s.
PIDS=()
stop_pid() { # stop_pid PID [SECONDS] — SIGTERM, wait up to SECONDS (default 10); 0 if it exited
  local pid="$1" secs="${2:-10}" i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 $((secs * 10))); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 1
}
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then stop_pid "$p" 5 || true; fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- broker ---------------------------------------------------------------------------
TOPICS=(--topic "events:$PARTS" --topic drop:8 --topic "rec:$REC_PARTS" --topic out-ref:8)
for k in $(seq 1 "$RECOVERIES"); do TOPICS+=(--topic "out-rec$k:8"); done
"$WEIR" dev-kafka --port 0 "${TOPICS[@]}" >"$WORK/dev-kafka.out" 2>"$WORK/dev-kafka.err" &
DK_PID=$!
PIDS+=("$DK_PID")
for _ in $(seq 1 300); do
  grep -q '^ready' "$WORK/dev-kafka.out" 2>/dev/null && break
  kill -0 "$DK_PID" 2>/dev/null || { cat "$WORK/dev-kafka.err" >&2; log "dev-kafka exited"; exit 1; }
  sleep 0.1
done
grep -q '^ready' "$WORK/dev-kafka.out" || { log "dev-kafka not ready after 30 s"; exit 1; }
BROKERS="$(sed -n 's/^bootstrap: //p' "$WORK/dev-kafka.out")"
log "dev-kafka (pid $DK_PID) at $BROKERS"

# --- events ---------------------------------------------------------------------------
log "generating $EVENTS events into 'events' ($PARTS partitions) and $REC_EVENTS into 'rec' ($REC_PARTS partitions)"
"$BIN/gen-events" --brokers "$BROKERS" --topic events --count "$EVENTS" --partitions "$PARTS" \
  --seed "$SEED" --users "$USERS" --lower-users --span-ms "$SPAN_MS" \
  --disorder-ms "$DISORDER_MS" >"$WORK/gen.json"
cat "$WORK/gen.json" >&2
if [ "$RECOVERIES" -gt 0 ]; then
  "$BIN/gen-events" --brokers "$BROKERS" --topic rec --count "$REC_EVENTS" \
    --partitions "$REC_PARTS" --seed "$((SEED + 1))" --users "$USERS" --lower-users \
    --span-ms "$SPAN_MS" --disorder-ms "$DISORDER_MS" --window-ms 10000 >"$WORK/gen-rec.json"
  cat "$WORK/gen-rec.json" >&2
fi

# --- jobs -----------------------------------------------------------------------------
# write_state_job FILE NAME CHECKPOINT_LINE
write_state_job() {
  cat >"$1" <<EOF
name: $2
parallelism: 1
$3
${LIMITS:+limits: $LIMITS}
sources:
  - name: events
    kafka: {brokers: "$BROKERS", topic: events, stop: latest}
    schema: {user: string, url: string, ts: timestamp_ms, amount: double}
    event_time: {field: ts, max_out_of_orderness: 2s}
pipeline:
  - map: {user: user, ts: ts, slot: "$SLOT_EXPR"}
  - key_by: [user, slot]
  - window: {tumbling: 1h}
  - aggregate: {clicks: "count()"}
  - filter: "clicks < 0"
sinks:
  - kafka: {brokers: "$BROKERS", topic: drop}
EOF
}
# write_rec_job FILE OUTPUT_TOPIC STORAGE_DIR
write_rec_job() {
  cat >"$1" <<EOF
name: ckbench-recovery
parallelism: 1
checkpoint: {interval: 1s, storage: "file://$3"}
sources:
  - name: events
    kafka: {brokers: "$BROKERS", topic: rec, stop: latest}
    schema: {user: string, url: string, ts: timestamp_ms, amount: double}
    event_time: {field: ts, max_out_of_orderness: 2s}
pipeline:
  - key_by: user
  - window: {tumbling: 10s, allowed_lateness: 20m}
  - aggregate: {clicks: "count()"}
  - filter: "clicks >= 2"
sinks:
  - kafka: {brokers: "$BROKERS", topic: $2}
EOF
}
write_state_job "$WORK/job-off.yaml" ckbench-state ""
write_state_job "$WORK/job-on.yaml" ckbench-state-ck \
  "checkpoint: {interval: 1s, storage: \"file://$WORK/storage/STORAGE\"}"
"$WEIR" validate "$WORK/job-off.yaml" >"$WORK/plan-state.txt"

# --- measuring ------------------------------------------------------------------------
CLK_TCK="$(getconf CLK_TCK)"
proc_ticks() { # user+system ticks of the given pids, summed (0 for a pid that is gone)
  local p s=0 t
  for p in "$@"; do
    t="$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)"
    s=$((s + t))
  done
  echo "$s"
}
# machine-wide CPU ticks: "busy idle steal" (idle includes iowait)
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6, $9}' /proc/stat; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

RUNS_FILE="$OUT/checkpoints-runs.jsonl"
: >"$RUNS_FILE"

dump_logs() { # dump_logs DIR — the tail of every log of a run, for a failure report
  local f
  for f in "$1"/*.log "$1"/*.err; do
    [ -f "$f" ] || continue
    echo "----- $f (last 40 lines)" >&2
    tail -n 40 "$f" >&2
  done
}

# Cluster of one run: COORD_PID, URL, WPIDS (w1, w2, ...) and WPIDMAP ("w1=PID,w2=PID").
# start_cluster DIR NWORKERS [COORDINATOR FLAGS...]
start_cluster() {
  local dir="$1" nw="$2" cport hport i port ready=0
  shift 2
  cport="$(free_port)"
  hport="$(free_port)"
  URL="http://127.0.0.1:$hport"
  "$COORD_BIN" --listen "tcp://127.0.0.1:$cport" --http "127.0.0.1:$hport" "$@" \
    >"$dir/coordinator.log" 2>&1 &
  COORD_PID=$!
  PIDS+=("$COORD_PID")
  for _ in $(seq 1 100); do
    "$WEIR" workers --json --coordinator "$URL" >/dev/null 2>&1 && break
    kill -0 "$COORD_PID" 2>/dev/null || { dump_logs "$dir"; log "the coordinator exited"; exit 1; }
    sleep 0.1
  done
  WPIDS=()
  WPIDMAP=""
  for i in $(seq 1 "$nw"); do
    port="$(free_port)"
    mkdir -p "$dir/data-w$i"
    "$WORKER_BIN" --coordinator "tcp://127.0.0.1:$cport" --listen "tcp://127.0.0.1:$port" \
      --id "w$i" --slots 1 --data-dir "$dir/data-w$i" >"$dir/w$i.log" 2>&1 &
    WPIDS+=($!)
    PIDS+=($!)
    WPIDMAP="$WPIDMAP${WPIDMAP:+,}w$i=$!"
  done
  for _ in $(seq 1 300); do
    if "$WEIR" workers --json --coordinator "$URL" >"$dir/workers.json" 2>>"$dir/cli.err" &&
      python3 - "$dir/workers.json" "$nw" <<'PY'
import json, sys
ws = json.load(open(sys.argv[1]))["workers"]
ok = [w for w in ws if w["state"] == "ALIVE" and w["slots"] == 1 and w["slots_used"] == 0]
sys.exit(0 if len(ok) == len(ws) == int(sys.argv[2]) else 1)
PY
    then ready=1; break; fi
    for p in "$COORD_PID" "${WPIDS[@]}"; do
      kill -0 "$p" 2>/dev/null || { dump_logs "$dir"; log "a cluster process exited before the cluster was ready ($dir)"; exit 1; }
    done
    sleep 0.1
  done
  [ "$ready" = 1 ] || { dump_logs "$dir"; log "workers not ready after 30 s ($dir)"; exit 1; }
}

stop_cluster() { # stop_cluster DIR
  local p
  for p in "${WPIDS[@]}"; do
    stop_pid "$p" 10 || log "$1: worker pid $p did not stop within 10 s of SIGTERM (killed)"
  done
  stop_pid "$COORD_PID" 10 || log "$1: the coordinator did not stop within 10 s of SIGTERM (killed)"
}

# follow_job URL ID DIR POLL_S TIMEOUT_S [KILL_AT_RECORDS KILL_MIN_CK WPIDMAP]
# Polls GET /v1/jobs/ID until the job ends; each poll is a line of DIR/series.jsonl. With
# the kill arguments: once records_in >= KILL_AT_RECORDS and the latest completed
# checkpoint's id >= KILL_MIN_CK, sends SIGKILL to the worker that runs subtask 0 and
# notes the time in DIR/kill.json. Writes the final job JSON (plus the epoch ms just
# before and after that request) to DIR/status.json. Exits 1 unless FINISHED.
follow_job() {
  python3 - "$@" <<'PY'
import json, os, signal, sys, time, urllib.request
url, job, d, poll, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
kill_at = int(sys.argv[6]) if len(sys.argv) > 6 else None
kill_ck = int(sys.argv[7]) if len(sys.argv) > 7 else 0
pids = dict(kv.split("=") for kv in sys.argv[8].split(",")) if len(sys.argv) > 8 else {}
now = lambda: int(time.time() * 1000)
t_end = time.time() + timeout
killed = None
with open(os.path.join(d, "series.jsonl"), "w") as series:
    while True:
        tb = now()
        try:
            with urllib.request.urlopen(f"{url}/v1/jobs/{job}", timeout=10) as r:
                j = json.load(r)
        except Exception as e:  # the coordinator is busy or restarting the job: retry
            print(f"follow_job: GET /v1/jobs/{job}: {e}", file=sys.stderr)
            time.sleep(poll)
            continue
        ta = now()
        st, ck = j["stats"], j["checkpoints"]
        latest = (ck.get("latest_completed") or {}).get("id") or 0
        series.write(json.dumps({"t_ms": (tb + ta) // 2, "state": j["state"],
                                 "attempt": j["attempt"], "records_in": st["records_in"],
                                 "db_writes": st["state_db_writes"],
                                 "windows_fired": st["windows_fired"],
                                 "latest_completed": latest}) + "\n")
        if j["state"] in ("FINISHED", "FAILED", "CANCELED"):
            j["_t_before_ms"], j["_t_after_ms"] = tb, ta
            json.dump(j, open(os.path.join(d, "status.json"), "w"))
            sys.exit(0 if j["state"] == "FINISHED" else 1)
        if (kill_at is not None and killed is None and j["state"] == "RUNNING"
                and st["records_in"] >= kill_at and latest >= kill_ck):
            worker = j["tasks"][0]["worker"]
            t = now()
            os.kill(int(pids[worker]), signal.SIGKILL)
            killed = {"kill_ms": t, "worker": worker, "records_in": st["records_in"],
                      "latest_completed": latest, "submitted_ms": j["submitted_ms"]}
            json.dump(killed, open(os.path.join(d, "kill.json"), "w"))
            print(f"follow_job: killed worker {worker} (pid {pids[worker]}) at "
                  f"records_in {st['records_in']}, latest checkpoint {latest}", file=sys.stderr)
        if time.time() > t_end:
            print(f"follow_job: job {job} still {j['state']} after {timeout:.0f} s", file=sys.stderr)
            sys.exit(1)
        time.sleep(poll)
PY
}

submit() { # submit JOBFILE DIR — prints the job id
  "$WEIR" submit "$1" --json --coordinator "$URL" >"$2/submit.out" 2>"$2/submit.err" ||
    { cat "$2/submit.err" >&2; dump_logs "$2"; log "weir submit $1 failed"; exit 1; }
  python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["id"])' "$2/submit.out"
}

# run_state VARIANT ROUND — one run of the state job (off: no checkpoints, on: every 1 s)
run_state() {
  local variant="$1" round="$2" dir="$WORK/logs/$2-$1" job id c0 c1 dk0 dk1 m0 m1 rc=0 rss=0 h p
  mkdir -p "$dir"
  job="$dir/job.yaml"
  sed "s|STORAGE|$round-$variant|" "$WORK/job-$variant.yaml" >"$job"
  start_cluster "$dir" 1
  c0="$(proc_ticks "$COORD_PID" "${WPIDS[@]}")"
  dk0="$(proc_ticks "$DK_PID")"
  m0="$(machine_ticks)"
  id="$(submit "$job" "$dir")"
  follow_job "$URL" "$id" "$dir" 0.5 "$JOB_TIMEOUT" || rc=$?
  c1="$(proc_ticks "$COORD_PID" "${WPIDS[@]}")"
  dk1="$(proc_ticks "$DK_PID")"
  m1="$(machine_ticks)"
  if [ "$rc" != 0 ]; then dump_logs "$dir"; log "$variant round $round: the job did not finish (logs in $dir)"; exit 1; fi
  if [ "$variant" = on ]; then
    curl -fsS "$URL/v1/jobs/$id/checkpoints" >"$dir/checkpoints.json" 2>>"$dir/cli.err" ||
      { log "$variant round $round: GET checkpoints failed"; exit 1; }
  fi
  for p in "${WPIDS[@]}"; do
    h="$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)"
    rss=$((rss + h))
  done
  stop_cluster "$dir"
  python3 - "$variant" "$round" "$dir" "$id" "$((c1 - c0))" "$rss" "$((dk1 - dk0))" "$m0" "$m1" \
    "$CLK_TCK" "$EVENTS" "$WORK/keys" >>"$RUNS_FILE" <<'PY' || { dump_logs "$dir"; exit 1; }
import json, re, sys, datetime
variant, rnd, d, job, cpu, rss, dk, mb, ma, tck, events, keys_file = sys.argv[1:]
tck, events = int(tck), int(events)
def fail(msg):
    sys.exit(f"run-checkpoints: {variant} round {rnd}: {msg}")
r = json.load(open(f"{d}/status.json"))
st = r["stats"]
end_ms = (r["_t_before_ms"] + r["_t_after_ms"]) / 2 - r["state_ms"]
own = (end_ms - r["submitted_ms"]) / 1000.0
if r["attempt"] != 1 or r["restarts"] != 0:
    fail(f"the job was restarted (attempt {r['attempt']}): {r.get('failure')}")
if st["records_in"] != events:
    fail(f"records_in {st['records_in']}, expected {events}")
for k in ("records_out", "dead_letters", "late_records", "late_updates", "retractions"):
    if st[k] != 0:
        fail(f"{k} is {st[k]}, expected 0")
# every run must see the same keys: the first run's count is the reference
try:
    want_keys = int(open(keys_file).read())
except FileNotFoundError:
    want_keys = st["windows_fired"]
    open(keys_file, "w").write(str(want_keys))
if st["windows_fired"] != want_keys or st["filtered"] != want_keys:
    fail(f"windows_fired {st['windows_fired']} / filtered {st['filtered']}: expected both "
         f"{want_keys} (the keys of the first run)")
cks, failed = [], []
ts = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
    tzinfo=datetime.timezone.utc).timestamp() * 1000
if variant == "on":
    pat = re.compile(r"^(\S+) INFO coordinator job " + job + r": checkpoint (\d+) completed in "
                     r"(\d+) ms: (\d+) bytes of state, (\d+) uploaded")
    for line in open(f"{d}/coordinator.log"):
        m = pat.match(line)
        if m:
            cks.append({"id": int(m[2]), "t_ms": ts(m[1]), "duration_ms": int(m[3]),
                        "state_bytes": int(m[4]), "uploaded_bytes": int(m[5])})
    h = json.load(open(f"{d}/checkpoints.json"))
    failed = [{"id": c["id"], "reason": c["reason"]} for c in h["history"]
              if c["status"] == "FAILED"]
    if not cks or len(cks) < (own - 4) / 2:
        fail(f"only {len(cks)} checkpoints completed in {own:.1f} s (interval 1 s)")
# records_in at each checkpoint's completion, from the polled series (linear interpolation)
series = [json.loads(l) for l in open(f"{d}/series.jsonl")]
def records_at(t):
    prev = None
    for s in series:
        if s["t_ms"] >= t:
            if prev is None or s["t_ms"] == prev["t_ms"]:
                return s["records_in"]
            f = (t - prev["t_ms"]) / (s["t_ms"] - prev["t_ms"])
            return prev["records_in"] + f * (s["records_in"] - prev["records_in"])
        prev = s
    return series[-1]["records_in"]
for c in cks:
    c["records_in"] = round(records_at(c["t_ms"]))
d_ = [int(a) - int(b) for a, b in zip(ma.split(), mb.split())]
print(json.dumps({
    "variant": variant, "round": int(rnd), "job": job, "records": st["records_in"],
    "keys": st["windows_fired"], "own_seconds": round(own, 3),
    "events_per_s": st["records_in"] / own, "cpu_s": round(int(cpu) / tck, 2),
    "max_rss_mb": round(int(rss) / 1024), "dev_kafka_cpu_s": int(dk) / tck,
    "machine_idle_pct": round(100.0 * d_[1] / max(1, sum(d_)), 1),
    "other_cpu_s": round(max(0, d_[0] - int(cpu) - int(dk)) / tck, 2),
    "state_db_writes": st["state_db_writes"], "state_db_reads": st["state_db_reads"],
    "state_evictions": st["state_evictions"],
    "checkpoints": cks, "failed_checkpoints": failed, "series": series}))
PY
  python3 - "$RUNS_FILE" >&2 <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readlines()[-1])
print(f"run-checkpoints: {r['variant']} round {r['round']}: {r['own_seconds']} s, "
      f"{r['events_per_s'] / 1e3:.0f} K events/s, {r['keys']} keys, "
      f"{len(r['checkpoints'])} checkpoints, machine idle {r['machine_idle_pct']} %")
PY
}

HB_FLAGS=(--heartbeat-timeout 2s --heartbeat-interval 200ms --restart-delay 200ms)

# run_recovery NAME TOPIC KILL(0|1) — the recovery job on coordinator + 2 workers
run_recovery() {
  local name="$1" topic="$2" kill="$3" dir="$WORK/logs/$1" id rc=0
  mkdir -p "$dir"
  write_rec_job "$dir/job.yaml" "$topic" "$WORK/storage/$name"
  start_cluster "$dir" 2 "${HB_FLAGS[@]}"
  id="$(submit "$dir/job.yaml" "$dir")"
  if [ "$kill" = 1 ]; then
    follow_job "$URL" "$id" "$dir" 0.05 "$JOB_TIMEOUT" "$((REC_EVENTS * 6 / 10))" 2 "$WPIDMAP" || rc=$?
  else
    follow_job "$URL" "$id" "$dir" 0.5 "$JOB_TIMEOUT" || rc=$?
  fi
  if [ "$rc" != 0 ]; then dump_logs "$dir"; log "$name: the job did not finish (logs in $dir)"; exit 1; fi
  curl -fsS "$URL/v1/jobs/$id/checkpoints" >"$dir/checkpoints.json" 2>>"$dir/cli.err" || true
  stop_cluster "$dir"
  # every output record: Kafka timestamp (ms), key, value
  kcat -C -b "$BROKERS" -t "$topic" -o beginning -e -q -f '%T\t%k\t%s\n' >"$dir/output.tsv"
  python3 - "$name" "$dir" "$id" "$kill" "$WORK/logs/rec-ref/output.tsv" >>"$RUNS_FILE" <<'PY' || { dump_logs "$dir"; exit 1; }
import datetime, json, re, sys
name, d, job, kill, ref_file = sys.argv[1:]
def fail(msg):
    sys.exit(f"run-checkpoints: {name}: {msg}")
ts = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
    tzinfo=datetime.timezone.utc).timestamp() * 1000
def rows(f):
    out = []
    for line in open(f):
        t, k, v = line.rstrip("\n").split("\t")
        out.append((int(t), k, v))
    return out
r = json.load(open(f"{d}/status.json"))
out = rows(f"{d}/output.tsv")
if not out:
    fail("no output records")
res = {"variant": "recovery" if kill == "1" else "recovery-ref", "name": name, "job": job,
       "output_records": len(out), "restarts": r["restarts"], "attempt": r["attempt"]}
byk = {}
for _, k, v in out:
    byk.setdefault(k, set()).add(v)
two = [k for k, vs in byk.items() if len(vs) > 1]
if two:
    fail(f"{len(two)} result keys have two different values, e.g. {two[0]}: {sorted(byk[two[0]])}")
res["distinct_results"] = len(byk)
res["duplicates"] = len(out) - len(byk)
cks = [c for c in json.load(open(f"{d}/checkpoints.json"))["history"] if c["status"] == "COMPLETED"]
res["checkpoint_state_bytes_max"] = max((c["state_bytes"] for c in cks), default=0)
series = [json.loads(l) for l in open(f"{d}/series.jsonl")]
def records_at(series, attempt, t):
    """records_in of the attempt at time t, interpolated between polls"""
    ss = [s for s in series if s["attempt"] == attempt and s["state"] == "RUNNING"]
    prev = None
    for s in ss:
        if s["t_ms"] >= t:
            if prev is None:
                return s["records_in"] if s["t_ms"] - t < 100 else None
            f = (t - prev["t_ms"]) / max(1, s["t_ms"] - prev["t_ms"])
            return round(prev["records_in"] + f * (s["records_in"] - prev["records_in"]))
        prev = s
    return ss[-1]["records_in"] if ss else None
if kill == "0":
    if r["restarts"] != 0:
        fail(f"the reference run restarted: {r.get('failure')}")
    end_ms = (r["_t_before_ms"] + r["_t_after_ms"]) / 2 - r["state_ms"]
    res["own_seconds"] = round((end_ms - r["submitted_ms"]) / 1000.0, 3)
    res["records"] = r["stats"]["records_in"]
    # output gaps while running: the largest time between consecutive output records
    tl = sorted(t for t, _, _ in out)
    res["max_output_gap_ms"] = max(b - a for a, b in zip(tl, tl[1:]))
    res["first_output_after_submit_ms"] = tl[0] - r["submitted_ms"]
    print(json.dumps(res))
    sys.exit(0)
import os
if not os.path.exists(f"{d}/kill.json"):
    fail("the job finished before the kill point (60 % of the input read and 2 checkpoints "
         "completed); use more --rec-events")
if r["restarts"] != 1:
    fail(f"{r['restarts']} restarts, expected exactly 1 (failure: {r.get('failure')})")
ref = {(k, v) for _, k, v in rows(ref_file)}
got = {(k, v) for _, k, v in out}
if got != ref:
    fail(f"output differs from the reference run: {len(got - ref)} results not in it, "
         f"{len(ref - got)} missing")
k = json.load(open(f"{d}/kill.json"))
kill_ms = k["kill_ms"]
res.update({"kill_ms": kill_ms, "killed_worker": k["worker"],
            "kill_at_s": round((kill_ms - k["submitted_ms"]) / 1000.0, 2),
            "records_in_at_kill": k["records_in"], "latest_completed_at_kill": k["latest_completed"]})
before = [t for t, _, _ in out if t <= kill_ms]
after = [t for t, _, _ in out if t > kill_ms]
if not after:
    fail("no output record after the kill")
res["last_output_before_kill_ms"] = kill_ms - max(before) if before else None
res["first_output_after_kill_ms"] = min(after) - kill_ms
res["records_before_first_output"] = records_at(series, 2, min(after))
# the coordinator's view: detection, restart, deployment
ev = {}
for line in open(f"{d}/coordinator.log"):
    m = re.match(r"^(\d{4}-\d\d-\d\dT\S+Z) \S+ coordinator (.*)$", line.rstrip())
    if not m:
        continue
    t, msg = ts(m[1]), m[2]
    if t < kill_ms - 1000:
        continue
    def first(key):
        ev.setdefault(key, (t - kill_ms, msg))
    if re.match(r"worker \S+ lost", msg):
        first("worker_lost")
    if f"job {job} " in msg and "→ FAILING" in msg:
        first("failing")
    if f"job {job} " in msg and "→ RESTARTING" in msg:
        first("restarting")
    if f"job {job} " in msg and "attempt 2: deploying" in msg:
        first("deploy")
    if f"job {job} " in msg and "→ RUNNING: attempt 2" in msg:
        first("running")
new = "w2" if k["worker"] == "w1" else "w1"
for line in open(f"{d}/{new}.log"):
    m = re.match(r"^(\d{4}-\d\d-\d\dT\S+Z) \S+ \S+ (.*)$", line.rstrip())
    if not m:
        continue
    t, msg = ts(m[1]), m[2]
    if f"job {job} " in msg and "attempt 2: deploying" in msg:
        ev.setdefault("worker_deploying", (t - kill_ms, msg))
    mm = re.search(r"restored checkpoint (\d+) \((\d+) bytes\) from (.*)$", msg)
    if mm:
        ev.setdefault("restored", (t - kill_ms, msg))
        res["restored_checkpoint"] = int(mm[1])
        res["restored_bytes"] = int(mm[2])
        res["restored_from"] = mm[3]
for key in ("worker_lost", "restarting", "deploy", "worker_deploying", "restored", "running"):
    if key not in ev:
        fail(f"no '{key}' event in the logs after the kill")
res["events_ms"] = {key: round(v[0]) for key, v in ev.items()}
res["event_lines"] = {key: v[1] for key, v in ev.items()}
res["own_seconds"] = round(((r["_t_before_ms"] + r["_t_after_ms"]) / 2 - r["state_ms"]
                            - r["submitted_ms"]) / 1000.0, 3)
print(json.dumps(res))
PY
  python3 - "$RUNS_FILE" >&2 <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readlines()[-1])
keep = ("own_seconds", "output_records", "distinct_results", "first_output_after_kill_ms",
        "events_ms", "restored_bytes", "restored_from", "records_before_first_output")
print("run-checkpoints:", r["name"], json.dumps({k: r[k] for k in keep if k in r}))
PY
}

# --- runs -----------------------------------------------------------------------------
T_START="$(date +%s)"
for i in $(seq 1 "$RUNS"); do
  # odd rounds run off first, even rounds on first
  if [ $((i % 2)) = 1 ]; then order=(off on); else order=(on off); fi
  log "round $i/$RUNS: ${order[*]}"
  for v in "${order[@]}"; do run_state "$v" "$i"; done
done
if [ "$RECOVERIES" -gt 0 ]; then
  log "recovery: reference run (no kill)"
  run_recovery rec-ref out-ref 0
  for k in $(seq 1 "$RECOVERIES"); do
    log "recovery: run $k/$RECOVERIES (kill -9 at 60 % of the input)"
    run_recovery "rec-$k" "out-rec$k" 1
  done
fi
log "all runs took $(($(date +%s) - T_START)) s"

# --- profile --------------------------------------------------------------------------
# One more run of each variant (not counted above) with `perf record -e cpu-clock -g` on
# the worker from 3 s after the submit for 15 s, while the job is polled as usual. Per
# thread: CPU seconds and CPU µs per event read in those 15 s; for the window thread (the
# one that runs wr_state_lookup), what its samples were doing, by call chain.
if [ "$PERF" = 1 ]; then
  if ! command -v perf >/dev/null; then
    log "perf not found (apt-get install -y linux-perf); skipping the profile"
  else
    for v in off on; do
      dir="$WORK/logs/perf-$v"
      mkdir -p "$dir"
      sed "s|STORAGE|perf-$v|" "$WORK/job-$v.yaml" >"$dir/job.yaml"
      start_cluster "$dir" 1
      id="$(submit "$dir/job.yaml" "$dir")"
      (
        sleep 3
        now_ms >"$dir/perf.start"
        perf record -q -e cpu-clock -F 2000 -g -p "${WPIDS[0]}" -o "$dir/perf.data" -- sleep 15
      ) 2>"$dir/perf.err" &
      perf_pid=$!
      log "perf record of the worker ($v), 15 s from 3 s after the submit"
      follow_job "$URL" "$id" "$dir" 0.5 "$JOB_TIMEOUT" || log "perf-$v: the job did not finish"
      wait "$perf_pid" || log "perf record failed: $(cat "$dir/perf.err")"
      stop_cluster "$dir"
      perf report -i "$dir/perf.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | sed -e 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//' -e 's/[[:space:]]*$//' |
        sed -n '1,60p' >"$OUT/perf-checkpoints-$v.txt" || true
      perf script -i "$dir/perf.data" -F comm,tid,time,ip,sym 2>/dev/null >"$dir/perf.script" || true
      python3 - "$dir/perf.script" "$dir/series.jsonl" "$(cat "$dir/perf.start")" 15 \
        >"$OUT/perf-checkpoints-$v-threads.txt" <<'PY' || log "perf-$v: no profile summary"
import collections, json, re, sys
script, series_file, t0, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
HZ = 2000.0
samples, cur = [], None
for line in open(script):
    if not line.strip():
        if cur: samples.append(cur)
        cur = None
    elif not line.startswith((" ", "\t")):
        m = re.match(r"\s*(\S.*?)\s+(\d+)\s+([\d.]+):", line)
        cur = (m[1], int(m[2]), float(m[3]), []) if m else None
    elif cur:
        p = line.split(None, 1)
        cur[3].append(p[1].strip() if len(p) > 1 else "")
if cur: samples.append(cur)
series = [json.loads(l) for l in open(series_file)]
def records_at(t):
    best = 0
    for s in series:
        if s["t_ms"] <= t:
            best = s["records_in"]
    return best
events = records_at(t0 + secs * 1000) - records_at(t0)
def has(s, name):
    return any(name in f for f in s[3])
by = collections.Counter(s[1] for s in samples)
comm = {s[1]: s[0] for s in samples}
window = collections.Counter(s[1] for s in samples if has(s, "wr_state_lookup"))
source = collections.Counter(s[1] for s in samples if has(s, "wr_json_decode"))
wt = window.most_common(1)[0][0] if window else None
st = source.most_common(1)[0][0] if source else None
def role(t):
    return ("window thread" if t == wt else "source thread" if t == st else
            f"{comm[t]} (librdkafka)" if comm[t].startswith("rdk:") else
            f"{comm[t]} (RocksDB background)" if comm[t].startswith("rocksdb:") else
            f"{comm[t]} (other)")
roles = collections.Counter()
for t, n in by.items():
    roles[role(t)] += n
total = sum(by.values())
print(f"worker, {secs:.0f} s profiled at {HZ:.0f} Hz: {total / HZ:.2f} CPU s, {events:,} events "
      f"read meanwhile ({events / secs / 1e3:.0f} K/s)")
for r, n in roles.most_common():
    per = f", {n / HZ / events * 1e6:.2f} µs/event" if events else ""
    print(f"  {r:32s} {n / HZ:6.2f} CPU s ({100 * n / total:4.1f} %){per}")
if wt is None:
    sys.exit(0)
S = [s for s in samples if s[1] == wt]
def cat(s):
    if has(s, "wr_state_flush"):
        return ("checkpoint: cache flush, RocksDB write (memtable insert)" if has(s, "rocksdb_write")
                else "checkpoint: cache flush, scan of the cache's slots")
    if has(s, "rocksdb_checkpoint") or has(s, "CheckpointImpl") or has(s, "FlushMemTable"):
        return "checkpoint: RocksDB checkpoint (memtable flush, links)"
    if has(s, "DBImpl::Get") or has(s, "rocksdb_get"):
        return "state lookup: RocksDB read (cache miss)"
    if has(s, "wr_state_lookup"):
        return "state lookup: cache"
    return "other (window, aggregate, channel, ...)"
c = collections.Counter(cat(s) for s in S)
print(f"window thread: on CPU {len(S) / HZ:.2f} s of {secs:.0f} s")
for k, n in c.most_common():
    per = f", {n / HZ / events * 1e6:.2f} µs/event" if events else ""
    print(f"  {100 * n / len(S):5.1f} %  {n / HZ:6.2f} s{per}  {k}")
PY
      log "profile ($v): $OUT/perf-checkpoints-$v-threads.txt, $OUT/perf-checkpoints-$v.txt"
    done
  fi
fi

# --- report ---------------------------------------------------------------------------
REPORT="$OUT/checkpoints-report.md"
python3 - "$RUNS_FILE" "$WORK/gen.json" "$RUNS" "$KEYS" "$(date -u +%Y-%m-%dT%H:%MZ)" \
  "$(nproc)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
  "$(uname -r)" "$(pkg-config --modversion rdkafka)" \
  "$(dpkg-query -W -f='${Version}' librocksdb-dev 2>/dev/null || echo unknown)" \
  "$COMMIT" >"$REPORT" <<'PY'
import json, math, statistics, sys
(runs_file, gen_file, nruns, keys_mode, date, ncpu, cpu, kernel, rdk, rocks,
 commit) = sys.argv[1:]
runs = [json.loads(l) for l in open(runs_file)]
gen = json.load(open(gen_file))
state = {v: [r for r in runs if r["variant"] == v] for v in ("off", "on")}
rec = [r for r in runs if r["variant"] == "recovery"]
ref = [r for r in runs if r["variant"] == "recovery-ref"]
med = statistics.median
def pct(xs, p):
    """nearest-rank percentile"""
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)] if xs else float("nan")
MB = lambda b: f"{b / 1e6:.1f} MB"
fmt_n = lambda n: "?" if n is None else f"{n:,}"
last_before = lambda r: ("none since the start" if r["last_output_before_kill_ms"] is None
                         else f"{r['last_output_before_kill_ms']} ms")
N = gen["events"]
print(f"### Checkpoints, {date}\n")
print(f"Machine: {ncpu} cores ({cpu}), Linux {kernel}, librdkafka {rdk}, RocksDB "
      f"{rocks} (Debian), weir {commit}, release build; dev-kafka, coordinator, workers and "
      f"checkpoint storage (`file://`, same disk) on this machine.\n")
print(f"**State job**: {N:,} events ({gen['bytes'] / N:.0f} B each), 128 partitions; "
      f"key (user, slot), slot {keys_mode}; 1-hour tumbling count, results dropped; "
      f"{state['off'][0]['keys']:,} keys at the end. Parallelism 1, coordinator + 1 worker "
      f"(1 slot), fresh for each run; {nruns} rounds, off/on alternating.\n")
print("| variant | events/s (median) | runs (events/s) | own s (median) | CPU s | peak RSS "
      "| machine idle | CPU s of other processes |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
for v, label in (("off", "no checkpoints"), ("on", "checkpoints every 1 s")):
    rs = state[v]
    print(f"| {label} | {med(r['events_per_s'] for r in rs) / 1e3:.0f} K | "
          + ", ".join(f"{r['events_per_s'] / 1e3:.0f} K" for r in rs)
          + f" | {med(r['own_seconds'] for r in rs):.1f} | {med(r['cpu_s'] for r in rs):.1f} | "
          f"{med(r['max_rss_mb'] for r in rs):.0f} MB | {med(r['machine_idle_pct'] for r in rs):.0f} % | "
          f"{med(r['other_cpu_s'] for r in rs):.1f} |")
off_by = {r["round"]: r["events_per_s"] for r in state["off"]}
per = [r["events_per_s"] / off_by[r["round"]] for r in state["on"] if r["round"] in off_by]
ratio_med = med(r["events_per_s"] for r in state["on"]) / med(r["events_per_s"] for r in state["off"])
print(f"\n**Throughput with 1 s checkpoints / without: {med(per):.2f}** (median of the "
      f"per-round ratios: " + ", ".join(f"{x:.2f}" for x in per)
      + f"; ratio of medians {ratio_med:.2f}). Goal: ≥ 0.9.\n")
allck = [c for r in state["on"] for c in r["checkpoints"]]
steady = [c for c in allck if c["records_in"] >= N / 2]
failed = [f for r in state["on"] for f in r["failed_checkpoints"]]
def ckrow(label, cs):
    if not cs:
        return
    ratio = [c["uploaded_bytes"] / c["state_bytes"] for c in cs if c["state_bytes"]]
    print(f"| {label} | {len(cs)} | {pct([c['duration_ms'] for c in cs], 50)} | "
          f"{pct([c['duration_ms'] for c in cs], 99)} | {max(c['duration_ms'] for c in cs)} | "
          f"{MB(pct([c['state_bytes'] for c in cs], 50))} | {MB(pct([c['state_bytes'] for c in cs], 99))} | "
          f"{MB(pct([c['uploaded_bytes'] for c in cs], 50))} | {MB(pct([c['uploaded_bytes'] for c in cs], 99))} | "
          f"{pct(ratio, 50):.2f} | {pct(ratio, 99):.2f} | "
          f"{sum(c['uploaded_bytes'] for c in cs) / sum(c['state_bytes'] for c in cs):.2f} |")
print("| checkpoints (state job, every 1 s) | count | duration p50 ms | p99 ms | max ms "
      "| state p50 | state p99 | uploaded p50 | uploaded p99 | uploaded/state p50 | p99 "
      "| Σ uploaded / Σ state |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
ckrow("all runs, all checkpoints", allck)
ckrow("all runs, after half the input (state ≈ 1 M keys)", steady)
print(f"\nFailed checkpoints: {len(failed)}"
      + (" (" + "; ".join(sorted({f['reason'] or '?' for f in failed})) + ")" if failed else "")
      + ". Checkpoints per run: " + ", ".join(str(len(r["checkpoints"])) for r in state["on"]) + ".")
# changed entries per checkpoint in the steady part: RocksDB writes of the cache flush
ch = []
for r in state["on"]:
    ss = [s for s in r["series"] if s["records_in"] >= N / 2 and s["state"] == "RUNNING"]
    if len(ss) >= 2 and ss[-1]["latest_completed"] > ss[0]["latest_completed"]:
        ch.append((ss[-1]["db_writes"] - ss[0]["db_writes"])
                  / (ss[-1]["latest_completed"] - ss[0]["latest_completed"]))
if ch and steady:
    keys = state["on"][0]["keys"]
    per_key = pct([c["state_bytes"] for c in steady], 50) / keys
    print(f"\nChanged state per checkpoint after half the input: {med(ch):,.0f} entries written "
          f"to RocksDB by the cache flush per checkpoint (median over runs; "
          f"{100 * med(ch) / keys:.1f} % of the {keys:,} keys), ≈ {MB(med(ch) * per_key)} at "
          f"{per_key:.1f} B per key in the checkpoint's SST files, against "
          f"{MB(pct([c['uploaded_bytes'] for c in steady], 50))} uploaded (p50) and "
          f"{MB(statistics.mean(c['uploaded_bytes'] for c in steady))} (mean).")
if rec:
    r0 = ref[0] if ref else None
    print(f"\n**Recovery job**: {r0['records'] if r0 else '?':,} events, 32 partitions, key "
          "user, 10 s tumbling windows kept 20 min (allowed_lateness), results with clicks ≥ 2 "
          "to Kafka; checkpoints every 1 s; coordinator `--heartbeat-timeout 2s "
          "--heartbeat-interval 200ms --restart-delay 200ms`, 2 workers × 1 slot. "
          + (f"Reference run (no kill): {r0['own_seconds']:.1f} s, {r0['output_records']:,} "
             f"results, first output {r0['first_output_after_submit_ms']} ms after the submit, "
             f"largest gap between output records {r0['max_output_gap_ms']} ms, largest checkpoint "
             f"{MB(r0['checkpoint_state_bytes_max'])}." if r0 else "") + "\n")
    print("| run | killed at | kill → worker lost | → RESTARTING | → deploy sent | new worker "
          "deploying | → state restored | → first output record | restored "
          "| records read by the new attempt before its first output | last output before kill "
          "| duplicates |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in rec:
        e = r["events_ms"]
        print(f"| {r['name']} | {r['kill_at_s']} s, {r['records_in_at_kill']:,} records, "
              f"checkpoint {r['latest_completed_at_kill']} | {e['worker_lost']} ms | "
              f"{e['restarting']} ms | {e['deploy']} ms | {e['worker_deploying']} ms | "
              f"{e['restored']} ms | **{r['first_output_after_kill_ms']} ms** | "
              f"checkpoint {r['restored_checkpoint']}, {MB(r['restored_bytes'])} from "
              f"{r['restored_from']} | {fmt_n(r['records_before_first_output'])} | "
              f"{last_before(r)} | {r['duplicates']:,} |")
    if len(rec) > 1:
        e = {k: med(r["events_ms"][k] for r in rec) for k in rec[0]["events_ms"]}
        print(f"| median | | {e['worker_lost']:.0f} ms | {e['restarting']:.0f} ms | "
              f"{e['deploy']:.0f} ms | {e['worker_deploying']:.0f} ms | {e['restored']:.0f} ms | "
              f"**{med(r['first_output_after_kill_ms'] for r in rec):.0f} ms** | "
              f"{MB(med(r['restored_bytes'] for r in rec))} | | | |")
    print("\nAll times from the kill (`kill -9` sent). Every recovery run finished after exactly "
          "1 restart with output equal, after removing identical duplicates, to the reference "
          "run's, and no result key with two values.")
PY
cat "$REPORT"
log "report: $REPORT"
