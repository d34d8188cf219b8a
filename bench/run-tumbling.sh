#!/usr/bin/env bash
# bench/run-tumbling.sh — throughput of `weir local` for a keyed 1-minute tumbling count
# against a hand-written C loop, both reading the same JSON events from `weir dev-kafka`,
# in the same run, alternating, reported as medians and ratios. See docs/benchmarks.md.
#
#   ./bench/run-tumbling.sh [--runs R] [--events N] [--seed S] [--limits YAML] [--perf] [--no-build]
#
#   --runs R     rounds; each round runs baseline, weir-drop, weir (default 3)
#   --events N   events to generate (default 2000000; 32 partitions keep 2 M of them
#                within the mock broker's ~5 MB per partition)
#   --seed S     PRNG seed of the generator (default 42)
#   --limits Y   a `limits:` mapping for both weir jobs, e.g. '{channel_batches: 64}'
#                (default: none, weir's defaults)
#   --perf       afterwards, one extra run of each weir variant under
#                `perf record -e cpu-clock -g`; top symbols go to bench/out/perf-tumbling-*.txt
#   --no-build   reuse the binaries in bench/out/
#
# Data: 100 000 distinct users (lower-case), event times spread evenly over 30 minutes
# (31 one-minute windows) and up to 1999 ms out of order within a partition, so with
# max_out_of_orderness 2s no event is late. Each round:
#   baseline   bench/baseline-tumbling.c: consume, scan user and ts, count per
#              (user, minute) in a hash table; produces nothing
#   weir-drop  `weir local`, same job plus `filter: "clicks < 0"` after the aggregate:
#              every window result is computed and dropped; produces nothing
#              (like-for-like with the baseline)
#   weir       `weir local`, the real job: writes every (user, window) count to Kafka
# Every run is checked: all events read; the baseline's (user, window) pairs equal the
# generator's count and its counts sum to N; weir's records_out is that count (0 for
# weir-drop), and weir's output topic, read back after the run (not timed), holds exactly
# the baseline's counts (same pairs, same sums, same checksum, no duplicates).
#
# Writes bench/out/tumbling-report.md (Markdown table) and prints it; raw results of
# every run are in bench/out/tumbling-runs.jsonl. Exits non-zero if any check fails.
set -euo pipefail

RUNS=3
EVENTS=2000000
SEED=42
PERF=0
BUILD=1
USERS=100000
SPAN_MS=1800000
DISORDER_MS=2000
WINDOW_MS=60000
LIMITS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --events) EVENTS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --perf) PERF=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --limits) LIMITS="$2"; shift 2 ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "run-tumbling: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$RUNS" in ''|*[!0-9]*|0) echo "run-tumbling: --runs must be a positive integer" >&2; exit 2 ;; esac

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/bench/out"
BUILDDIR="$OUT/build"
BIN="$OUT/bin"
WORK="$OUT/work-tumbling"
WEIR="$BUILDDIR/cli/weir"
mkdir -p "$OUT" "$BIN" "$WORK"

log() { echo "run-tumbling: $*" >&2; }

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

