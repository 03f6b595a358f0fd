#!/bin/sh
# test-exit-fail: the guest's check fails and it writes status 7 to the test-exit device;
# petrel exits 7 (the guest's status, not a lifecycle code), verbose log naming it.
. /nested/lib.sh
PETREL_FLAGS="$PETREL_FLAGS -v"
run_petrel "$CONFIGS/test-exit-fail.toml"
expect_exit 7
expect_stdout_has PETREL-GUEST-INIT-OK
expect_value GUEST-TEST-EXIT 7
expect_stdout_lacks GUEST-ERROR
expect_stderr_has "test-exit: the guest wrote exit status 7"
expect_stderr_lacks "error"
pass
