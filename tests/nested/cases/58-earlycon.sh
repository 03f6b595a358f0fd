#!/bin/sh
# earlycon: `earlycon=pl011,0x9000000`, as kernel test loops pass it to QEMU's virt machine,
# prints through petrel's PL011 from the kernel's first lines and the boot reaches init;
# then plain `earlycon`, which finds the UART through the device tree's stdout-path.
# case-timeout: 180
. /nested/lib.sh
run_petrel "$CONFIGS/earlycon.toml"
expect_exit 0
grep -qE 'earlycon: pl[0-9]* at MMIO[0-9a-z]* (0x)?0*9000000' "$PETREL_OUT" ||
  fail "stdout lacks the kernel's 'earlycon: pl011 at MMIO 0x...9000000' line"
expect_stdout_has "Booting Linux"
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_has GUEST-POWEROFF
GUEST="--kernel /guest/Image --initrd /guest/initrd.cpio.gz --memory 256M"
# shellcheck disable=SC2086 # GUEST is a list of words
run_petrel "" 60 $GUEST -- console=ttyAMA0 earlycon panic=-1 guest_cmd=poweroff
expect_exit 0
grep -qE 'earlycon: pl[0-9]* at MMIO[0-9a-z]* (0x)?0*9000000' "$PETREL_OUT" ||
  fail "stdout lacks the kernel's 'earlycon: pl011 at MMIO 0x...9000000' line (from stdout-path)"
expect_stdout_has PETREL-GUEST-INIT-OK
pass
