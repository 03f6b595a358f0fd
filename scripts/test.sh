#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install dependencies, build both
# trees, run the unit tests, the sanitizer builds and fuzzers (scripts/sanitize-and-fuzz.sh),
# then the nested KVM tests (real arm64 KVM inside an emulated arm64 host), the demo with
# scripted input (scripts/demo-check.sh), then the benchmark's smoke mode
# (bench/run.sh --smoke). Extra arguments select nested cases by name.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

"$root/scripts/setup-debian.sh"
"$root/scripts/build.sh"

echo "== unit tests"
"$root/build/native/unit_tests"

echo "== sanitizers and fuzzing"
"$root/scripts/sanitize-and-fuzz.sh"

echo "== nested KVM tests"
"$root/tests/nested/run.sh" "$root/build/arm64/petrel" "$@"

echo "== the demo (README's first command), its input scripted"
"$root/scripts/demo-check.sh"

# Not a speed test: one run per launcher, so the benchmark never rots. Fails only when a
# launcher did not boot the guest or its disk test failed (bench/README.md).
echo "== benchmark smoke run (petrel vs QEMU)"
"$root/bench/run.sh" --smoke --petrel "$root/build/arm64/petrel"
