#!/bin/sh
# panic: the guest kernel panics (echo c > /proc/sysrq-trigger); with panic=-1 on its
# command line it resets at once, and petrel exits 32. The console must show the panic,
# or a guest that merely rebooted would pass. petrel reports it as a panic on stderr,
# with the console lines that led to it: also when the console went nowhere.
. /nested/lib.sh
run_petrel "$CONFIGS/panic.toml"
expect_exit 32
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_has GUEST-PANICKING
expect_stdout_has "Kernel panic"
expect_stdout_lacks "GUEST-ERROR"
expect_stderr_has "the guest kernel panicked: Kernel panic - not syncing: sysrq triggered crash"

run_petrel "$CONFIGS/panic.toml" 60 --console none
expect_exit 32
expect_stdout_empty
expect_stderr_has "the guest kernel panicked: Kernel panic - not syncing: sysrq triggered crash"
expect_stderr_has "| GUEST-PANICKING"
pass
