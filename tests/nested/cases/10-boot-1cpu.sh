#!/bin/sh
# boot-1cpu: a one-vCPU guest boots to its init and powers off; petrel exits 0.
. /nested/lib.sh
run_petrel "$CONFIGS/boot-1cpu.toml"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
pass
