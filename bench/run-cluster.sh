#!/usr/bin/env bash
# bench/run-cluster.sh — throughput of a keyed 1-minute tumbling count on a weir cluster
# (weir-coordinator + weir-worker processes on this machine) with 1 and 2 workers,
# against `weir local` and the hand-written C loop, all reading the same JSON events from
# `weir dev-kafka`, in the same run, alternating, reported as medians and ratios.
# See docs/benchmarks.md ("Cluster: 1 and 2 workers").
#
#   ./bench/run-cluster.sh [--runs R] [--events N] [--seed S] [--job-timeout SECS] [--no-build]
#
#   --runs R          rounds; each round runs the five variants below in turn (default 3)
#   --events N        events to generate (default 1000000)
#   --seed S          PRNG seed of the generator (default 42)
#   --job-timeout T   `weir submit --wait --timeout`: a cluster job still running after T
#                     seconds fails the benchmark, with the logs (default 120)
#   --no-build        reuse the binaries in bench/out/
#
# Data as in bench/run-tumbling.sh: 100 000 distinct lower-case users, event times over
# 30 minutes (31 one-minute windows), up to 1999 ms out of order within a partition,
# 32 partitions. Every weir variant runs the like-for-like "drop" job: key_by user,
# tumbling 1m, count(), then `filter: "clicks < 0"`, so every window result is computed
# and dropped and nothing is produced. Each round:
#   baseline         bench/baseline-tumbling.c (consume, scan user+ts, hash-table count)
#   local-p1         `weir local --parallelism 1` (embedded coordinator + worker)
#   cluster-1w-p1    coordinator + 1 worker (1 slot), `weir submit --parallelism 1`
#   cluster-2w-p2    coordinator + 2 workers (1 slot each), P=2: each subtask reads 16
#                    partitions and sends the records of the other subtask's keys (about
#                    half) over the network exchange (nng over TCP, loopback)
#   cluster-1w2s-p2  coordinator + 1 worker with 2 slots, P=2: the same job, but the
#                    exchange between the two subtasks is in-process
# For each cluster run a fresh coordinator and fresh workers are started (free loopback
# ports), the script waits until `weir workers --json` lists them ALIVE with the right
# slots, times `weir submit JOB --parallelism P --wait` (submit to FINISHED, measured
# here; `--wait` polls every 200 ms), reads `weir status ID --json`, and stops them.
# `weir local` and the baseline are timed the same way (wall clock around the command).
# Round i runs the variants in this order rotated by i-1 (round 2 starts with local-p1).
# Every run is checked: all N events read (records_in == N, summed over subtasks), no
# output (records_out == 0), every (user, window) fired and filtered exactly once
# (windows_fired == filtered == the generator's count), no late records, no dead
# letters; the baseline's pairs equal the generator's count and its counts sum to N;
# the cluster job's subtasks ran on the intended workers.
#
# Writes bench/out/cluster-report.md (Markdown) and prints it; raw results of every run
# are in bench/out/cluster-runs.jsonl, logs of every cluster run under
# bench/out/work-cluster/logs/. Exits non-zero if any check fails.
set -euo pipefail

RUNS=3
EVENTS=1000000
SEED=42
BUILD=1
JOB_TIMEOUT=120
USERS=100000
SPAN_MS=1800000
DISORDER_MS=2000
WINDOW_MS=60000
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --events) EVENTS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --job-timeout) JOB_TIMEOUT="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,44p' "$0"; exit 0 ;;
    *) echo "run-cluster: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$RUNS" "$EVENTS" "$JOB_TIMEOUT"; do
  case "$v" in ''|*[!0-9]*|0) echo "run-cluster: --runs, --events and --job-timeout must be positive integers" >&2; exit 2 ;; esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/bench/out"
BUILDDIR="$OUT/build"
BIN="$OUT/bin"
WORK="$OUT/work-cluster"
WEIR="$BUILDDIR/cli/weir"
COORD_BIN="$BUILDDIR/coordinator/weir-coordinator"
WORKER_BIN="$BUILDDIR/worker/weir-worker"
mkdir -p "$OUT" "$BIN" "$WORK"
rm -rf "$WORK/logs" "$WORK/data"
mkdir -p "$WORK/logs" "$WORK/data"

log() { echo "run-cluster: $*" >&2; }

"$ROOT/scripts/deps.sh"

