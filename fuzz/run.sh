#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) and fuzzes each for a
# bounded time, starting from its checked-in corpus (fuzz/corpus/<target>/: seeds + regress-* inputs, the
# crashes found so far). Prints the executions per target; exits non-zero when a target crashes, leaks,
# hangs (>10 s on one input), runs out of memory (2 GB) or breaks an invariant of fuzz/fuzz_common.hpp.
# The failing input is left in the build dir as crash-*/timeout-*/oom-* (reproduce: build/fuzz-run/fuzz_<t> <file>).
#
#   fuzz/run.sh [seconds per target = 30] [target...]      e.g. fuzz/run.sh 60 npy fastv
# Environment: VTR_FUZZ_BUILD (build dir, default build/fuzz-run; the `fuzz` preset uses build/fuzz), CXX (default clang++), VTR_FUZZ_JOBS (build
# jobs and targets fuzzed at once, default 2: libFuzzer uses one core per target), VTR_FUZZ_SEED (libFuzzer's
# -seed; unset = a random seed per run, which is what exploring needs; CI sets it so that its smoke run walks the
# same mutations every time and a red CI always means a regression, never a lucky new find).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
build=${VTR_FUZZ_BUILD:-build/fuzz-run}
cxx=${CXX:-clang++}
jobs=${VTR_FUZZ_JOBS:-2}
command -v "$cxx" >/dev/null || { echo "fuzz/run.sh: $cxx not found (apt-get install clang)" >&2; exit 2; }

cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE= >/dev/null
cmake --build "$build" -j "$jobs"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.cpp; do t=${f#fuzz/fuzz_}; targets+=("${t%.cpp}"); done
fi

seeds=$(pwd)/fuzz/corpus
rm -f "$build"/fuzz_*.rc "$build"/fuzz_*.log
fuzz_one() {  # target → $build/fuzz_<t>.log and $build/fuzz_<t>.rc
  local t=$1
  mkdir -p "$build/corpus-$t"  # grows during the run; the checked-in corpus is only read
  set +e
  (cd "$build" && ./fuzz_"$t" ${VTR_FUZZ_SEED:+-seed="$VTR_FUZZ_SEED"} -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "corpus-$t" "$seeds/$t" >"fuzz_$t.log" 2>&1)
  echo $? >"$build/fuzz_$t.rc"
}

running=0
for t in "${targets[@]}"; do
  [ -x "$build/fuzz_$t" ] || { echo "fuzz/run.sh: no target fuzz_$t" >&2; exit 2; }
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

status=0
echo "---- fuzz: executions per target (${secs} s each) ----"
for t in "${targets[@]}"; do
  log="$build/fuzz_$t.log"
  rc=$(cat "$build/fuzz_$t.rc")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf 'fuzz_%-10s %10s executions, coverage %5s, exit %d\n' "$t" "${runs:-?}" "${cov:-?}" "$rc"
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "---- fuzz_$t failed; end of $log:"
    tail -30 "$log"
  fi
done
exit $status
