#!/usr/bin/env bash
# Builds gzip'd newc initramfs images without root, for the nested tests (run.sh) and the
# demo (scripts/demo.sh):
#
#   mkinitramfs.sh pack DIR OUT         DIR's tree (every file owned by root) plus /dev/console
#   mkinitramfs.sh guest BUSYBOX OUT [MODULES [KO...]]
#                                       the L2 guest petrel boots: a static busybox and
#                                       tests/nested/l2-init.sh as /init (what it does is
#                                       chosen by guest_cmd= on the kernel command line).
#                                       MODULES, the kernel's lib/modules/<version> folder,
#                                       adds its virtio drivers (Debian's cloud kernel has
#                                       them as modules) as /lib/modules/*.ko, which the
#                                       init loads; without it (or with "") the guest has no
#                                       virtio. Each KO, a .ko file, is added to
#                                       /lib/modules as well (guest_cmd=kmodtest loads it).
#   mkinitramfs.sh ext4-root BUSYBOX OUT
#                                       not an initramfs: a 16 MiB ext4 image (mkfs.ext4 -d)
#                                       holding a static busybox and
#                                       tests/nested/ext4-root-init.sh as /sbin/init, the
#                                       root file system that guest_cmd=ext4root switches to
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() {
  echo "usage: $0 pack DIR OUT | guest BUSYBOX OUT [MODULES [KO...]] | ext4-root BUSYBOX OUT" >&2
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

# The virtio modules l2-init.sh loads (it has the same list, in dependency order; it loads
# virtio_console only for guest_cmd=port), as paths under lib/modules/<version>/kernel/.
virtio_modules=(
  drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_mmio.ko
  drivers/block/virtio_blk.ko drivers/char/hw_random/virtio-rng.ko
  net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko
  fs/fuse/fuse.ko fs/fuse/virtiofs.ko drivers/char/virtio_console.ko
)

guest() { # guest BUSYBOX OUT [MODULES [KO...]]
  local busybox=$1 out=$2 modules=${3:-} root m
  shift $(($# < 3 ? $# : 3))
  [ -f "$busybox" ] || { echo "mkinitramfs: no busybox at '$busybox'" >&2; exit 2; }
  if [ -n "$modules" ] && [ ! -d "$modules/kernel" ]; then
    echo "mkinitramfs: '$modules' is no lib/modules/<version> folder (no kernel/ in it)" >&2
    exit 2
  fi
  root=$(mktemp -d "${TMPDIR:-/tmp}/petrel-l2root.XXXXXX")
  # shellcheck disable=SC2064 # expand now: $root is local
  trap "rm -rf '$root'" EXIT
  mkdir -p "$root/bin"
  cp -L "$busybox" "$root/bin/busybox"
  cp "$here/l2-init.sh" "$root/init"
  chmod 755 "$root/bin/busybox" "$root/init"
  # Test programs (tests/guests/build.sh's bin/) when L2_PROGRAMS names their folder.
  if [ -n "${L2_PROGRAMS:-}" ]; then cp "$L2_PROGRAMS"/* "$root/bin/"; fi
  if [ -n "$modules" ]; then
    mkdir -p "$root/lib/modules"
    for m in "${virtio_modules[@]}"; do
      if [ -f "$modules/kernel/$m" ]; then
        cp "$modules/kernel/$m" "$root/lib/modules/"
      else
        echo "mkinitramfs: warning: no $m in $modules (that driver stays out of the guest)" >&2
      fi
    done
  fi
  for m in "$@"; do
    [ -f "$m" ] || { echo "mkinitramfs: no module file '$m'" >&2; exit 2; }
    mkdir -p "$root/lib/modules"
    cp "$m" "$root/lib/modules/"
  done
  pack "$root" "$out"
}

ext4_root() { # ext4_root BUSYBOX OUT
  local busybox=$1 out=$2 tree mkfs
  [ -f "$busybox" ] || { echo "mkinitramfs: no busybox at '$busybox'" >&2; exit 2; }
  mkfs=$(PATH=$PATH:/sbin:/usr/sbin command -v mkfs.ext4) ||
    { echo "mkinitramfs: no mkfs.ext4 (e2fsprogs; run scripts/setup-debian.sh)" >&2; exit 2; }
  tree=$(mktemp -d "${TMPDIR:-/tmp}/petrel-ext4root.XXXXXX")
  # shellcheck disable=SC2064 # expand now: $tree is local
  trap "rm -rf '$tree'" EXIT
  mkdir -p "$tree/bin" "$tree/sbin" "$tree/dev" "$tree/proc" "$tree/sys" "$tree/tmp" \
    "$tree/etc" "$tree/var"
  cp -L "$busybox" "$tree/bin/busybox"
  cp "$here/ext4-root-init.sh" "$tree/sbin/init"
  chmod 755 "$tree/bin/busybox" "$tree/sbin/init"
  echo "petrel ext4 root file system" >"$tree/etc/petrel-root"
  rm -f "$out.tmp"
  truncate -s 16M "$out.tmp"
  # Fully initialised inode tables and journal: the guest's ext4lazyinit has nothing to do.
  "$mkfs" -q -F -t ext4 -L petrel-root -E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0 \
    -d "$tree" "$out.tmp"
  mv "$out.tmp" "$out"
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in
  pack) [ $# -eq 2 ] || usage; pack "$1" "$2" ;;
  guest) [ $# -ge 2 ] || usage; guest "$@" ;;
  ext4-root) [ $# -eq 2 ] || usage; ext4_root "$1" "$2" ;;
  *) usage ;;
esac