if [ "$BUILD" = 1 ]; then
  log "building weir (release) in $BUILDDIR"
  if [ -d "$BUILDDIR" ]; then
    meson configure "$BUILDDIR" -Dbuildtype=release -Dtests=false >/dev/null
  else
    meson setup "$BUILDDIR" "$ROOT" --buildtype=release -Dtests=false >/dev/null
  fi
  ninja -C "$BUILDDIR" >/dev/null
  log "building gen-events and baseline-tumbling"
  for prog in gen-events baseline-tumbling; do
    # shellcheck disable=SC2046
    cc -O2 -std=gnu11 -Wall -Wextra -o "$BIN/$prog" "$ROOT/bench/$prog.c" \
      $(pkg-config --cflags --libs rdkafka)
  done
fi
# The source the binaries were built from: HEAD, +dirty if the work tree differed, noted
# at build time in $BUILDDIR/.bench-commit. With --no-build that note is used if no
# binary is newer than it (run-tumbling.sh and run-filter-map.sh build here too).
MARK="$BUILDDIR/.bench-commit"
if [ "$BUILD" = 1 ]; then
  echo "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo +dirty)" >"$MARK"
fi
if [ -f "$MARK" ] && [ ! "$WEIR" -nt "$MARK" ] && [ ! "$COORD_BIN" -nt "$MARK" ] && [ ! "$WORKER_BIN" -nt "$MARK" ]; then
  COMMIT="$(cat "$MARK")"
else
  COMMIT="unknown (binaries not built by this script; HEAD is $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown))"
fi
for b in "$WEIR" "$COORD_BIN" "$WORKER_BIN" "$BIN/gen-events" "$BIN/baseline-tumbling"; do
  [ -x "$b" ] || { log "$b is missing (run without --no-build)"; exit 1; }
done

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
"$WEIR" dev-kafka --port 0 --topic events:32 --topic drop:32 \
  >"$WORK/dev-kafka.out" 2>"$WORK/dev-kafka.err" &
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
log "generating $EVENTS events (seed $SEED, $USERS users, ${SPAN_MS} ms, disorder < ${DISORDER_MS} ms) into 'events' (32 partitions)"
"$BIN/gen-events" --brokers "$BROKERS" --topic events --count "$EVENTS" --partitions 32 \
  --seed "$SEED" --users "$USERS" --lower-users --span-ms "$SPAN_MS" \
  --disorder-ms "$DISORDER_MS" --window-ms "$WINDOW_MS" >"$WORK/gen.json"
cat "$WORK/gen.json" >&2
EXPECTED="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["expected_keyed_windows"])' "$WORK/gen.json")"

# --- the job --------------------------------------------------------------------------
JOB="$WORK/job-drop.yaml"
cat >"$JOB" <<EOF
name: bench-tumbling-cluster
parallelism: 1
sources:
  - name: events
    kafka: {brokers: "$BROKERS", topic: events, stop: latest}
    schema: {user: string, url: string, ts: timestamp_ms, amount: double}
    event_time: {field: ts, max_out_of_orderness: 2s}
pipeline:
  - key_by: user
  - window: {tumbling: 1m}
  - aggregate: {clicks: "count()"}
  - filter: "clicks < 0"
sinks:
  - kafka: {brokers: "$BROKERS", topic: drop}
