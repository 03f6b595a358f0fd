#!/bin/sh
# missing-kernel: a kernel path that does not exist is a load failure (exit 10) whose
# message names the path, not a crash or a generic error.
. /nested/lib.sh
run_petrel "$CONFIGS/missing-kernel.toml"
expect_exit 10
expect_stderr_has /guest/no-such-Image
pass
