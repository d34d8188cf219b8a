#!/usr/bin/env bash
# scripts/check-format.sh — fails if any C file differs from what clang-format (the
# root .clang-format) would write. Fix with: clang-format -i FILE
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --git-dir >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.h')
else
  mapfile -t files < <(find common worker coordinator cli tests bench -name '*.[ch]')
fi
clang-format --dry-run --Werror "${files[@]}"
echo "format: ${#files[@]} files formatted as .clang-format says"
