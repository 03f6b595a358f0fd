#!/bin/sh
# reboot: a Linux guest runs `reboot -f` (PSCI SYSTEM_RESET); with on_reset = "exit"
# petrel exits 32 after the guest's last line reached the console.
. /nested/lib.sh
run_petrel "$CONFIGS/reboot.toml"
expect_exit 32
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_has GUEST-REBOOT
expect_stderr_lacks "error"
pass