EOF
"$WEIR" validate "$JOB" --parallelism 2 >"$WORK/plan-p2.txt"

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
now_ns() { date +%s%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

RUNS_FILE="$OUT/cluster-runs.jsonl"
: >"$RUNS_FILE"

# record VARIANT ROUND WALL_NS CPU_TICKS RSS_KB DK_TICKS M_BEFORE M_AFTER RESULT_FILE [JOB_JSON]
# checks one run's result and appends its JSON line to $RUNS_FILE.
record() {
  python3 - "$@" "$CLK_TCK" "$EVENTS" "$EXPECTED" >>"$RUNS_FILE" <<'PY'
import json, sys
(variant, rnd, wall_ns, cpu_ticks, rss_kb, dk_ticks, mb, ma, result_file, tck, events,
 expected) = sys.argv[1:]
events, expected, tck = int(events), int(expected), int(tck)
wall = int(wall_ns) / 1e9
d = [int(a) - int(b) for a, b in zip(ma.split(), mb.split())]
idle_pct = 100.0 * d[1] / max(1, sum(d))
def fail(msg):
    sys.exit(f"{variant} round {rnd}: {msg}")
lines = [l for l in open(result_file).read().splitlines() if l.startswith("{")]
if not lines:
    fail("no JSON result line")
r = json.loads(lines[-1])
extra = {}
if variant == "baseline":
    n, out, own_s = r["records"], 0, r["seconds"]
    if r["keyed_windows"] != expected or r["sum_counts"] != events:
        fail(f"{r['keyed_windows']} pairs summing to {r['sum_counts']}, expected "
             f"{expected} / {events}")
else:
    if variant == "local-p1":
        st, state, own_s = r, r["state"], r["seconds"]
    else:
        # r: `weir status ID --json`, plus the epoch ms just before/after that request
        st, state = r["stats"], r["state"]
        now_ms = (r["_t_before_ms"] + r["_t_after_ms"]) / 2
        own_s = (now_ms - r["state_ms"] - r["submitted_ms"]) / 1000.0
        extra["attempt"] = r["attempt"]
        extra["placement"] = {str(t["subtask"]): t["worker"] for t in r["tasks"]}
        extra["records_in_per_worker"] = {dep["worker"]: dep["stats"]["records_in"]
                                          for dep in r["deployments"]}
        if r["attempt"] != 1 or r["restarts"] != 0:
            fail(f"the job was restarted (attempt {r['attempt']}): {r.get('failure')}")
        workers = set(extra["placement"].values())
        want_workers = {"cluster-1w-p1": {"w1"}, "cluster-2w-p2": {"w1", "w2"},
                        "cluster-1w2s-p2": {"w1"}}[variant]
        if workers != want_workers or len(extra["placement"]) != r["parallelism"]:
            fail(f"subtasks placed on {extra['placement']}, expected workers {want_workers}")
    if state != "FINISHED":
        fail(f"state {state}: {lines[-1][:2000]}")
    n, out = st["records_in"], st["records_out"]
    want = {"dead_letters": 0, "late_records": 0, "late_updates": 0, "retractions": 0,
            "windows_fired": expected, "filtered": expected}
    for k, v in want.items():
        if st.get(k) != v:
            fail(f"{k} is {st.get(k)}, expected {v}: {lines[-1][:2000]}")
if n != events or out != 0:
    fail(f"records_in {n} / records_out {out}, expected {events} / 0")
print(json.dumps({"variant": variant, "round": int(rnd), "records": n, "out": out,
                  "seconds": round(wall, 3), "events_per_s": n / wall,
                  "own_seconds": round(own_s, 3),
                  "cpu_s": round(int(cpu_ticks) / tck, 2),
                  "max_rss_mb": round(int(rss_kb) / 1024),
                  "dev_kafka_cpu_s": int(dk_ticks) / tck,
                  "machine_idle_pct": round(idle_pct, 1),
                  "other_cpu_s": round(max(0, d[0] - int(cpu_ticks) - int(dk_ticks)) / tck, 2),
                  **extra}))
PY
  tail -n 1 "$RUNS_FILE" >&2
}

# run_plain VARIANT ROUND CMD... — baseline or `weir local`, under GNU time for CPU + RSS.
run_plain() {
  local variant="$1" round="$2"
  shift 2
  local t0 t1 dk0 dk1 m0 m1 rc=0
  dk0="$(proc_ticks "$DK_PID")"
  m0="$(machine_ticks)"
  t0="$(now_ns)"
  /usr/bin/time -f '%U %S %M' -o "$WORK/run.time" "$@" >"$WORK/run.out" 2>"$WORK/run.err" || rc=$?
  t1="$(now_ns)"
  dk1="$(proc_ticks "$DK_PID")"
  m1="$(machine_ticks)"
  cp "$WORK/run.err" "$WORK/logs/$round-$variant.err"
  if [ "$rc" != 0 ]; then
    cat "$WORK/run.err" >&2
    log "$variant round $round failed (exit $rc)"
    exit 1
  fi
  local u s rss
  read -r u s rss < <(tail -n 1 "$WORK/run.time")
  record "$variant" "$round" "$((t1 - t0))" \
    "$(python3 -c "print(round(($u + $s) * $CLK_TCK))")" "$rss" "$((dk1 - dk0))" \
    "$m0" "$m1" "$WORK/run.out"
}

# dump_logs DIR — the tail of every log of a cluster run, for a failure report
dump_logs() {
  local f
  for f in "$1"/*; do
    echo "----- $f (last 40 lines)" >&2
    tail -n 40 "$f" >&2
  done
}

# run_cluster VARIANT ROUND P SLOTS... — a fresh coordinator and one worker per SLOTS
# argument (w1, w2, ...), the job submitted at parallelism P and timed to FINISHED.
run_cluster() {
  local variant="$1" round="$2" par="$3"
  shift 3
  local dir="$WORK/logs/$round-$variant" cport hport url coord_pid i slots port
  local -a wpids=() wslots=("$@")
  mkdir -p "$dir"
  cport="$(free_port)"
  hport="$(free_port)"
  url="http://127.0.0.1:$hport"
  "$COORD_BIN" --listen "tcp://127.0.0.1:$cport" --http "127.0.0.1:$hport" \
    >"$dir/coordinator.log" 2>&1 &
  coord_pid=$!
  PIDS+=("$coord_pid")
  for _ in $(seq 1 100); do
    "$WEIR" workers --json --coordinator "$url" >/dev/null 2>&1 && break
    kill -0 "$coord_pid" 2>/dev/null || { dump_logs "$dir"; log "$variant: the coordinator exited"; exit 1; }
    sleep 0.1
  done
  for i in "${!wslots[@]}"; do
    slots="${wslots[$i]}"
    port="$(free_port)"
    "$WORKER_BIN" --coordinator "tcp://127.0.0.1:$cport" --listen "tcp://127.0.0.1:$port" \
      --id "w$((i + 1))" --slots "$slots" --data-dir "$WORK/data" \
      >"$dir/w$((i + 1)).log" 2>&1 &
    wpids+=($!)
    PIDS+=($!)
  done
  # ready: every worker ALIVE with its slots free
  local want ready=0
  want="$(IFS=,; echo "${wslots[*]}")"
  for _ in $(seq 1 300); do
    if "$WEIR" workers --json --coordinator "$url" >"$dir/workers.json" 2>>"$dir/cli.err" &&
      python3 - "$dir/workers.json" "$want" <<'PY'
import json, sys
ws = json.load(open(sys.argv[1]))["workers"]
want = {f"w{i + 1}": int(s) for i, s in enumerate(sys.argv[2].split(","))}
got = {w["id"]: w["slots"] for w in ws if w["state"] == "ALIVE" and w["slots_used"] == 0}
sys.exit(0 if got == want and len(ws) == len(want) else 1)
PY
    then ready=1; break; fi
    for p in "$coord_pid" "${wpids[@]}"; do
      kill -0 "$p" 2>/dev/null || { dump_logs "$dir"; log "$variant round $round: a cluster process exited before the cluster was ready"; exit 1; }
    done
    sleep 0.1
  done
  [ "$ready" = 1 ] || { dump_logs "$dir"; log "$variant round $round: workers not ready after 30 s"; exit 1; }

  local t0 t1 c0 c1 dk0 dk1 m0 m1 rc=0 id tb ta
  c0="$(proc_ticks "$coord_pid" "${wpids[@]}")"
  dk0="$(proc_ticks "$DK_PID")"
  m0="$(machine_ticks)"
  t0="$(now_ns)"
  "$WEIR" submit "$JOB" --parallelism "$par" --wait --timeout "${JOB_TIMEOUT}s" --json \
    --coordinator "$url" >"$dir/submit.out" 2>"$dir/submit.err" || rc=$?
  t1="$(now_ns)"
  c1="$(proc_ticks "$coord_pid" "${wpids[@]}")"
  dk1="$(proc_ticks "$DK_PID")"
  m1="$(machine_ticks)"
  id="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["id"])' "$dir/submit.out" 2>/dev/null || true)"
  if [ -n "$id" ]; then
    tb="$(($(now_ns) / 1000000))"
    "$WEIR" status "$id" --json --coordinator "$url" >"$dir/status.json" 2>>"$dir/cli.err" || true
    ta="$(($(now_ns) / 1000000))"
  fi
  if [ "$rc" != 0 ] || [ -z "$id" ] || [ ! -s "$dir/status.json" ]; then
    cp "$dir/status.json" "$dir/status-at-failure.json" 2>/dev/null || true
    dump_logs "$dir"
    log "$variant round $round: weir submit --wait failed (exit $rc); logs in $dir"
    exit 1
  fi
  python3 - "$dir/status.json" "$tb" "$ta" >"$dir/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["_t_before_ms"], r["_t_after_ms"] = int(sys.argv[2]), int(sys.argv[3])
print(json.dumps(r))
PY
  # peak RSS of the workers, summed
  local rss=0 h
  for p in "${wpids[@]}"; do
    h="$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)"
    rss=$((rss + h))
  done
  for p in "${wpids[@]}"; do
    stop_pid "$p" 10 || log "$variant round $round: worker pid $p did not stop within 10 s of SIGTERM (killed)"
  done
  stop_pid "$coord_pid" 10 || log "$variant round $round: the coordinator did not stop within 10 s of SIGTERM (killed)"
  record "$variant" "$round" "$((t1 - t0))" "$((c1 - c0))" "$rss" "$((dk1 - dk0))" \
    "$m0" "$m1" "$dir/result.json"
}

run_variant() { # run_variant VARIANT ROUND
  case "$1" in
    baseline) run_plain baseline "$2" "$BIN/baseline-tumbling" --brokers "$BROKERS" \
                --topic events --window-ms "$WINDOW_MS" ;;
    local-p1) run_plain local-p1 "$2" "$WEIR" local "$JOB" --parallelism 1 --json ;;
    cluster-1w-p1) run_cluster cluster-1w-p1 "$2" 1 1 ;;
    cluster-2w-p2) run_cluster cluster-2w-p2 "$2" 2 1 1 ;;
    cluster-1w2s-p2) run_cluster cluster-1w2s-p2 "$2" 2 2 ;;
  esac
}
VARIANTS=(baseline local-p1 cluster-1w-p1 cluster-2w-p2 cluster-1w2s-p2)
T_START="$(date +%s)"
for i in $(seq 1 "$RUNS"); do
  # round i starts with variant (i-1) mod 5, so no variant always runs in the same slot
  # (e.g. always right after the baseline)
  order=()
  for k in "${!VARIANTS[@]}"; do
    order+=("${VARIANTS[$(((i - 1 + k) % ${#VARIANTS[@]}))]}")
  done
  log "round $i/$RUNS: ${order[*]}"
  for v in "${order[@]}"; do run_variant "$v" "$i"; done
done
log "all rounds took $(($(date +%s) - T_START)) s"

# --- report ---------------------------------------------------------------------------
REPORT="$OUT/cluster-report.md"
python3 - "$RUNS_FILE" "$WORK/gen.json" "$RUNS" "$(date -u +%Y-%m-%dT%H:%MZ)" \
  "$(nproc)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
  "$(uname -r)" "$(pkg-config --modversion rdkafka)" \
  "$COMMIT" >"$REPORT" <<'PY'
import json, statistics, sys
runs_file, gen_file, nruns, date, ncpu, cpu, kernel, rdk, commit = sys.argv[1:]
runs = [json.loads(l) for l in open(runs_file)]
gen = json.load(open(gen_file))
by = {}
for r in runs:
    by.setdefault(r["variant"], []).append(r)
med = lambda v, k: statistics.median(x[k] for x in by[v])
def eps(v): return med(v, "events_per_s")
def per_round(a, b):
    """median over rounds of (a's events/s / b's events/s) in the same round"""
    rb = {x["round"]: x["events_per_s"] for x in by[b]}
    return statistics.median(x["events_per_s"] / rb[x["round"]] for x in by[a])
kw = gen["expected_keyed_windows"]
order = ["baseline", "local-p1", "cluster-1w-p1", "cluster-2w-p2", "cluster-1w2s-p2"]
names = {
    "baseline": "hand-written C loop (consume, scan user+ts, hash-table count)",
    "local-p1": "`weir local`, P=1",
    "cluster-1w-p1": "cluster, 1 worker × 1 slot, P=1",
    "cluster-2w-p2": "cluster, 2 workers × 1 slot, P=2 (exchange over the network)",
    "cluster-1w2s-p2": "cluster, 1 worker × 2 slots, P=2 (exchange in-process)",
}
base = eps("baseline")
own = lambda v: statistics.median(x["records"] / x["own_seconds"] for x in by[v])
print(f"### Cluster: keyed tumbling count, 1 and 2 workers, {date}\n")
print(f"{gen['events']:,} JSON events ({gen['bytes'] / gen['events']:.0f} B each on average), "
      f"100,000 distinct users, event times over {(gen['ts_max'] - gen['ts_min']) / 60000:.0f} "
      f"minutes ({gen['windows']} one-minute windows), up to 2 s out of order, in "
      f"`weir dev-kafka`, topic of 32 partitions; {kw:,} (user, window) results, every one "
      f"computed and dropped by `filter: \"clicks < 0\"` (nothing is produced). "
      f"{nruns} rounds, each running the five variants in turn (the order rotated by one "
      f"each round); medians. "
      f"Machine: {ncpu} cores ({cpu}), Linux {kernel}, librdkafka {rdk}, weir {commit}, "
      f"release build; coordinator, workers, broker and client all on this machine "
      f"(loopback TCP).\n")
print("| variant | events/s (median) | runs (events/s) | ratio to baseline (of medians) "
      "| ratio (median of per-round) | wall s | own s | events/s by own s (ratio) | CPU s "
      "| peak RSS | CPU s of dev-kafka | machine idle | CPU s of other processes |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for v in order:
    if v not in by:
        continue
    e = eps(v)
    allr = ", ".join(f"{x['events_per_s'] / 1e3:.0f} K" for x in by[v])
    print(f"| {names[v]} | {e / 1e3:.0f} K | {allr} | {e / base:.2f} | "
          f"{per_round(v, 'baseline'):.2f} | {med(v, 'seconds'):.2f} | {med(v, 'own_seconds'):.2f} "
          f"| {own(v) / 1e3:.0f} K ({own(v) / own('baseline'):.2f}) | {med(v, 'cpu_s'):.2f} | {med(v, 'max_rss_mb'):.0f} MB "
          f"| {med(v, 'dev_kafka_cpu_s'):.2f} | {med(v, 'machine_idle_pct'):.0f} % "
          f"| {med(v, 'other_cpu_s'):.2f} |")
print()
print("| comparison | ratio of medians | median of per-round ratios | per round |")
print("|---|---:|---:|---|")
for label, a, b in [
    ("network exchange: 2 workers / 1 worker × 2 slots (both P=2)", "cluster-2w-p2", "cluster-1w2s-p2"),
    ("scaling: 2 workers P=2 / 1 worker P=1", "cluster-2w-p2", "cluster-1w-p1"),
    ("scaling in one process: 1 worker × 2 slots P=2 / 1 worker P=1", "cluster-1w2s-p2", "cluster-1w-p1"),
    ("separate processes: cluster 1 worker P=1 / `weir local` P=1", "cluster-1w-p1", "local-p1"),
]:
    if a in by and b in by:
        rb = {x["round"]: x["events_per_s"] for x in by[b]}
        pr = ", ".join(f"{x['events_per_s'] / rb[x['round']]:.2f}" for x in by[a])
        print(f"| {label} | {eps(a) / eps(b):.2f} | {per_round(a, b):.2f} | {pr} |")
print()
if "cluster-2w-p2" in by:
    split = by["cluster-2w-p2"][0].get("records_in_per_worker", {})
    print(f"records_in per worker at 2 workers (round 1): "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(split.items())) + ".\n")
print("events/s = events read / wall seconds measured by the script around the command: "
      "the baseline and `weir local` from process start to exit, the cluster variants from "
      "`weir submit` to `--wait` seeing FINISHED (it polls every 200 ms; `weir local` every "
      "100 ms). own s = the program's own figure: the baseline's and `weir local --json`'s "
      "`seconds`, for the cluster the coordinator's time from accepting the job to FINISHED "
      "(from `weir status`: submitted_ms and state_ms), which leaves out the CLI's start, its "
      "check of the job file, the coordinator's Kafka check at submit and the polling "
      "delay; `events/s by own s` uses it, with the ratio to the baseline's. CPU s = user + system time over the "
      "run of the process (cluster: coordinator + workers); peak RSS = GNU time's, for the "
      "cluster the workers' VmHWM summed (fresh processes every run); machine idle = share "
      "of both cores idle during the run (/proc/stat); CPU s of other processes = the "
      "machine's busy CPU time during the run minus the measured process(es) and dev-kafka "
      "(other work on the machine, plus the `weir submit` CLI's polling). Medians throughout. Every run was "
      "checked: records_in = all events, records_out = 0, windows_fired = filtered = the "
      "generator's (user, window) count, no late records, no dead letters, no restarts, "
      "subtasks on the intended workers.")
PY
cat "$REPORT"
log "report: $REPORT"