# --- broker ---------------------------------------------------------------------------
DK_PID=""
cleanup() {
  if [ -n "$DK_PID" ] && kill -0 "$DK_PID" 2>/dev/null; then
    kill "$DK_PID" 2>/dev/null || true
    wait "$DK_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Results are ~85 bytes each and there are ~1.47 M of them: 64 partitions keep them all.
topics=(--topic events:32 --topic drop:32 --topic outp:64)
for i in $(seq 1 "$RUNS"); do topics+=(--topic "out$i:64"); done
"$WEIR" dev-kafka --port 0 "${topics[@]}" >"$WORK/dev-kafka.out" 2>"$WORK/dev-kafka.err" &
DK_PID=$!
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

# --- jobs -----------------------------------------------------------------------------
write_job() { # write_job FILE OUTPUT_TOPIC [EXTRA_STEP]
  cat >"$1" <<EOF
name: bench-tumbling
parallelism: 1
${LIMITS:+limits: $LIMITS}
sources:
  - name: events
    kafka: {brokers: "$BROKERS", topic: events, stop: latest}
    schema: {user: string, url: string, ts: timestamp_ms, amount: double}
    event_time: {field: ts, max_out_of_orderness: 2s}
pipeline:
  - key_by: user
  - window: {tumbling: 1m}
  - aggregate: {clicks: "count()"}
${3:-}
sinks:
  - kafka: {brokers: "$BROKERS", topic: $2}
EOF
}
write_job "$WORK/job-drop.yaml" drop '  - filter: "clicks < 0"'
for i in $(seq 1 "$RUNS"); do write_job "$WORK/job-$i.yaml" "out$i"; done
write_job "$WORK/job-perf.yaml" outp

dk_cpu_ticks() { awk '{print $14 + $15}' "/proc/$DK_PID/stat"; }
# machine-wide CPU ticks: "busy idle steal" (idle includes iowait)
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6, $9}' /proc/stat; }
CLK_TCK="$(getconf CLK_TCK)"

RUNS_FILE="$OUT/tumbling-runs.jsonl"
: >"$RUNS_FILE"

# run_one VARIANT ROUND CMD... — runs CMD, records its JSON line plus CPU seconds and
# peak RSS of the process and CPU seconds of dev-kafka into $RUNS_FILE.
run_one() {
  local variant="$1" round="$2"
  shift 2
  local before after m_before m_after rc=0
  before="$(dk_cpu_ticks)"
  m_before="$(machine_ticks)"
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%U %S %M' -o "$WORK/run.time" "$@" >"$WORK/run.out" 2>"$WORK/run.err" || rc=$?
  else
    {
      TIMEFORMAT='%U %S 0'
      time "$@" >"$WORK/run.out" 2>"$WORK/run.err" || rc=$?
    } 2>"$WORK/run.time"
  fi
  after="$(dk_cpu_ticks)"
  m_after="$(machine_ticks)"
  if [ "$rc" != 0 ]; then
    cat "$WORK/run.err" >&2
    log "$variant round $round failed (exit $rc)"
    exit 1
  fi
  python3 - "$variant" "$round" "$(tail -n 1 "$WORK/run.time")" "$((after - before))" "$CLK_TCK" \
    "$EVENTS" "$EXPECTED" "$WORK/run.out" "$m_before" "$m_after" >>"$RUNS_FILE" <<'PY'
import json, sys
variant, rnd, cpu, dk_ticks, tck, events, expected, out_file, mb, ma = sys.argv[1:]
d = [int(a) - int(b) for a, b in zip(ma.split(), mb.split())]
idle_pct = 100.0 * d[1] / max(1, sum(d))
steal_pct = 100.0 * d[2] / max(1, sum(d))
lines = [l for l in open(out_file).read().splitlines() if l.startswith("{")]
if not lines:
    sys.exit(f"{variant} round {rnd}: no JSON result line")
line = lines[-1]
r = json.loads(line)
u, s, rss_kb = cpu.split()
events, expected = int(events), int(expected)
extra = {}
if variant == "baseline":
    n, out = r["records"], r["keyed_windows"]
    want_out = expected
    if r["sum_counts"] != events:
        sys.exit(f"baseline round {rnd}: counts sum to {r['sum_counts']}, expected {events}")
    extra["checksum"] = r["checksum"]
else:
    n, out = r["records_in"], r["records_out"]
    want_out = expected if variant == "weir" else 0
    if r["state"] != "FINISHED" or r["dead_letters"] != 0:
        sys.exit(f"{variant} round {rnd}: unexpected result {line}")
    want = {"late_records": 0, "late_updates": 0, "retractions": 0, "windows_fired": expected,
            "filtered": expected if variant == "weir-drop" else 0}
    for k, v in want.items():
        if k in r and r[k] != v:
            sys.exit(f"{variant} round {rnd}: {k} is {r[k]}, expected {v}: {line}")
    extra["state_evictions"] = r.get("state_evictions", 0)
    extra["state_db_writes"] = r.get("state_db_writes", 0)
if n != events or out != want_out:
    sys.exit(f"{variant} round {rnd}: counted {n} records / {out} out, expected {events} / {want_out}")
print(json.dumps({"variant": variant, "round": int(rnd), "records": n, "out": out,
                  "seconds": r["seconds"], "events_per_s": n / r["seconds"],
                  "cpu_s": round(float(u) + float(s), 3), "max_rss_mb": round(int(rss_kb) / 1024),
                  "dev_kafka_cpu_s": int(dk_ticks) / int(tck),
                  "machine_idle_pct": round(idle_pct, 1), "steal_pct": round(steal_pct, 1),
                  **extra}))
PY
  tail -n 1 "$RUNS_FILE" >&2
}

