#!/bin/sh
# psci-reset: a bare-metal guest whose first instructions call PSCI SYSTEM_RESET; with the
# default on_reset = "exit" petrel exits 32 without any error message.
. /nested/lib.sh
run_petrel "$CONFIGS/psci-reset.toml" 20
expect_exit 32
expect_stderr_lacks "error"
expect_stdout_empty
pass
