#!/bin/sh
# psci-off: a bare-metal guest whose first instructions call PSCI SYSTEM_OFF; petrel exits
# 0 without any error message (and the guest prints nothing).
. /nested/lib.sh
run_petrel "$CONFIGS/psci-off.toml" 20
expect_exit 0
expect_stderr_lacks "error"
expect_stdout_empty
pass
