#!/usr/bin/env bash
# Fuzz campaigns: builds every libFuzzer target of tests/fuzz (clang, ASan +
# UBSan, build dir build-fuzz) and runs each for SECONDS, starting from the
# committed corpus (new inputs go to a scratch copy, never into the tree).
# Prints exactly one line per target:
#     NAME EXECS CRASHES
# Crashes, timeouts (-timeout 25 s an input), out-of-memory stops (-rss_limit_mb
# 2048, or one malloc above -malloc_limit_mb 4200: above libhdf5's 4 GiB
# variable-length allocation, tests/fuzz/SUPPRESSIONS.md) and leaks all count as crashes; their inputs are kept
# under $FUZZ_WORK/NAME/ (crash-*, timeout-*, oom-*, leak-*).
# Exit 0: no crash; 1: some target crashed; 2: a target did not build.
#
#   tools/fuzz.sh 60                      # every target, 60 s each
#   FUZZ_TARGETS="prompt preset" tools/fuzz.sh 30
#   FUZZ_TARGETS=tokenizer FUZZ_STATS=stats.txt tools/fuzz.sh 900   # one target, 15 min
#   FUZZ_JOBS=2 tools/fuzz.sh 120         # two targets at a time
# Environment: FUZZ_BUILD (build-fuzz), FUZZ_WORK (/tmp/timeshard-fuzz),
# FUZZ_NICE (19), FUZZ_JOBS (1), FUZZ_TARGETS (all), FUZZ_STATS (file: adds
# "NAME EXECS CRASHES EXEC_PER_S EDGES" lines for the README's table).
set -u
SECONDS_EACH=${1:?usage: tools/fuzz.sh SECONDS}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
WORK=${FUZZ_WORK:-/tmp/timeshard-fuzz}
NICE=${FUZZ_NICE:-19}
JOBS=${FUZZ_JOBS:-1}
ALL="safetensors weights latents preset prompt storyboard sched_config wan_config controls video tokenizer tokenizer_json"
TARGETS=${FUZZ_TARGETS:-$ALL}

mkdir -p "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_FUZZ=ON \
      -DTS_BUILD_TESTS=ON >"$BUILD/fuzz-configure.log" 2>&1 || { echo "fuzz.sh: configure failed (see $BUILD/fuzz-configure.log)" >&2; exit 2; }
build_rc=0
for t in $TARGETS; do
  if ! nice -n "$NICE" cmake --build "$BUILD" -j"$(nproc)" --target "fuzz_$t" >"$BUILD/fuzz-build-$t.log" 2>&1; then
    echo "fuzz.sh: fuzz_$t did not build (see $BUILD/fuzz-build-$t.log)" >&2
    build_rc=2
  fi
done
[ $build_rc -eq 0 ] || exit 2

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mca_base_component_disable_dlclose=1
mkdir -p "$WORK"
cat "$ROOT/tests/common/lsan.supp" "$ROOT/tests/fuzz/lsan.supp" >"$WORK/lsan.supp"  # libraries' leaks, with reasons
export LSAN_OPTIONS=suppressions=$WORK/lsan.supp:print_suppressions=0
export ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0

run_one() {  # NAME -> writes $WORK/NAME/result: "NAME EXECS CRASHES EXEC_PER_S EDGES"
  local t=$1 dir=$WORK/$1
  rm -rf "$dir" && mkdir -p "$dir/corpus"
  cp "$ROOT/tests/fuzz/corpus/$t/"* "$dir/corpus/"
  (cd "$dir" && nice -n "$NICE" "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=25 \
     -rss_limit_mb=2048 -malloc_limit_mb=4200 -print_final_stats=1 -artifact_prefix="$dir/" \
     "$dir/corpus" >"$dir/log" 2>&1)
  local execs edges rate crashes
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
  edges=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 | cut -d' ' -f2)
  crashes=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  if [ -z "$execs" ]; then  # it died without its final stats: count it as a crash
    execs=$(grep -o '^#[0-9]*' "$dir/log" | tail -1 | tr -d '#')
    [ "$crashes" -gt 0 ] || crashes=1
  fi
  echo "$t ${execs:-0} $crashes ${rate:-0} ${edges:-0}" >"$dir/result"
}

mkdir -p "$WORK"
running=0
for t in $TARGETS; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait

rc=0
[ -n "${FUZZ_STATS:-}" ] && : >"$FUZZ_STATS"
for t in $TARGETS; do
  read -r name execs crashes rate edges <"$WORK/$t/result"
  echo "$name $execs $crashes"
  [ -n "${FUZZ_STATS:-}" ] && echo "$name $execs $crashes $rate $edges" >>"$FUZZ_STATS"
  [ "$crashes" -eq 0 ] || rc=1
done
exit $rc
