#!/bin/sh
# test-exit-pass: a guest init runs a check that holds and reports status 0 through the
# test-exit device ([test_exit]), at the address it read from /proc/device-tree; petrel
# exits 0 at once, with no power-off.
. /nested/lib.sh
run_petrel "$CONFIGS/test-exit-pass.toml"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_value GUEST-TEST-EXIT-ADDR 0x09020000
expect_value GUEST-TEST-EXIT 0
expect_stdout_lacks GUEST-POWEROFF
expect_stdout_lacks GUEST-ERROR
expect_stderr_lacks "error"
pass
