#!/usr/bin/env bash
# scripts/demo.sh — install what is missing, build, and run the example job live:
# an embedded Kafka broker (weir dev-kafka), the example job (weir local: clicks per
# user per minute, on event time), a feed of sample click events, and the window
# results, late events and dead letters as they arrive.
# Ctrl-C stops everything.
#
#   ./scripts/demo.sh                 port 9092, examples/clicks-per-user-per-minute.yaml
#   WEIR_DEMO_PORT=19092 ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
ninja -C build >/dev/null

PORT=${WEIR_DEMO_PORT:-9092}
WEIR=./build/cli/weir
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
$WEIR local "$workdir/job.yaml" 2>"$workdir/job.log" &
pids+=($!)

# 3. the results, late events and dead letters, as they arrive
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
  windows     one minute of event time closes every 10 s (the feed runs time 6x faster)
  job log     $workdir/job.log
  try         $WEIR validate $JOB
              kcat -C -b $BOOT -t clicks-per-user -o beginning -e
  docs        docs/getting-started.md
Ctrl-C stops everything.

TXT

# 4. the feed, in the foreground until Ctrl-C
python3 scripts/demo-events.py --rate 10 | kcat -P -b "$BOOT" -t clicks 2>/dev/null || true
