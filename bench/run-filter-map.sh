#!/usr/bin/env bash
# bench/run-filter-map.sh — throughput of `weir local` for a filter+map job against a
# hand-written C loop, both reading the same JSON events from `weir dev-kafka`, in the
# same run, alternating, reported as medians and ratios. See docs/benchmarks.md.
#
#   ./bench/run-filter-map.sh [--runs R] [--events N] [--seed S] [--perf] [--no-build]
#
#   --runs R     rounds; each round runs baseline, weir drop-all, weir filter+map (default 3)
#   --events N   events to generate (default 2000000; 32 partitions keep 2 M of them
#                within the mock broker's ~5 MB per partition)
#   --seed S     PRNG seed of the generator (default 42)
#   --perf       afterwards, one extra run of each weir variant under
#                `perf record -e cpu-clock -g`; top symbols go to bench/out/perf-*.txt
#   --no-build   reuse the binaries in bench/out/
#
# Writes bench/out/filter-map-report.md (Markdown table) and prints it; raw results of
# every run are in bench/out/filter-map-runs.jsonl. Exits non-zero if any run fails or
# counts a different number of records than the generator wrote.
#
# No taskset/chrt: on a 2-core machine weir (2 task threads + librdkafka threads), the
# baseline and the mock broker all need to overlap; pinning made results no steadier.
set -euo pipefail

RUNS=3
EVENTS=2000000
SEED=42
PERF=0
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --events) EVENTS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --perf) PERF=1; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "run-filter-map: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$RUNS" in ''|*[!0-9]*|0) echo "run-filter-map: --runs must be a positive integer" >&2; exit 2 ;; esac

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/bench/out"
BUILDDIR="$OUT/build"
BIN="$OUT/bin"
WORK="$OUT/work"
WEIR="$BUILDDIR/cli/weir"
mkdir -p "$OUT" "$BIN" "$WORK"

log() { echo "run-filter-map: $*" >&2; }

"$ROOT/scripts/deps.sh"

if [ "$BUILD" = 1 ]; then
  log "building weir (release) in $BUILDDIR"
  if [ -d "$BUILDDIR" ]; then
    meson configure "$BUILDDIR" -Dbuildtype=release -Dtests=false >/dev/null
  else
    meson setup "$BUILDDIR" "$ROOT" --buildtype=release -Dtests=false >/dev/null
  fi
  ninja -C "$BUILDDIR" >/dev/null
  log "building gen-events and baseline-filter-map"
  for prog in gen-events baseline-filter-map; do
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

topics=(--topic events:32 --topic drop:32 --topic outp:32)
for i in $(seq 1 "$RUNS"); do topics+=(--topic "out$i:32"); done
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
log "generating $EVENTS events (seed $SEED) into 'events' (32 partitions)"
"$BIN/gen-events" --brokers "$BROKERS" --topic events --count "$EVENTS" --partitions 32 \
  --seed "$SEED" >"$WORK/gen.json"
cat "$WORK/gen.json" >&2
EXPECTED_PASSED="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["expected_passed"])' "$WORK/gen.json")"

# --- jobs -----------------------------------------------------------------------------
write_job() { # write_job FILE FILTER OUTPUT_TOPIC
  cat >"$1" <<EOF
name: bench-filter-map
parallelism: 1
sources:
  - name: events
    kafka: {brokers: "$BROKERS", topic: events, stop: latest}
    schema: {user: string, url: string, ts: timestamp_ms, amount: double}
pipeline:
  - filter: "$2"
  - map: {user: "lower(user)", url: url, ts: ts, amount_cents: "amount * 100"}
sinks:
  - kafka: {brokers: "$BROKERS", topic: $3}
EOF
}
FILTER="amount > 0 && url != '/health'"
DROP_FILTER="amount < -1e18"
write_job "$WORK/job-drop.yaml" "$DROP_FILTER" drop
for i in $(seq 1 "$RUNS"); do write_job "$WORK/job-$i.yaml" "$FILTER" "out$i"; done
write_job "$WORK/job-perf.yaml" "$FILTER" outp

dk_cpu_ticks() { awk '{print $14 + $15}' "/proc/$DK_PID/stat"; }
# machine-wide CPU ticks: "busy idle steal" (idle includes iowait)
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6, $9}' /proc/stat; }
CLK_TCK="$(getconf CLK_TCK)"

RUNS_FILE="$OUT/filter-map-runs.jsonl"
: >"$RUNS_FILE"

