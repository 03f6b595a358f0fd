#!/bin/busybox sh
# shellcheck shell=dash
# /init of L1, the emulated arm64 host with a working /dev/kvm in which the nested tests
# run petrel. It runs the case scripts that tests/nested/run.sh packed (listed, in order,
# in /nested/settings), each bounded in time, makes sure each reports exactly one
# `RESULT <case> ...` line, then powers off, which ends QEMU on L0 (-no-reboot).
# No `set -e`: as PID 1 this script must always reach the power-off.

# First, / becomes a tmpfs: virtiofsd's sandbox (the share cases) pivot_root()s into the
# shared folder, which the kernel refuses while / is the initramfs itself (rootfs, a mount
# without a parent). Everything is moved onto a tmpfs, one top-level entry at a time (so
# memory holds at most one extra copy of one), and switch_root starts this script again
# there: like any installed host's /, it is then an ordinary mount.
if [ "$$" = 1 ] && [ -z "${L1_ON_TMPFS:-}" ]; then
  /bin/busybox mkdir -p /newroot
  /bin/busybox mount -t tmpfs -o mode=0755 tmpfs /newroot
  for entry in /*; do
    case $entry in /newroot | /bin | /dev | /proc | /sys | /init) continue ;; esac
    /bin/busybox mv "$entry" /newroot/
  done
  # switch_root wants to see /init on the old root before it empties it.
  /bin/busybox cp -p /init /newroot/init
  /bin/busybox mv /bin /newroot/
  export L1_ON_TMPFS=1
  exec /newroot/bin/busybox switch_root /newroot /init
fi

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run
/bin/busybox --install -s
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
exec </dev/console >/dev/console 2>&1
# Have the kernel log a user process's fatal signal (pc, lr, fault address): lib.sh shows
# it when petrel crashes.
echo 1 >/proc/sys/debug/exception-trace 2>/dev/null
# The tap driver (/dev/net/tun) for the net cases, silently: built in changes nothing.
if [ -f /lib/modules/tun.ko ]; then insmod /lib/modules/tun.ko >/dev/null 2>&1; fi

. /nested/settings   # NESTED_CASES ("name:file:seconds" ...), NESTED_PETREL_TIMEOUT, _FLAGS
export NESTED_PETREL_TIMEOUT NESTED_PETREL_FLAGS
. /nested/lib.sh

# shellcheck disable=SC2154 # _clock comes from lib.sh
echo "NESTED-L1-UP $(uname -r) uptime $(cut -d' ' -f1 /proc/uptime)s, clock $_clock"
if [ -c /dev/kvm ]; then
  echo "NESTED-L1 /dev/kvm present"
else
  echo "NESTED-L1 /dev/kvm MISSING; kernel messages about kvm:"
  dmesg | grep -i kvm
fi
chmod +x /bin/petrel 2>/dev/null

mkdir -p "$RESULTS"
for entry in $NESTED_CASES; do
  name=${entry%%:*}
  rest=${entry#*:}
  file=${rest%%:*}
  secs=${rest#*:}
  echo "=== CASE $name ($file, limit ${secs}s)"
  export CASE="$name"
  run_bounded "$secs" sh "/nested/cases/$file"
  rc=$?
  if [ ! -e "$RESULTS/$name" ]; then
    if [ "$BOUNDED_TIMED_OUT" = 1 ]; then
      why="case still running after ${secs}s, stopped by the harness"
    else
      why="case script ended (exit $rc) without reporting a result"
    fi
    : >"$RESULTS/$name"
    echo "RESULT $name FAIL $why"
  fi
  unset CASE
done

echo "NESTED-L1-DONE uptime $(cut -d' ' -f1 /proc/uptime)s"
drain_console
poweroff -f
sleep 5
echo "NESTED-L1 poweroff failed"
