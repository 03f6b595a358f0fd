#!/bin/sh
# timeout: a guest that never ends, and `petrel run --timeout 5`: petrel stops the VM and
# exits 124 with a message about the timeout, after at least 5 s (the duration counts from
# petrel's start) and well before the harness's own bound. The guest kernel must have
# printed something by then, so the VM was really running when the timeout hit.
. /nested/lib.sh
run_petrel "$CONFIGS/timeout.toml" 40 --timeout 5
expect_exit 124
expect_stderr_matches '[Tt]ime( |-)?out'
[ "$PETREL_MS" -ge 5000 ] || fail "petrel exited after $PETREL_MS ms, before its --timeout of 5 s"
expect_stdout_has "Linux version"
pass
