#!/bin/sh
# stop-grace-expires: a guest that ignores the power button (the cloud kernel has no
# gpio-keys driver). SIGTERM with stop_grace = "3s" presses it, waits the 3 s, then stops
# the VM: exit 15, no sooner than the grace period.
. /nested/lib.sh
PETREL_FLAGS="${PETREL_FLAGS:+$PETREL_FLAGS }-v" # the supervisor's info lines
start_petrel "$CONFIGS/stop-grace.toml"
wait_stdout PETREL-GUEST-INIT-OK
wait_stdout GUEST-HANGING 10
signal_petrel TERM
finish_petrel 20
expect_exit 15
expect_stderr_has "pressed the guest's power button"
expect_stderr_has "did not power off within the stop grace period"
[ "$SIGNAL_MS" -ge 3000 ] || fail "petrel stopped ${SIGNAL_MS} ms after SIGTERM, before the 3 s grace period"
[ "$SIGNAL_MS" -lt 13000 ] || fail "petrel stopped ${SIGNAL_MS} ms after SIGTERM, long after the 3 s grace period"
expect_stderr_lacks "error"
pass
