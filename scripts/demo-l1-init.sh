#!/bin/busybox sh
# shellcheck shell=dash
# /init of the emulated arm64 host that scripts/demo.sh boots on machines that are not
# arm64 KVM hosts themselves: it runs `petrel run` on the demo guest with this host's
# console (your terminal) as the guest's console, then prints petrel's exit status and
# powers off, which ends QEMU (-no-reboot). No `set -e`: as PID 1 this script must always
# reach the power-off.

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run
/bin/busybox --install -s
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
exec </dev/console >/dev/console 2>&1

# The repository's layout, so configs/demo.toml is used as it is (its paths are relative).
config=/demo/configs/demo.toml
if [ -c /dev/kvm ]; then
  echo "demo: emulated arm64 host up ($(uname -r), /dev/kvm present); running: petrel run $config"
  petrel run "$config"
  rc=$?
  echo
  echo "demo: petrel exited with status $rc"
else
  echo "demo: the emulated arm64 host has no /dev/kvm; kernel messages about kvm:"
  dmesg | grep -i kvm
fi

# Let the last lines leave the UART before the power-off (tcsetattr with TCSADRAIN).
stty -F /dev/console "$(stty -F /dev/console -g 2>/dev/null)" 2>/dev/null || sleep 1
poweroff -f
sleep 5
echo "demo: poweroff failed; Ctrl-A x ends QEMU"
