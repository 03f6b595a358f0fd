#!/bin/sh
# api-pause: Bind from the command line and over the socket. A guest prints a counter ten
# times a second. `petrel status` and `petrel list` name it Running with its pid;
# `petrel pause` parks it: GET / (netcat) says "Paused" and no counter line comes for 2 s;
# `petrel resume` lets it count on, GET / says "Running"; a bad PATCH /vm is a 400 with a
# fault_message. A paused guest stopped by SIGTERM exits 15 and its socket is gone; then
# `petrel stop` ends a second run with 15, and asking a guest that is gone exits 13.
# case-timeout: 200
. /nested/lib.sh
PETREL_FLAGS="${PETREL_FLAGS:+$PETREL_FLAGS }-v" # the supervisor's info lines
rt=/tmp/api-pause-rt
sock=$rt/api-pause.sock
rm -rf "$rt"

ctl() { # ctl COMMAND ARG...: petrel's own client; its output in ctl.out, its status in CTL_RC
  _ctl=$1
  shift
  CTL_RC=0
  "$PETREL" "$_ctl" "$@" --runtime-dir "$rt" >"$CASE_DIR/ctl.out" 2>&1 || CTL_RC=$?
  _show "$CASE_DIR/ctl.out" "petrel $_ctl $* (exit $CTL_RC)"
}
expect_ctl() { # expect_ctl CODE [TEXT]: the last ctl exited CODE (and printed TEXT)
  [ "$CTL_RC" -eq "$1" ] || fail "petrel $_ctl exited $CTL_RC, expected $1"
  [ -z "${2:-}" ] || grep -qF -- "$2" "$CASE_DIR/ctl.out" ||
    fail "petrel $_ctl did not print '$2'"
}
ticks() { count_in "$BG_OUT" GUEST-TICK; }

start_petrel "$CONFIGS/api-pause.toml" --runtime-dir "$rt"
wait_stdout "GUEST-TICK 10" 90
ctl status api-pause
expect_ctl 0 "api-pause: Running, 2 vCPU(s), 256 MiB, pid $BG_PID, up "
ctl list
expect_ctl 0 "api-pause	Running	pid $BG_PID	$sock"

ctl pause api-pause
expect_ctl 0
api_http "$sock" GET /
expect_reply '"state":"Paused"'
usleep 500000 # what the guest wrote before the pause reaches stdout
before=$(ticks)
sleep 2
after=$(ticks)
say "counter lines: $before when paused, $after two seconds later"
[ "$before" -eq "$after" ] || fail "the guest counted on while paused ($before -> $after lines)"
ctl pause api-pause # pausing twice is no error
expect_ctl 0
ctl status api-pause
expect_ctl 0 "api-pause: Paused,"

ctl resume api-pause
expect_ctl 0
wait_stdout GUEST-TICK 10 $((after + 5))
api_http "$sock" GET /
expect_reply '"state":"Running"'
api_http "$sock" PATCH /vm '{"state": "Frozen"}'
expect_reply "HTTP/1.1 400 Bad Request"
expect_reply '{"fault_message":"state: \"Frozen\" is not one of Paused, Resumed"}'

# A paused guest stops on SIGTERM as a running one does.
ctl pause api-pause
expect_ctl 0
signal_petrel TERM
finish_petrel 20
expect_exit 15
[ ! -e "$sock" ] || fail "$sock is still there after the run"
ctl status api-pause
expect_ctl 13 "no guest serves there"

# `petrel stop` ends the run as SIGTERM does.
start_petrel "$CONFIGS/api-pause.toml" --runtime-dir "$rt"
wait_stdout "GUEST-TICK 5" 90
ctl stop api-pause
expect_ctl 0
finish_petrel 20
expect_exit 15
expect_stderr_has "stop request: stopping the VM"
ctl pause api-pause
expect_ctl 13 "no guest serves there"
pass