# check_results ROUND TOPIC — reads weir's results back (not timed) and compares them
# with the baseline's: same (user, window) pairs, same counts, no duplicates.
check_results() {
  local round="$1" topic="$2"
  "$BIN/baseline-tumbling" --brokers "$BROKERS" --topic "$topic" --results >"$WORK/check.out" 2>"$WORK/check.err" || {
    cat "$WORK/check.err" >&2
    log "reading the results of round $round from '$topic' failed"
    exit 1
  }
  python3 - "$round" "$EVENTS" "$EXPECTED" "$WORK/check.out" "$RUNS_FILE" <<'PY'
import json, sys
rnd, events, expected, check_file, runs_file = sys.argv[1:]
c = json.loads(open(check_file).read().strip().splitlines()[-1])
base = {r["checksum"] for r in map(json.loads, open(runs_file)) if r["variant"] == "baseline"}
if len(base) != 1:
    sys.exit(f"round {rnd}: the baseline runs disagree: checksums {sorted(base)}")
want = (int(expected), int(events), 0, base.pop())
got = (c["keyed_windows"], c["sum_counts"], c["duplicates"], c["checksum"])
if got != want:
    sys.exit(f"round {rnd}: weir's results (windows, sum, duplicates, checksum) = {got}, "
             f"the baseline's {want}")
print(f"run-tumbling: round {rnd}: weir's {c['records']} results match the baseline's",
      file=sys.stderr)
PY
}

for i in $(seq 1 "$RUNS"); do
  log "round $i/$RUNS"
  run_one baseline "$i" "$BIN/baseline-tumbling" --brokers "$BROKERS" --topic events \
    --window-ms "$WINDOW_MS"
  run_one weir-drop "$i" "$WEIR" local "$WORK/job-drop.yaml" --parallelism 1 --json
  run_one weir "$i" "$WEIR" local "$WORK/job-$i.yaml" --parallelism 1 --json
  check_results "$i" "out$i"
done

# --- report ---------------------------------------------------------------------------
REPORT="$OUT/tumbling-report.md"
python3 - "$RUNS_FILE" "$WORK/gen.json" "$RUNS" "$(date -u +%Y-%m-%dT%H:%MZ)" \
  "$(nproc)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
  "$(uname -r)" "$(pkg-config --modversion rdkafka)" \
  "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo +dirty)" \
  "$LIMITS" >"$REPORT" <<'PY'
import json, statistics, sys
runs_file, gen_file, nruns, date, ncpu, cpu, kernel, rdk, commit, limits = sys.argv[1:]
runs = [json.loads(l) for l in open(runs_file)]
gen = json.load(open(gen_file))
by = {}
for r in runs:
    by.setdefault(r["variant"], []).append(r)
med = lambda v, k: statistics.median(x[k] for x in by[v])
base = med("baseline", "events_per_s")
def paired(v):
    b = {x["round"]: x["events_per_s"] for x in by["baseline"]}
    return statistics.median(x["events_per_s"] / b[x["round"]] for x in by[v])
