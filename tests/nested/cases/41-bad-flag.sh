#!/bin/sh
# bad-flag: a malformed or unknown command-line flag is BAD_CONFIG (exit 3) before any VM
# exists. The config is a valid one, so a petrel that ignored the flag would boot it and
# exit 0 instead.
. /nested/lib.sh
run_petrel "$CONFIGS/boot-1cpu.toml" 20 --timeout bogus
expect_exit 3
expect_stderr_has "bogus"
expect_stderr_has "--timeout"
expect_stdout_empty
run_petrel "$CONFIGS/boot-1cpu.toml" 20 --no-such-flag
expect_exit 3
expect_stderr_has "--no-such-flag"
expect_stdout_empty
pass
