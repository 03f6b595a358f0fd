#!/bin/sh
# boot-2cpu: with vcpus = 2 the guest kernel brings up both CPUs (PSCI CPU_ON, GICv3
# redistributors for each), and petrel exits 0 on the power-off.
. /nested/lib.sh
run_petrel "$CONFIGS/boot-2cpu.toml"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_has "GUEST-CPUS 2"
pass
