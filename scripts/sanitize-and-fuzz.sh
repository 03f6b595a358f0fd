#!/usr/bin/env bash
# The unit tests under sanitizers, then every libFuzzer target for a while (issue 11):
#  - build/fuzz: the unit tests with ASan and UBSan (any report fails the run), and each
#    tests/fuzz/<target>.cc for FUZZ_SECONDS seconds (default 60) from a fresh copy of its
#    committed seeds in tests/fuzz/corpus/<target>/, as many at once as there are cores;
#  - build/tsan: with TSan, the unit tests whose code starts threads (CMakeLists.txt:
#    PETREL_THREADED_UNIT_TESTS; TSan finds nothing in the others).
# Fails on any finding, after running every target; a fuzzer's finding is left in
# build/fuzz/findings/<target>/ (replay it with build/fuzz/<target> FILE). Prints one line
# per target: "fuzz: TARGET N runs in S s". All trees are built with Debian's clang 19
# (clang 14 cannot compile libstdc++ 12's <expected>), with line tables only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz_seconds=${FUZZ_SECONDS:-60}
jobs=${PETREL_JOBS:-$(nproc)}
started=$SECONDS

"$root/scripts/setup-debian.sh"

export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-19/bin/llvm-symbolizer
export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:external_symbolizer_path=$ASAN_SYMBOLIZER_PATH

# One configuration per tree; only what the tree runs is built. Without NDEBUG, so that
# assertions hold too. The fuzz tree's libraries and fuzzers at -O1 (for executions per
# second), the unit tests' own sources at -O0 (Catch2's main() alone takes 70 s to compile
# instrumented at -O1; the tests run in seconds either way); the TSan tree at -O0.
build() {
  local tree=$1 opt=$2 targets=$3
  shift 3
  local phase=$SECONDS
  cmake -S "$root" -B "$root/build/$tree" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$opt -gline-tables-only" \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 "$@" >/dev/null
  # shellcheck disable=SC2086 # $targets is a list of names
  cmake --build "$root/build/$tree" -j "$jobs" --target $targets
  echo "built: build/$tree ($targets) in $((SECONDS - phase)) s"
}

build fuzz -O1 "unit_tests fuzz_targets" -DPETREL_FUZZ=ON -DPETREL_TESTS=ON \
  -DPETREL_UNIT_TEST_OPTIONS=-O0
build tsan -O0 threaded_unit_tests -DPETREL_SANITIZE=thread

phase=$SECONDS
echo "== unit tests with ASan and UBSan"
"$root/build/fuzz/unit_tests"
echo "ran: unit tests with ASan and UBSan in $((SECONDS - phase)) s"

phase=$SECONDS
echo "== unit tests with TSan (those whose code starts threads)"
"$root/build/tsan/threaded_unit_tests"
echo "ran: unit tests with TSan in $((SECONDS - phase)) s"

# Runs one target from a fresh copy of its seeds; its exit status goes to $work/status.
fuzz() {
  local target=$1 work=$2 findings=$3 status=0
  # config_fuzz makes a private folder under TMPDIR; a crash leaves it behind, here.
  # -timeout: any one input that takes seconds is a finding (every target bounds its work).
  TMPDIR="$work/tmp" "$root/build/fuzz/$target" -max_total_time="$fuzz_seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" "$work/corpus" \
    >"$work/log" 2>&1 || status=$?
  echo "$status" >"$work/status"
}

phase=$SECONDS
echo "== fuzzing, ${fuzz_seconds} s per target, $jobs at a time"
targets=()
failed=()
running=0
for source in "$root"/tests/fuzz/*_fuzz.cc; do
  target=$(basename "$source" .cc)
  seeds="$root/tests/fuzz/corpus/$target"
  work="$root/build/fuzz/run/$target"
  findings="$root/build/fuzz/findings/$target"
  if [ ! -d "$seeds" ]; then
    echo "fuzz: $target has no seed corpus in tests/fuzz/corpus/$target" >&2
    failed+=("$target")
    continue
  fi
  rm -rf "$work" "$findings"
  mkdir -p "$work/corpus" "$work/tmp" "$findings"
  cp "$seeds"/* "$work/corpus/"
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
  fuzz "$target" "$work" "$findings" &
  running=$((running + 1))
  targets+=("$target")
done
wait
echo "ran: fuzzing in $((SECONDS - phase)) s"

summary=()
for target in "${targets[@]}"; do
  work="$root/build/fuzz/run/$target"
  findings="$root/build/fuzz/findings/$target"
  status=$(cat "$work/status" 2>/dev/null || echo none)
  runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$work/log" | tail -n 1)
  secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$work/log" | tail -n 1)
  if [ -z "$runs" ]; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    secs='?'
  fi
  line="fuzz: $target ${runs:-0} runs in ${secs} s"
  # libFuzzer's exit status covers crashes, timeouts, OOMs and leaks; a sanitizer report that
  # did not end the run would be a bug in the build flags, and is a finding all the same.
  if [ "$status" != 0 ] || grep -qE '^==[0-9]+==(ERROR|WARNING)|runtime error:' "$work/log" ||
    [ -n "$(ls -A "$findings")" ]; then
    echo "$line: FINDING (exit status $status); last lines of $work/log:" >&2
    tail -n 60 "$work/log" >&2
    echo "fuzz: $target: the input is in ${findings#"$root"/}/: $(cd "$findings" && echo *)" >&2
    failed+=("$target")
    line="$line: FINDING"
  fi
  echo "$line"
  summary+=("$line")
done

echo "== sanitizers and fuzzing: $((SECONDS - started)) s"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitize-and-fuzz: findings in: ${failed[*]}" >&2
  exit 1
fi
