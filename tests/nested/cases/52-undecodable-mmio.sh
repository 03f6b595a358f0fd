#!/bin/sh
# undecodable-mmio: a bare-metal guest does `ldp x3, x4, [x2]` with x2 = 0x0a000000, device
# space with no memory behind it. KVM cannot decode a load pair for userspace, so petrel
# must stop with VCPU_RUNTIME_FAILURE (exit 12) and a message naming the vCPU, the address
# and the guest PC: the image is loaded at 0x80000000, its 64-byte header is followed by a movz and then
# the ldp, at 0x80000044.
. /nested/lib.sh
run_petrel "$CONFIGS/undecodable-mmio.toml" 20
expect_exit 12
expect_stderr_has "vCPU 0"
expect_stderr_has "PC"
expect_stderr_matches 'PC 0x0*80000044([^0-9a-fA-F]|$)'
expect_stderr_matches '0x0*a000000([^0-9a-fA-F]|$)'   # the faulting address
pass
