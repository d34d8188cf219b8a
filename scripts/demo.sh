#!/usr/bin/env bash
# scripts/demo.sh — install what is missing, build, and run the example job live on a
# small cluster: an embedded Kafka broker (weir dev-kafka), a weir-coordinator and two
# weir-workers on this machine, the example job (clicks per user per minute, on event
# time) submitted with `weir submit` at parallelism 2 — so records cross between the two
# workers — a feed of sample click events, and the window results, late events and dead
# letters as they arrive. Ctrl-C stops everything.
#
#   ./scripts/demo.sh                 Kafka on 9092, coordinator 7100 / REST 8081,
#                                     workers 7201 and 7202
#   WEIR_DEMO_PORT=19092 WEIR_DEMO_BASE=17100 ./scripts/demo.sh   other ports
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
ninja -C build >/dev/null

PORT=${WEIR_DEMO_PORT:-9092}
BASE=${WEIR_DEMO_BASE:-7100}
CTL=tcp://127.0.0.1:$BASE
REST=http://127.0.0.1:$((BASE + 981))
WEIR=./build/cli/weir
export WEIR_COORDINATOR=$REST
JOB=examples/clicks-per-user-per-minute.yaml
workdir=$(mktemp -d)
pids=()

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup INT TERM EXIT

# 1. the broker; wait for it to say "ready"
mkfifo "$workdir/broker.out"
$WEIR dev-kafka --port "$PORT" --topic clicks:4 --topic clicks-per-user:4 --topic clicks-late:1 \
  --topic clicks-dlq:1 \
  >"$workdir/broker.out" 2>"$workdir/broker.err" &
pids+=($!)
while read -r line; do
  echo "broker: $line"
  [ "$line" = ready ] && break
done <"$workdir/broker.out"
cat "$workdir/broker.out" >/dev/null &
pids+=($!)
BOOT=127.0.0.1:$PORT

# 2. the job (the example uses localhost:9092; point it at this broker)
sed "s/localhost:9092/$BOOT/g" "$JOB" >"$workdir/job.yaml"
echo "job: $JOB"
$WEIR validate "$workdir/job.yaml" | sed 's/^/  plan: /'

# 3. the cluster: a coordinator and two workers, each with a log of its own
./build/coordinator/weir-coordinator --listen "$CTL" --http "127.0.0.1:$((BASE + 981))" \
  2>"$workdir/coordinator.log" &
pids+=($!)
for i in 1 2; do
  ./build/worker/weir-worker --coordinator "$CTL" --listen "tcp://127.0.0.1:$((BASE + 100 + i))" \
    --id "worker-$i" --slots 2 --data-dir "$workdir" 2>"$workdir/worker-$i.log" &
  pids+=($!)
done
for _ in $(seq 1 100); do # wait (at most 10 s) until both workers have registered
  [ "$($WEIR workers --json 2>/dev/null | grep -o '"ALIVE"' | wc -l)" -ge 2 ] && break
  sleep 0.1
done
$WEIR workers | sed 's/^/  /'
JOB_ID=$($WEIR submit "$workdir/job.yaml" --parallelism 2)
echo "submitted: job $JOB_ID"
$WEIR status "$JOB_ID" | sed 's/^/  /'

# 4. the results, late events and dead letters, as they arrive
kcat -C -b "$BOOT" -t clicks-per-user -o beginning -u -q -f 'result      %k %s\n' 2>/dev/null &
pids+=($!)
kcat -C -b "$BOOT" -t clicks-late -o beginning -u -q -f 'late        %s\n' 2>/dev/null &
pids+=($!)
kcat -C -b "$BOOT" -t clicks-dlq -o beginning -u -q \
  -f 'dead letter %s  <- %h\n' 2>/dev/null &
pids+=($!)

cat <<TXT

weir demo is running.
  broker      $BOOT (weir dev-kafka; topics clicks, clicks-per-user, clicks-late, clicks-dlq)
  cluster     coordinator $CTL, REST API $REST; workers worker-1, worker-2
  job         $JOB_ID at parallelism 2 (one subtask on each worker)
  windows     one minute of event time closes every 10 s (the feed runs time 6x faster)
  logs        $workdir/coordinator.log, $workdir/worker-1.log, $workdir/worker-2.log
  try         WEIR_COORDINATOR=$REST $WEIR status $JOB_ID
              WEIR_COORDINATOR=$REST $WEIR workers
              curl -s $REST/v1/jobs/$JOB_ID
              kcat -C -b $BOOT -t clicks-per-user -o beginning -e
  docs        docs/getting-started.md, docs/cluster.md
Ctrl-C stops everything.

TXT

# 5. the feed, in the foreground until Ctrl-C
python3 scripts/demo-events.py --rate 10 | kcat -P -b "$BOOT" -t clicks 2>/dev/null || true
