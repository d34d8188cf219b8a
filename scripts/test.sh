#!/usr/bin/env bash
# scripts/test.sh — install what is missing, build, and run the whole test suite:
# once in a normal (-Werror) build and once under AddressSanitizer +
# UndefinedBehaviorSanitizer. Ends with one line "N passed, N failed".
#
#   ./scripts/test.sh                 everything
#   ./scripts/test.sh --suite unit    one meson suite (unit, fuzz, integration)
#   WEIR_SKIP_ASAN=1 ./scripts/test.sh   skip the sanitizer pass
set -uo pipefail

cd "$(dirname "$0")/.."
./scripts/deps.sh || exit 1

extra=("$@")
passed=0
failed=0

run_suite() { # name builddir meson-setup-args...
  local name=$1 dir=$2
  shift 2
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); return; }
  fi
  if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
    cat "$dir.build.log"
    echo "== $name: build FAILED"
    failed=$((failed + 1))
    return
  fi
  echo "== $name: running tests"
  meson test -C "$dir" --print-errorlogs --num-processes 2 "${extra[@]}" 2>&1 | tee "$dir.test.log" | grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Timeout|Expected Fail|Unexpected Pass|Skipped):' || true
  local ok fail to
  ok=$(grep -E '^Ok:' "$dir.test.log" | awk '{print $2}')
  fail=$(grep -E '^Fail:' "$dir.test.log" | awk '{print $2}')
  to=$(grep -E '^Timeout:' "$dir.test.log" | awk '{print $2}')
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${fail:-0} + ${to:-0}))
  if ! grep -qE '^Ok:' "$dir.test.log"; then
    echo "== $name: no test summary (meson test did not run)"
    failed=$((failed + 1))
  fi
}

run_suite "release build" build -Dwerror=true
if [ -z "${WEIR_SKIP_ASAN:-}" ]; then
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run_suite "ASan+UBSan build" build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
