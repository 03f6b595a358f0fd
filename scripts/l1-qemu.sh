# shellcheck shell=bash
# The emulated arm64 host (L1) that the nested tests, the benchmark and the demo boot on an
# x86_64 machine: QEMU's virt board with EL2 (virtualization=on), so L1 has a real
# /dev/kvm. Sourced; `l1_qemu KERNEL INITRD` sets the array L1_QEMU to the command.
#
# -nodefaults: no default NIC, and so no NIC boot ROM to look for (efi-virtio.rom is in
# ipxe-qemu, which a --no-install-recommends install of qemu-system-arm lacks), no
# default monitor, parallel port or display. The one serial, L1's PL011 console, goes
# to stdio multiplexed with the monitor as -nographic has it (Ctrl-A x quits QEMU).
l1_qemu() {
  local kernel=$1 initrd=$2
  # shellcheck disable=SC2054,SC2034 # the commas belong to -M's value; L1_QEMU is for the caller
  L1_QEMU=(qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu max -smp 2 -m 2G
    -nodefaults -no-user-config -nographic -serial mon:stdio -no-reboot
    -kernel "$kernel" -initrd "$initrd" -append "console=ttyAMA0 quiet panic=-1")
}
