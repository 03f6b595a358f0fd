#!/bin/sh
# timeout: a guest that never ends, and `petrel run --timeout 5`: petrel stops the VM and
# exits 124 with a message about the timeout, no sooner than 5 s after it started and well
# before the harness's own bound. The guest boots with earlycon, so its first kernel line
# shows that the VM was really running when the timeout hit.
. /nested/lib.sh
run_petrel "$CONFIGS/timeout.toml" 40 --timeout 5
expect_exit 124
expect_stderr_matches '[Tt]ime( |-)?out'
[ "$PETREL_MS" -ge 5000 ] || fail "petrel exited after $PETREL_MS ms, before its --timeout of 5 s"
expect_stdout_has "Booting Linux"
pass
