#!/usr/bin/env bash
# The unit tests under sanitizers, then every libFuzzer target for a while (issue 11):
#  - build/asan: the unit tests with ASan and UBSan (any report fails the run);
#  - build/tsan: the unit tests with TSan;
#  - build/fuzz: each tests/fuzz/<target>.cc for FUZZ_SECONDS seconds (default 60), from a
#    fresh copy of its committed seeds in tests/fuzz/corpus/<target>/.
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
# assertions hold too. The unit tests at -O0 (half the compile time of -O1; they run in
# seconds either way), the fuzzers at -O1 (for executions per second).
build() {
  local tree=$1 opt=$2 target=$3
  shift 3
  local phase=$SECONDS
  cmake -S "$root" -B "$root/build/$tree" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$opt -gline-tables-only" \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 "$@" >/dev/null
  cmake --build "$root/build/$tree" -j "$jobs" --target "$target"
  echo "built: build/$tree ($target) in $((SECONDS - phase)) s"
}

build asan -O0 unit_tests -DPETREL_SANITIZE=address,undefined
build tsan -O0 unit_tests -DPETREL_SANITIZE=thread
build fuzz -O1 fuzz_targets -DPETREL_FUZZ=ON -DPETREL_TESTS=OFF

echo "== unit tests with ASan and UBSan"
"$root/build/asan/unit_tests"

# All of them: the lifecycle, the virtio transport and its devices, the event loop and the
# console have threads, and the rest costs seconds.
echo "== unit tests with TSan"
"$root/build/tsan/unit_tests"

echo "== fuzzing, ${fuzz_seconds} s per target"
# config_fuzz makes a private folder under TMPDIR; a crash leaves it behind, here.
export TMPDIR="$root/build/fuzz/tmp"
summary=()
failed=()
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
  rm -rf "$work" "$findings" "$TMPDIR"
  mkdir -p "$work/corpus" "$findings" "$TMPDIR"
  cp "$seeds"/* "$work/corpus/"
  status=0
  # -timeout: any one input that takes seconds is a finding (every target bounds its work).
  "$root/build/fuzz/$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$findings/" "$work/corpus" >"$work/log" 2>&1 ||
    status=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$work/log" | tail -n 1)
  secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$work/log" | tail -n 1)
  if [ -z "$runs" ]; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    secs='?'
  fi
  line="fuzz: $target ${runs:-0} runs in ${secs} s"
  # libFuzzer's exit status covers crashes, timeouts, OOMs and leaks; a sanitizer report that
  # did not end the run would be a bug in the build flags, and is a finding all the same.
  if [ "$status" -ne 0 ] || grep -qE '^==[0-9]+==(ERROR|WARNING)|runtime error:' "$work/log" ||
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
