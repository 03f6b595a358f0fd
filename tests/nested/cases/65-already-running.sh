#!/bin/sh
# already-running: while a guest named "twin" runs, a second `petrel run` of the same
# config exits 14 (ALREADY_RUNNING) at once, says so on stderr, and leaves the first one
# alone, its console log included; the first then stops cleanly on SIGTERM (exit 15).
. /nested/lib.sh
log=$CASE_DIR/twin.log
start_petrel "$CONFIGS/twin.toml" --console-log "$log"
wait_stdout PETREL-GUEST-INIT-OK
run_petrel "$CONFIGS/twin.toml" 20 --console-log "$log"
expect_exit 14
expect_stderr_has "already running"
expect_stderr_has "twin"
expect_stderr_has "pid $BG_PID"        # the lock names the holder
expect_stdout_empty
[ "$PETREL_MS" -lt 10000 ] || fail "the second petrel took $PETREL_MS ms to refuse"
if ! kill -0 "$BG_PID" 2>/dev/null || ! petrel_alive; then
  fail "the first petrel is gone after the second one was refused"
fi
signal_petrel TERM
finish_petrel 10
expect_exit 15
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_count 1 1 PETREL-GUEST-INIT-OK
grep -q PETREL-GUEST-INIT-OK "$log" || fail "the first guest's console log was truncated"
pass
