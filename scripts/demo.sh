#!/usr/bin/env bash
# Boots the demo guest (configs/demo.toml): Debian's cloud arm64 kernel with an
# interactive busybox shell on your terminal. One command from a fresh Debian 12 clone:
# installs the dependencies, builds petrel, fetches the kernel and busybox into .cache/,
# builds the guest's initramfs, then
#  - on an arm64 host with /dev/kvm: runs petrel directly;
#  - anywhere else (e.g. x86_64): boots an emulated arm64 host with QEMU
#    (-M virt,virtualization=on, which gives it a real /dev/kvm) whose /init runs petrel on
#    the same guest, with your terminal as the console (scripts/demo-l1-init.sh).
# `poweroff -f` in the guest's shell ends the demo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

"$root/scripts/setup-debian.sh"
"$root/scripts/build.sh"

# configs/demo.toml names ../.cache/Image and ../.cache/demo-initrd.cpio.gz, so the cache is
# the repository's own .cache/ here, whatever PETREL_CACHE says.
export PETREL_CACHE=$root/.cache
cache=$("$root/tests/nested/fetch-artifacts.sh" | tail -n 1)
# The same guest /init as the nested tests (tests/nested/l2-init.sh); demo.toml's cmdline
# says guest_cmd=shell.
"$root/tests/nested/mkinitramfs.sh" guest "$cache/busybox" "$cache/demo-initrd.cpio.gz"
config=$root/configs/demo.toml

if [ "$(uname -m)" = aarch64 ] && [ -c /dev/kvm ]; then
  # On an arm64 host the native build is an arm64 petrel with KVM support too; the static
  # cross-built one is preferred when it exists, else build/native/petrel.
  petrel=$root/build/arm64/petrel
  [ -x "$petrel" ] || petrel=$root/build/native/petrel
  echo "demo: booting the guest; leave with 'poweroff -f' in its shell, or type Ctrl-A x to stop petrel" >&2
  exec "$petrel" run "$config"
fi

# The emulated arm64 host (L1): busybox, the static arm64 petrel, and the repository's
# layout under /demo, so that demo.toml's relative paths hold there as well.
petrel=$root/build/arm64/petrel
[ -f "$petrel" ] || { echo "demo: no $petrel (scripts/build.sh should have built it)" >&2; exit 1; }
work=$root/build/demo
l1root=$work/l1root
rm -rf "$l1root"
mkdir -p "$l1root/bin" "$l1root/demo/configs" "$l1root/demo/.cache"
cp -L "$cache/busybox" "$l1root/bin/busybox"
cp "$petrel" "$l1root/bin/petrel"
cp "$root/scripts/demo-l1-init.sh" "$l1root/init"
cp "$config" "$l1root/demo/configs/demo.toml"
cp -L "$cache/Image" "$l1root/demo/.cache/Image"
cp "$cache/demo-initrd.cpio.gz" "$l1root/demo/.cache/demo-initrd.cpio.gz"
chmod 755 "$l1root/init" "$l1root/bin/busybox" "$l1root/bin/petrel"
"$root/tests/nested/mkinitramfs.sh" pack "$l1root" "$work/l1-initrd.cpio.gz"
rm -rf "$l1root"

echo "demo: booting an emulated arm64 host (about 10-30 s), then petrel and the guest's shell." \
  "Leave with 'poweroff -f' in the guest; Ctrl-A Ctrl-A x stops petrel; Ctrl-A x quits QEMU" \
  "(the emulated host) at once." >&2
# The same emulated host as the nested tests, with the terminal attached.
# shellcheck source=scripts/l1-qemu.sh
. "$root/scripts/l1-qemu.sh"
l1_qemu "$cache/Image" "$work/l1-initrd.cpio.gz"
exec "${L1_QEMU[@]}"
