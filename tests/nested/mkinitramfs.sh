#!/usr/bin/env bash
# Builds gzip'd newc initramfs images without root, for the nested tests (run.sh) and the
# demo (scripts/demo.sh):
#
#   mkinitramfs.sh pack DIR OUT         DIR's tree (every file owned by root) plus /dev/console
#   mkinitramfs.sh guest BUSYBOX OUT    the L2 guest petrel boots: a static busybox and
#                                       tests/nested/l2-init.sh as /init (what it does is
#                                       chosen by guest_cmd= on the kernel command line)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() {
  echo "usage: $0 pack DIR OUT | guest BUSYBOX OUT" >&2
  exit 2
}

# dev_console_cpio: a newc archive holding only /dev and the /dev/console node (5:1), so
# the kernel can open init's console before /init mounts devtmpfs. Written by hand so no
# root (mknod) is needed; the kernel unpacks concatenated archives.
newc_entry() { # newc_entry NAME MODE RDEV_MAJOR RDEV_MINOR (no file data)
  local name=$1 mode=$2 major=$3 minor=$4 namesize pad
  namesize=$((${#name} + 1))
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    0 "$mode" 0 0 1 0 0 0 0 "$major" "$minor" "$namesize" 0
  printf '%s\0' "$name"
  pad=$(((4 - (110 + namesize) % 4) % 4))
  [ $pad -eq 0 ] || head -c "$pad" /dev/zero
}
dev_console_cpio() {
  newc_entry dev $((0040755)) 0 0
  newc_entry dev/console $((0020600)) 5 1
  newc_entry 'TRAILER!!!' 0 0 0
}

pack() { # pack DIR OUT
  local dir=$1 out=$2
  [ -d "$dir" ] || { echo "mkinitramfs: no folder '$dir'" >&2; exit 2; }
  {
    dev_console_cpio
    (cd "$dir" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
  } | gzip -6 -n >"$out.tmp"
  mv "$out.tmp" "$out"
}

guest() { # guest BUSYBOX OUT
  local busybox=$1 out=$2 root
  [ -f "$busybox" ] || { echo "mkinitramfs: no busybox at '$busybox'" >&2; exit 2; }
  root=$(mktemp -d "${TMPDIR:-/tmp}/petrel-l2root.XXXXXX")
  # shellcheck disable=SC2064 # expand now: $root is local
  trap "rm -rf '$root'" EXIT
  mkdir -p "$root/bin"
  cp -L "$busybox" "$root/bin/busybox"
  cp "$here/l2-init.sh" "$root/init"
  chmod 755 "$root/bin/busybox" "$root/init"
  pack "$root" "$out"
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in
  pack) [ $# -eq 2 ] || usage; pack "$1" "$2" ;;
  guest) [ $# -eq 2 ] || usage; guest "$1" "$2" ;;
  *) usage ;;
esac
