#!/usr/bin/env bash
# Installs everything petrel's build and tests need from Debian 12's packages: the native
# toolchain and libraries, the arm64 cross toolchain with arm64 libfdt for the static
# binary, QEMU for the emulated arm64 KVM host, and clang for the sanitizer and fuzz
# builds. Safe to run again: apt skips what is there. Needs root (or sudo).
set -euo pipefail

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(
  cmake make g++ pkg-config
  g++-aarch64-linux-gnu binutils-aarch64-linux-gnu
  libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev catch2
  # libfdt-dev cannot be installed for two architectures at once: the arm64 one gives the
  # static library and the headers, the native runtime library serves the unit tests.
  libfdt1 libfdt-dev:arm64
  # zlib (Image.gz kernels) is Multi-Arch: same, so both install side by side: the native
  # one for the unit tests, the arm64 one's static libz.a for the static binary.
  zlib1g-dev zlib1g-dev:arm64
  # The control socket (vmm/api_server.cc): Boost.Beast/Asio and nlohmann-json, both
  # header-only and arch-independent in /usr/include, so the native packages serve the
  # arm64 cross build too (cmake/aarch64-linux-gnu.cmake searches headers in both roots).
  libboost1.74-dev nlohmann-json3-dev
  qemu-system-arm cpio gzip device-tree-compiler
  # virtiofsd (/usr/lib/qemu/virtiofsd), which petrel starts for each [[share]]. The nested
  # tests' emulated host gets the arm64 build of it from tests/nested/fetch-artifacts.sh.
  qemu-system-common
  e2fsprogs  # mkfs.ext4 -d: the nested tests' ext4 root file system image
  # scripts/sanitize-and-fuzz.sh: clang 19 (14 cannot compile libstdc++ 12's <expected>) with
  # its sanitizer and libFuzzer runtimes, and llvm-symbolizer for readable reports.
  clang-19 libclang-rt-19-dev llvm-19
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  sudo_if_needed dpkg --add-architecture arm64
  missing+=(--refresh)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]/--refresh/}" >&2
  sudo_if_needed apt-get update -qq
  pkgs=()
  for p in "${missing[@]}"; do [ "$p" = --refresh ] || pkgs+=("$p"); done
  if [ ${#pkgs[@]} -gt 0 ]; then
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
  fi
elif ! apt-cache show linux-image-cloud-arm64:arm64 >/dev/null 2>&1; then
  sudo_if_needed apt-get update -qq  # arm64 package lists, needed to download the guest kernel
fi
echo "setup: all build and test dependencies present" >&2