kw = gen["expected_keyed_windows"]
names = {
    "baseline": "hand-written C loop (consume, scan user+ts, hash-table count; no produce)",
    "weir-drop": "`weir local`, results dropped by `filter: \"clicks < 0\"` (no produce)",
    "weir": f"`weir local`, writes the {kw / 1e6:.2f} M results to Kafka",
}
print(f"### keyed tumbling count throughput, {date}\n")
print(f"{gen['events']:,} JSON events ({gen['bytes'] / gen['events']:.0f} B each on average), "
      f"100,000 distinct users, event times over {(gen['ts_max'] - gen['ts_min']) / 60000:.0f} "
      f"minutes ({gen['windows']} one-minute windows), up to 2 s out of order, in "
      f"`weir dev-kafka`, topic of 32 partitions; {kw:,} (user, window) results. "
      f"{nruns} rounds, each running the three variants in turn; medians. "
      f"Machine: {ncpu} cores ({cpu}), Linux {kernel}, librdkafka {rdk}, weir {commit}, "
      f"release build, parallelism 1"
      + (f", weir jobs with `limits: {limits}`" if limits else "") + ".\n")
print("| variant | events/s (median) | runs (events/s) | ratio to baseline (of medians) "
      "| ratio (median of per-round) | CPU s of the process | peak RSS | CPU s of dev-kafka "
      "| machine idle |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
for v in ("baseline", "weir-drop", "weir"):
    e = med(v, "events_per_s")
    allr = ", ".join(f"{x['events_per_s'] / 1e3:.0f} K" for x in by[v])
    print(f"| {names[v]} | {e / 1e3:.0f} K | {allr} | {e / base:.2f} | {paired(v):.2f} "
          f"| {med(v, 'cpu_s'):.2f} | {med(v, 'max_rss_mb'):.0f} MB "
          f"| {med(v, 'dev_kafka_cpu_s'):.2f} | {med(v, 'machine_idle_pct'):.0f} % |")
print()
print("events/s = events read / the program's own seconds (client creation or job start to "
      "the last result; weir's figure includes firing the windows and flushing its output). "
      "CPU s = user + system time of the whole process over the run; machine idle = share of "
      "both cores' time idle during the run (/proc/stat, steal excluded); CPU, RSS and idle "
      "columns are medians. Every weir run's output was read back and matched the baseline's "
      "counts exactly.")
PY
cat "$REPORT"
log "report: $REPORT"

# --- profile --------------------------------------------------------------------------
if [ "$PERF" = 1 ]; then
  if ! command -v perf >/dev/null; then
    log "perf not found (apt-get install -y linux-perf); skipping the profile"
    exit 0
  fi
  for v in drop perf; do
    log "perf record of weir ($v)"
    perf record -q -e cpu-clock -g -o "$WORK/perf-$v.data" -- \
      "$WEIR" local "$WORK/job-$v.yaml" --parallelism 1 --json >/dev/null 2>"$WORK/perf-$v.err"
    # flat profiles (release builds have no frame pointers, so call chains are partial)
    perf report -i "$WORK/perf-$v.data" --no-children --sort dso,symbol -g none --stdio \
      >"$WORK/perf-$v.report" 2>/dev/null || true
    grep -E '^ +[0-9]' "$WORK/perf-$v.report" | sed -n '1,40p' >"$OUT/perf-tumbling-$v.txt" || true
    perf report -i "$WORK/perf-$v.data" --no-children --sort pid,comm -g none --stdio \
      >"$WORK/perf-$v-comm.report" 2>/dev/null || true
    grep -E '^ +[0-9]' "$WORK/perf-$v-comm.report" >"$OUT/perf-tumbling-$v-threads.txt" || true
    log "top symbols: $OUT/perf-tumbling-$v.txt"
  done
fi
