#!/usr/bin/env bash
# Downloads (once) the arm64 Debian packages the nested tests need and unpacks them into
# the git-ignored cache. Safe to run repeatedly; a missing cache is simply rebuilt.
#   fetch-artifacts.sh                  the cloud kernel (Image, its modules) and busybox
#   fetch-artifacts.sh generic-kernel   also Debian's generic arm64 kernel, for the kmod
#                                       and power-key cases: its Image (Image-generic), its
#                                       lib/test_*.ko and its gpio_keys.ko and evdev.ko
#                                       only (the cloud kernel has neither; the
#                                       generic package is a 60 MB download, 350 MB unpacked)
#   fetch-artifacts.sh netcat           also OpenBSD netcat (`nc -U`) and its libraries, the
#                                       control-socket cases' client (busybox's nc has no
#                                       Unix sockets; Debian has no static curl)
# Prints the cache folder as its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${PETREL_CACHE:-$here/../../.cache}
mkdir -p "$cache/debs" "$cache/unpacked"
cache=$(cd "$cache" && pwd)

resolve_kernel() { # the exact image package behind a meta package, e.g. linux-image-6.1.0-56-cloud-arm64
  apt-cache depends "$1:arm64" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {sub(":arm64","",$2); print $2; exit}'
}

fetch() { # fetch PKG: download PKG:arm64 into the cache unless a .deb of it is there
  local pkg=$1
  if ! ls "$cache/debs/${pkg}_"*_arm64.deb >/dev/null 2>&1; then
    (cd "$cache/debs" && apt-get download -q "$pkg:arm64" >&2)
  fi
  ls "$cache/debs/${pkg}_"*_arm64.deb | head -n1
}

unpack() { # unpack DEB DIR: extract once
  local deb=$1 dir=$2
  if [ ! -f "$dir/.unpacked" ] || [ "$(cat "$dir/.unpacked")" != "$(basename "$deb")" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    dpkg-deb -x "$deb" "$dir"
    basename "$deb" >"$dir/.unpacked"
  fi
}

kpkg=$(resolve_kernel linux-image-cloud-arm64)
if [ -z "$kpkg" ]; then
  echo "fetch-artifacts: cannot resolve linux-image-cloud-arm64:arm64 (run apt-get update with arm64 enabled)" >&2
  exit 1
fi
unpack "$(fetch "$kpkg")" "$cache/unpacked/kernel"
unpack "$(fetch busybox-static)" "$cache/unpacked/busybox"
# virtiofsd for the share cases: the arm64 build in qemu-system-common and the packages of
# the shared libraries it loads (glibc, libseccomp, libcap-ng, GLib, libnuma, PCRE2), each
# unpacked into a folder of its own; run.sh copies the few files it needs into L1.
for pkg in qemu-system-common libc6 libseccomp2 libcap-ng0 libglib2.0-0 libnuma1 libpcre2-8-0; do
  unpack "$(fetch "$pkg")" "$cache/unpacked/virtiofsd/$pkg"
done

kernel=$(ls "$cache/unpacked/kernel/boot/"vmlinuz-* | head -n1)
ln -sf "$kernel" "$cache/Image"
ln -sf "$cache/unpacked/busybox/bin/busybox" "$cache/busybox"

if [ "${1:-}" = generic-kernel ]; then
  gpkg=$(resolve_kernel linux-image-arm64)
  [ -n "$gpkg" ] || { echo "fetch-artifacts: cannot resolve linux-image-arm64:arm64" >&2; exit 1; }
  deb=$(fetch "$gpkg")
  dir=$cache/unpacked/kernel-generic
  # The marker names what was unpacked, so a new entry in the list unpacks again.
  marker="$(basename "$deb") +input"
  if [ ! -f "$dir/.unpacked" ] || [ "$(cat "$dir/.unpacked")" != "$marker" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" --wildcards './boot/vmlinuz-*' \
      './lib/modules/*/kernel/lib/test_*.ko' \
      './lib/modules/*/kernel/drivers/input/evdev.ko' \
      './lib/modules/*/kernel/drivers/input/keyboard/gpio_keys.ko'
    echo "$marker" >"$dir/.unpacked"
  fi
  ln -sf "$(ls "$dir/boot/"vmlinuz-* | head -n1)" "$cache/Image-generic"
fi
if [ "${1:-}" = netcat ]; then
  for pkg in netcat-openbsd libbsd0 libmd0; do
    unpack "$(fetch "$pkg")" "$cache/unpacked/netcat/$pkg"
  done
fi
echo "$cache"
