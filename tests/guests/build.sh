#!/usr/bin/env bash
# Assembles the bare-metal test guests into arm64 Image files, and builds the static test
# programs for the Linux guest into OUT_DIR/bin: build.sh OUT_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out"
assemble() { # assemble SOURCE NAME [CPP FLAGS...]
  local src=$1 name=$2; shift 2
  aarch64-linux-gnu-gcc -nostdlib -c "$@" -I"$here" "$here/$src" -o "$out/$name.o"
  aarch64-linux-gnu-ld -Ttext=0 -e _start "$out/$name.o" -o "$out/$name.elf"
  aarch64-linux-gnu-objcopy -O binary "$out/$name.elf" "$out/$name.img"
  rm -f "$out/$name.o" "$out/$name.elf"
}
assemble undecodable-mmio.S undecodable-mmio
assemble psci.S psci-off
assemble psci.S psci-reset -DRESET
# Programs for the Linux guest's initramfs (tests/nested/mkinitramfs.sh puts bin/* in it).
mkdir -p "$out/bin"
aarch64-linux-gnu-gcc -static -O2 -Wall "$here/perf-cycles.c" -o "$out/bin/perf-cycles"
