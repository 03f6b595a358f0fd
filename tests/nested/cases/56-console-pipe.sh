#!/bin/sh
# console-pipe: `printf 'poweroff\n' | petrel run` with a guest whose init reads one line
# from its console (the PL011, ttyAMA0) after a full boot. The line is in the pipe before
# the kernel runs; petrel reads it only once the guest's driver listens, so it is not lost
# to the driver's FIFO reset: the guest runs it and powers off (exit 0).
. /nested/lib.sh
# shellcheck disable=SC2034 # read by run_petrel (lib.sh)
PETREL_INPUT='poweroff
'
run_petrel "$CONFIGS/console-pipe.toml"
unset PETREL_INPUT
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_has "GUEST-GOT-COMMAND 'poweroff'"
expect_stdout_has GUEST-POWEROFF
expect_stderr_lacks "error"
pass