# run_one VARIANT ROUND CMD... — runs CMD, records its JSON line plus CPU seconds of the
# process and of dev-kafka into $RUNS_FILE.
run_one() {
  local variant="$1" round="$2"
  shift 2
  local before after m_before m_after rc=0
  before="$(dk_cpu_ticks)"
  m_before="$(machine_ticks)"
  {
    TIMEFORMAT='%U %S'
    time "$@" >"$WORK/run.out" 2>"$WORK/run.err" || rc=$?
  } 2>"$WORK/run.time"
  after="$(dk_cpu_ticks)"
  m_after="$(machine_ticks)"
  if [ "$rc" != 0 ]; then
    cat "$WORK/run.err" >&2
    log "$variant round $round failed (exit $rc)"
    exit 1
  fi
  python3 - "$variant" "$round" "$(cat "$WORK/run.time")" "$((after - before))" "$CLK_TCK" \
    "$EVENTS" "$EXPECTED_PASSED" "$WORK/run.out" "$m_before" "$m_after" >>"$RUNS_FILE" <<'PY'
import json, sys
variant, rnd, cpu, dk_ticks, tck, events, passed, out_file, mb, ma = sys.argv[1:]
d = [int(a) - int(b) for a, b in zip(ma.split(), mb.split())]
idle_pct = 100.0 * d[1] / max(1, sum(d))
steal_pct = 100.0 * d[2] / max(1, sum(d))
lines = [l for l in open(out_file).read().splitlines() if l.startswith("{")]
if not lines:
    sys.exit(f"{variant} round {rnd}: no JSON result line")
line = lines[-1]
r = json.loads(line)
u, s = (float(x) for x in cpu.split())
events, passed = int(events), int(passed)
if variant == "baseline":
    n, out = r["records"], r["passed"]
    want_out = passed
else:
    n, out = r["records_in"], r["records_out"]
    want_out = passed if variant == "weir" else 0
    if r["state"] != "FINISHED" or r["dead_letters"] != 0 or r["filtered"] != n - want_out:
        sys.exit(f"{variant} round {rnd}: unexpected result {line}")
if n != events or out != want_out:
    sys.exit(f"{variant} round {rnd}: counted {n} records / {out} out, expected {events} / {want_out}")
print(json.dumps({"variant": variant, "round": int(rnd), "records": n, "out": out,
                  "seconds": r["seconds"], "events_per_s": n / r["seconds"],
                  "cpu_s": round(u + s, 3), "dev_kafka_cpu_s": int(dk_ticks) / int(tck),
                  "machine_idle_pct": round(idle_pct, 1), "steal_pct": round(steal_pct, 1)}))
PY
  tail -n 1 "$RUNS_FILE" >&2
}

for i in $(seq 1 "$RUNS"); do
  log "round $i/$RUNS"
  run_one baseline "$i" "$BIN/baseline-filter-map" --brokers "$BROKERS" --topic events
  run_one weir-drop "$i" "$WEIR" local "$WORK/job-drop.yaml" --parallelism 1 --json
  run_one weir "$i" "$WEIR" local "$WORK/job-$i.yaml" --parallelism 1 --json
done

# --- report ---------------------------------------------------------------------------
REPORT="$OUT/filter-map-report.md"
python3 - "$RUNS_FILE" "$WORK/gen.json" "$RUNS" "$(date -u +%Y-%m-%dT%H:%MZ)" \
  "$(nproc)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
  "$(uname -r)" "$(pkg-config --modversion rdkafka)" \
  "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo +dirty)" \
  >"$REPORT" <<'PY'
import json, statistics, sys
runs_file, gen_file, nruns, date, ncpu, cpu, kernel, rdk, commit = sys.argv[1:]
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
names = {
    "baseline": "hand-written C loop (consume, scan, filter, map; no produce)",
    "weir-drop": "`weir local`, filter drops everything (no produce)",
    "weir": "`weir local`, filter+map, produces 94 % to Kafka",
}
print(f"### filter+map throughput, {date}\n")
print(f"{gen['events']:,} JSON events ({gen['bytes'] / gen['events']:.0f} B each on average) "
      f"in `weir dev-kafka`, topic of 32 partitions; {gen['expected_passed']:,} pass the filter. "
      f"{nruns} rounds, each running the three variants in turn; medians. "
      f"Machine: {ncpu} cores ({cpu}), Linux {kernel}, librdkafka {rdk}, weir {commit}, "
      f"release build, parallelism 1.\n")
print("| variant | events/s (median) | runs (events/s) | ratio to baseline (of medians) "
      "| ratio (median of per-round) | CPU s of the process | CPU s of dev-kafka | machine idle |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
for v in ("baseline", "weir-drop", "weir"):
    e = med(v, "events_per_s")
    allr = ", ".join(f"{x['events_per_s'] / 1e3:.0f} K" for x in by[v])
    print(f"| {names[v]} | {e / 1e3:.0f} K | {allr} | {e / base:.2f} | {paired(v):.2f} "
          f"| {med(v, 'cpu_s'):.2f} | {med(v, 'dev_kafka_cpu_s'):.2f} "
          f"| {med(v, 'machine_idle_pct'):.0f} % |")
print()
print("events/s = events read / the program's own seconds (client creation or job start to "
      "the last record; weir's figure includes flushing its output). CPU s = user + system "
      "time of the whole process over the run; machine idle = share of both cores' time idle "
      "during the run (/proc/stat, steal excluded); CPU and idle columns are medians.")
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
    grep -E '^ +[0-9]' "$WORK/perf-$v.report" | sed -n '1,40p' >"$OUT/perf-weir-$v.txt" || true
    perf report -i "$WORK/perf-$v.data" --no-children --sort pid,comm -g none --stdio \
      >"$WORK/perf-$v-comm.report" 2>/dev/null || true
    grep -E '^ +[0-9]' "$WORK/perf-$v-comm.report" >"$OUT/perf-weir-$v-threads.txt" || true
    log "top symbols: $OUT/perf-weir-$v.txt"
  done
fi
