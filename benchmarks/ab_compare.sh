#!/usr/bin/env bash
# Before/after: run `make bench`'s sequence, image, video and audio benchmarks on a checkout of REV (default: the
# commit before the regroup, 4990e00) and on this tree, alternating, one benchmark at a time; then three rounds of
# benchmarks/ab_micro.py in alternating processes. Usage: benchmarks/ab_compare.sh [REV] > ab.log
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-4990e00}
base=$(mktemp -d)/base
git worktree add -q --detach "$base" "$rev"
trap 'git worktree remove --force "$base"' EXIT
py=$PWD/.venv/bin/python
run() {  # run DIR CMD...: with DIR's own mmtok first on the path
  (cd "$1" && shift && PYTHONPATH=$PWD "$py" "$@")
}
for b in sequence image video audio; do
  for side in "$base" "$PWD"; do
    echo "=== $b $( [ "$side" = "$PWD" ] && echo after || echo "before ($rev)") $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    run "$side" benchmarks/bench_$b.py
  done
done
for round in 1 2 3; do
  for side in "$base" "$PWD"; do
    echo -n "round $round $( [ "$side" = "$PWD" ] && echo after || echo before): "
    run "$side" "$PWD/benchmarks/ab_micro.py"
  done
done
