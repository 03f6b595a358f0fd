#!/bin/sh
# restart-loop: on_reset = "restart" with a Linux guest that reboots on every boot never
# ends by itself; `--timeout 60` must still end it (exit 124) after the guest booted at
# least twice, i.e. the timeout spans the restarts instead of starting over with each
# boot. (One quiet boot takes 7-20 s in L1 depending on the load, so 60 s leaves room for
# two.)
# case-timeout: 130
. /nested/lib.sh
run_petrel "$CONFIGS/restart-loop.toml" 95 --timeout 60
expect_exit 124
expect_stdout_count 2 - PETREL-GUEST-INIT-OK
expect_stdout_count 2 - GUEST-REBOOT
expect_stderr_matches '[Tt]ime( |-)?out'
[ "$PETREL_MS" -ge 60000 ] || fail "petrel exited after $PETREL_MS ms, before its --timeout of 60 s"
say "boots seen: $(count_in "$PETREL_OUT" PETREL-GUEST-INIT-OK)"
pass
