#!/bin/sh
# reset-loop: a guest that resets as soon as it starts, with on_reset = "restart", keeps
# petrel creating and destroying VMs as fast as it can. Stopping it there, with --timeout
# (exit 124) or SIGTERM (exit 15), hits every phase of the restart cycle: the exit code
# must still be right and petrel must not crash or hang. petrel runs with -v here, so its
# "created (boot N)" lines show how many boots there were.
. /nested/lib.sh
PETREL_FLAGS="${PETREL_FLAGS:+$PETREL_FLAGS }-v"
for t in 1.5 1.7 1.9 2.3; do
  run_petrel "$CONFIGS/reset-loop.toml" 20 --timeout "$t"
  expect_exit 124
  expect_stderr_matches '[Tt]ime( |-)?out'
  expect_stderr_has "created (boot 2)"
  expect_stdout_empty
done
for n in 2 3 5 7 9 11 13 15; do
  start_petrel "$CONFIGS/reset-loop.toml"
  wait_stderr "created (boot $n)" 20
  signal_petrel TERM
  finish_petrel 10
  expect_exit 15
  expect_stderr_lacks "error"
done
pass
