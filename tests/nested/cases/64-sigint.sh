#!/bin/sh
# sigint: SIGINT to a petrel whose guest is up and idle (guest_cmd=hang) stops the VM:
# petrel exits 15 (CONTROLLER_FORCED_HALT) within 10 s of the signal, keeps what the guest
# printed, and reports no error.
. /nested/lib.sh
start_petrel "$CONFIGS/sigint.toml"
wait_stdout PETREL-GUEST-INIT-OK
wait_stdout GUEST-HANGING 10
signal_petrel INT
finish_petrel 10
expect_exit 15
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_has GUEST-HANGING
expect_stderr_lacks "error"
pass
