#!/bin/sh
# console-16550: the 16550A console (`[console] uart = "16550"`, ttyS0) still prints and
# takes input: the console-pipe case on it. The piped line waits until the 8250 driver
# enables its receive interrupt, reaches the guest's init, which powers off (exit 0).
. /nested/lib.sh
# shellcheck disable=SC2034 # read by run_petrel (lib.sh)
PETREL_INPUT='poweroff
'
run_petrel "$CONFIGS/console-16550.toml"
unset PETREL_INPUT
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_has "GUEST-GOT-COMMAND 'poweroff'"
expect_stdout_has GUEST-POWEROFF
expect_stderr_lacks "error"
pass
