#!/bin/busybox sh
# shellcheck shell=dash
# /init of the L2 guest, the Linux that petrel boots in the nested tests (and in the demo).
# One initramfs serves every case: it proves userspace came up by printing
# PETREL-GUEST-INIT-OK, then does what `guest_cmd=NAME` on the kernel command line asks
# (the kernel hands unknown key=value parameters to init as environment variables).
# To add a command, define a function cmd_NAME below.

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp
/bin/busybox --install -s
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp

# Waits until the console has sent everything (tcsetattr TCSADRAIN), so the last lines
# are not lost to the power-off that follows them.
drain() { stty -F /dev/console "$(stty -F /dev/console -g 2>/dev/null)" 2>/dev/null || sleep 1; }
off() { echo "GUEST-POWEROFF"; drain; poweroff -f; }   # PSCI SYSTEM_OFF: petrel exits 0
reset() { echo "GUEST-REBOOT"; drain; reboot -f; }     # PSCI SYSTEM_RESET: petrel exits 32

cmd_poweroff() { off; }
cmd_reboot() { reset; }
cmd_cpuinfo() { # number of CPUs the guest kernel brought up
  echo "GUEST-CPUS $(grep -c '^processor' /proc/cpuinfo)"
  off
}
cmd_hang() { # never ends: for timeouts and signals
  echo "GUEST-HANGING"
  drain
  while :; do sleep 3600; done
}
cmd_shell() { # interactive shell on the console (the demo); power off when it exits
  setsid cttyhack sh -l
  off
}
cmd_panic() { # a kernel panic (sysrq crash): with panic=-1 the kernel resets, petrel exits 32
  echo "GUEST-PANICKING"
  drain
  echo c >/proc/sysrq-trigger
  sleep 5
}
cmd_console() { # the next command is a line read from the console (a test types it)
  echo "GUEST-WAITING-FOR-COMMAND"
  next=
  read -r next
  next=$(printf '%s' "$next" | tr -d '\r')
  echo "GUEST-GOT-COMMAND '$next'"
  dispatch "$next"
}

dispatch() { # dispatch NAME: runs cmd_NAME; returns only when it does or NAME is unknown
  case $1 in
    '' | *[!a-z0-9_]*) echo "GUEST-ERROR unknown guest_cmd '$1'"; return ;;
  esac
  if type "cmd_$1" 2>/dev/null | grep -q function; then
    "cmd_$1"
    echo "GUEST-ERROR guest_cmd '$1' returned"
  else
    echo "GUEST-ERROR unknown guest_cmd '$1'"
  fi
}

echo "PETREL-GUEST-INIT-OK"
if [ -z "${guest_cmd:-}" ]; then
  echo "GUEST-ERROR no guest_cmd= on the kernel command line"
  reset
fi
dispatch "$guest_cmd"
# Reset rather than power off, so that a typo in a test's cmdline never looks like a
# clean run (exit 0).
reset
