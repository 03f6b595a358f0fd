#!/usr/bin/env bash
# Builds both trees from one source: build/native (host-independent code, the unit
# tests, and a petrel for `check`/`dtb`) and build/arm64 (the static arm64 petrel).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

cmake -S "$root" -B "$root/build/native" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build/native" -j "$jobs"
cmake -S "$root" -B "$root/build/arm64" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" >/dev/null
cmake --build "$root/build/arm64" -j "$jobs" --target petrel
echo "built: $root/build/arm64/petrel"
