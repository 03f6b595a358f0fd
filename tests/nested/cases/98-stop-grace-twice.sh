#!/bin/sh
# stop-grace-twice: a second SIGTERM during the grace period stops the VM at once (exit 15),
# here with a 60 s grace (--stop-grace on top of the file's 3 s).
. /nested/lib.sh
PETREL_FLAGS="${PETREL_FLAGS:+$PETREL_FLAGS }-v" # the supervisor's info lines
start_petrel "$CONFIGS/stop-grace.toml" --stop-grace 60s
wait_stdout PETREL-GUEST-INIT-OK
wait_stdout GUEST-HANGING 10
signal_petrel TERM
wait_stderr "pressed the guest's power button" 5
sleep 1
signal_petrel TERM
finish_petrel 15
expect_exit 15
expect_stderr_has "during the stop grace period: stopping the VM now"
expect_stderr_lacks "did not power off within"
[ "$SIGNAL_MS" -lt 10000 ] || fail "petrel stopped ${SIGNAL_MS} ms after the second SIGTERM"
expect_stderr_lacks "error"
pass
