# shellcheck shell=dash disable=SC2034 # (busybox ash; CONFIGS, GUEST_DIR are for the cases)
# lib.sh: shared helpers for the nested KVM tests, sourced (busybox ash) inside L1, the
# emulated arm64 host, by its /init and by every case script. They let a case run petrel
# with a time bound, record what it printed and how it ended, check that, and report one
# machine-readable line, `RESULT <case> PASS` or `RESULT <case> FAIL <reason>`, which is
# all the L0 side (tests/nested/run.sh) reads back.
#
# A case script looks like:
#   . /nested/lib.sh
#   run_petrel "$CONFIGS/boot-1cpu.toml"
#   expect_exit 0
#   expect_stdout_has PETREL-GUEST-INIT-OK
#   pass
# Every expect_* that does not hold calls fail, which ends the case.
#
# A case that must act while petrel runs (signals, a second instance, console input)
# starts it in the background instead:
#   start_petrel "$CONFIGS/sigterm.toml"
#   wait_stdout PETREL-GUEST-INIT-OK      # fails the case on a timeout or an early exit
#   signal_petrel TERM
#   finish_petrel 10                      # waits at most 10 s, then SIGKILL
#   expect_exit 15

NESTED=/nested                 # this harness inside L1: lib.sh, cases/, configs/, settings
CONFIGS=$NESTED/configs        # the .toml files of tests/nested/configs/
GUEST_DIR=/guest               # Image and initrd.cpio.gz for the L2 guest
RESULTS=/tmp/results           # one file per case that has reported its result
PETREL=${PETREL:-/bin/petrel}
PETREL_TIMEOUT=${NESTED_PETREL_TIMEOUT:-60}  # seconds one petrel run may take
PETREL_FLAGS=${NESTED_PETREL_FLAGS:-}         # global flags before `run`, e.g. -v
CR=$(printf '\r')

# Whether the busybox date knows %N (FEATURE_DATE_NANO); else /proc/uptime's 10 ms ticks.
case $(date +%N 2>/dev/null) in
  [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) _clock="date" ;;
  *) _clock=uptime ;;
esac

now_ms() { # milliseconds on some clock: only differences mean anything
  if [ "$_clock" = date ]; then
    _ns=$(date +%s%N)
    echo $((_ns / 1000000))
  else
    read -r _up _rest </proc/uptime
    _cs=${_up%.*}${_up#*.}           # "12.34" -> "1234" centiseconds
    echo $(( $(echo "$_cs" | sed 's/^0*//;s/^$/0/') * 10 ))
  fi
}

# run_bounded SECONDS COMMAND [ARG...]: runs COMMAND in a session of its own and waits for
# it. After SECONDS its whole session gets SIGTERM, 5 s later SIGKILL, so nothing it
# started outlives it. Returns COMMAND's status and sets BOUNDED_TIMED_OUT to 1 when the
# time ran out (the status alone cannot tell: petrel exits 15 on SIGTERM, 124 on its own
# --timeout). COMMAND's stdin is BOUNDED_STDIN (default /dev/null): a shell without job
# control gives a background job /dev/null whatever the function's own stdin is.
run_bounded() {
  _rb_secs=$1
  shift
  _rb_flag=/tmp/.bounded.$$.$(now_ms)
  rm -f "$_rb_flag"
  # A background job of a shell without job control is no process group leader, so
  # setsid(2) succeeds in place and $! is the new session's id.
  setsid "$@" <"${BOUNDED_STDIN:-/dev/null}" &
  _rb_pid=$!
  (
    trap 'kill "$_rb_sleep" 2>/dev/null; exit 0' TERM
    sleep "$_rb_secs" &
    _rb_sleep=$!
    wait "$_rb_sleep"
    : >"$_rb_flag"
    kill -TERM "-$_rb_pid" 2>/dev/null
    sleep 5
    kill -KILL "-$_rb_pid" 2>/dev/null
  ) &
  _rb_wd=$!
  wait "$_rb_pid"
  _rb_rc=$?
  kill -TERM "$_rb_wd" 2>/dev/null
  wait "$_rb_wd" 2>/dev/null
  BOUNDED_TIMED_OUT=0
  if [ -e "$_rb_flag" ]; then BOUNDED_TIMED_OUT=1; fi
  rm -f "$_rb_flag"
  return "$_rb_rc"
}

# Flushes what was written to the console (tcsetattr with TCSADRAIN waits until the tty
# and the UART have sent it), so output is not lost to a power-off right after it.
drain_console() {
  stty -F /dev/console "$(stty -F /dev/console -g 2>/dev/null)" 2>/dev/null || sleep 1
}

exit_name() { # exit_name CODE: petrel's name for its exit status (core/exit_code.h)
  case $1 in
    0) echo POWERED_OFF ;; 1) echo INTERNAL_ERROR ;; 3) echo BAD_CONFIG ;;
    4) echo GUEST_INITIALIZATION_FAILURE ;; 5) echo DEVICE_INITIALIZATION_FAILURE ;;
    7) echo DEVICE_MEMORY_OVERLAP ;; 10) echo KERNEL_LOAD_FAILURE ;;
    11) echo VCPU_START_FAILURE ;; 12) echo VCPU_RUNTIME_FAILURE ;; 13) echo NOT_CREATED ;;
    14) echo ALREADY_RUNNING ;; 15) echo CONTROLLER_FORCED_HALT ;; 32) echo GUEST_RESET ;;
    124) echo TIMEOUT ;; 126) echo NOT_EXECUTABLE ;; 127) echo NOT_FOUND ;;
    *) if [ "$1" -gt 128 ] 2>/dev/null; then echo "SIGNAL_$(($1 - 128))"; else echo UNKNOWN; fi ;;
  esac
}

# A run whose config enables the test-exit device ends with the status its guest wrote, so
# messages about it say "status N" rather than the lifecycle name (7 is no
# DEVICE_MEMORY_OVERLAP there). run_petrel and start_petrel set PETREL_TEST_EXIT.
PETREL_TEST_EXIT=0
exit_desc() { # exit_desc CODE: "CODE (NAME)", or "status CODE" for a test-exit run
  if [ "$PETREL_TEST_EXIT" = 1 ]; then echo "status $1"; else echo "$1 ($(exit_name "$1"))"; fi
}
test_exit_run() { # test_exit_run CONFIG ARG...: the run enables the test-exit device
  _te_cfg=$1
  shift
  for _te_arg in "$@"; do
    case $_te_arg in --test-exit) return 0 ;; esac
  done
  [ -n "$_te_cfg" ] && test_exit_enabled "$_te_cfg"
}
test_exit_enabled() { # test_exit_enabled CONFIG: it has a [test_exit] table, not enabled = false
  awk '/^[[:space:]]*\[/ { on = ($0 ~ /^[[:space:]]*\[test_exit\]/); if (on) found = 1 }
    on && /^[[:space:]]*enabled[[:space:]]*=[[:space:]]*false/ { off = 1 }
    END { exit !(found && !off) }' "$1" 2>/dev/null
}

# --- for case scripts -------------------------------------------------------------------

if [ -n "${CASE:-}" ]; then
  CASE_DIR=/tmp/cases/$CASE    # this case's files: run<N>.stdout, run<N>.stderr, ...
  mkdir -p "$CASE_DIR" "$RESULTS"
  cd "$CASE_DIR" || exit 1
fi
_runs=0

say() { # say TEXT...: a console line tagged with the case
  echo "[$CASE] $*"
}

_show_last() { # _show_last FILE TAG: the last 20 lines, as _show does (a run still going)
  tail -n 20 "$1" >"$CASE_DIR/.last" 2>/dev/null && _show "$CASE_DIR/.last" "$2 (last lines)"
}

_show() { # _show FILE TAG: the file's lines on the console as "[case] TAG: line"
  while IFS= read -r _line || [ -n "$_line" ]; do
    echo "[$CASE] $2: ${_line%"$CR"}"
  done <"$1"
}

# run_petrel CONFIG [SECONDS [ARG...]]: `petrel run [ARG...] CONFIG` with no input, bounded
# by SECONDS (default $PETREL_TIMEOUT); an empty CONFIG is quick mode (flags alone). With
# PETREL_INPUT set, its text is petrel's stdin instead, piped in at once and then closed, as
# `printf 'TEXT' | petrel run` gives it. Sets PETREL_RC (exit status), PETREL_MS (elapsed),
# PETREL_TIMED_OUT (1 if the harness had to stop it), PETREL_OUT / PETREL_ERR (files with
# its stdout / stderr), echoes both to the console and prints `TIME <case> <ms>`.
run_petrel() {
  _cfg=$1
  PETREL_LIMIT=${2:-$PETREL_TIMEOUT}
  if [ $# -ge 2 ]; then shift 2; else shift; fi
  _runs=$((_runs + 1))
  PETREL_OUT=$CASE_DIR/run$_runs.stdout
  PETREL_ERR=$CASE_DIR/run$_runs.stderr
  PETREL_TEST_EXIT=0
  if test_exit_run "$_cfg" "$@"; then PETREL_TEST_EXIT=1; fi
  say "run $_runs: $PETREL ${PETREL_FLAGS:+$PETREL_FLAGS }run ${_cfg:+$_cfg }$* (limit ${PETREL_LIMIT}s)"
  _t0=$(now_ms)
  BOUNDED_STDIN=/dev/null
  if [ -n "${PETREL_INPUT+set}" ]; then
    # A FIFO rather than `printf | run_bounded`: a pipeline would run run_bounded in a
    # subshell. The writer opens it when petrel does, writes, and closes it.
    BOUNDED_STDIN=$CASE_DIR/run$_runs.stdin
    rm -f "$BOUNDED_STDIN"
    mkfifo "$BOUNDED_STDIN" || fail "mkfifo $BOUNDED_STDIN failed"
    printf '%s' "$PETREL_INPUT" >"$BOUNDED_STDIN" &
  fi
  # shellcheck disable=SC2086 # PETREL_FLAGS is a list of words
  run_bounded "$PETREL_LIMIT" "$PETREL" $PETREL_FLAGS run ${_cfg:+"$_cfg"} "$@" >"$PETREL_OUT" 2>"$PETREL_ERR"
  PETREL_RC=$?
  BOUNDED_STDIN=
  _t1=$(now_ms)
  PETREL_TIMED_OUT=$BOUNDED_TIMED_OUT
  PETREL_MS=$((_t1 - _t0))
  PETREL_HALT_NOTE="still running after ${PETREL_LIMIT}s, stopped by the harness"
  _report_run "$PETREL_HALT_NOTE"
}

_report_run() { # _report_run NOTE: the last run's output, exit status and TIME line
  _show "$PETREL_OUT" stdout
  _show "$PETREL_ERR" stderr
  _note=
  if [ "$PETREL_TIMED_OUT" = 1 ]; then _note=" ($1)"; fi
  say "run $_runs: exit $(exit_desc "$PETREL_RC")$_note"
  # In a test-exit run a status above 128 is the guest's own unless the kernel reported a
  # fatal signal of petrel's (l1-init.sh turns on exception-trace).
  if [ "$PETREL_RC" -gt 128 ] && [ "$PETREL_TIMED_OUT" != 1 ] &&
    { [ "$PETREL_TEST_EXIT" != 1 ] || dmesg | grep -q 'petrel\[[0-9]*\]: unhandled'; }; then
    # Killed by a signal nobody in the harness sent (a crash): the kernel's report of it
    # (pc, lr, fault address; petrel is static and not stripped, so addr2line on L0 works).
    say "run $_runs: petrel died of signal $((PETREL_RC - 128)); kernel log:"
    dmesg | tail -n 40 | while IFS= read -r _line; do echo "[$CASE] dmesg: $_line"; done
  fi
  echo "TIME $CASE $PETREL_MS"
}

# --- petrel in the background: start, watch its output, signal it, collect it -------------
# One background petrel at a time. start_petrel sets the same PETREL_OUT / PETREL_ERR a
# run_petrel would, so a run_petrel while it runs (already-running) gets files of its own
# and finish_petrel restores them. A case that fails while its background petrel runs has
# that petrel's session killed (fail -> _result -> _kill_background).
BG_PID=

# start_petrel CONFIG [ARG...]: `petrel run [ARG...] CONFIG` in the background, in a session
# of its own, stdin from $PETREL_STDIN (default /dev/null); an empty CONFIG is quick mode.
# Sets BG_PID.
start_petrel() {
  _cfg=$1
  shift
  _runs=$((_runs + 1))
  BG_RUN=$_runs
  BG_OUT=$CASE_DIR/run$_runs.stdout
  BG_ERR=$CASE_DIR/run$_runs.stderr
  PETREL_OUT=$BG_OUT
  PETREL_ERR=$BG_ERR
  BG_TEST_EXIT=0
  if test_exit_run "$_cfg" "$@"; then BG_TEST_EXIT=1; fi
  PETREL_TEST_EXIT=$BG_TEST_EXIT
  _stdin=${PETREL_STDIN:-/dev/null}
  say "run $_runs: $PETREL ${PETREL_FLAGS:+$PETREL_FLAGS }run ${_cfg:+$_cfg }$* (background, stdin $_stdin)"
  BG_T0=$(now_ms)
  # Like run_bounded: $! is the new session's id, and petrel itself (setsid execs it).
  # Descriptors above 2 (e.g. a FIFO the case writes to) stay with the case.
  # shellcheck disable=SC2086 # PETREL_FLAGS is a list of words
  setsid "$PETREL" $PETREL_FLAGS run ${_cfg:+"$_cfg"} "$@" <"$_stdin" >"$BG_OUT" 2>"$BG_ERR" 3>&- 4>&- 5>&- &
  BG_PID=$!
}

petrel_alive() { # petrel_alive: the background petrel exists and has not exited (no zombie)
  [ -n "$BG_PID" ] || return 1
  _stat=$(cat "/proc/$BG_PID/stat" 2>/dev/null) || return 1
  _state=${_stat#*) }
  case $_state in Z* | X*) return 1 ;; esac
  return 0
}

count_in() { # count_in FILE TEXT: how many lines of FILE contain TEXT
  grep -cF -- "$2" "$1" 2>/dev/null || true
}

# wait_stdout TEXT [SECONDS [COUNT]]: waits until the background petrel's stdout has
# COUNT (default 1) lines containing TEXT. Fails the case when SECONDS (default
# $PETREL_TIMEOUT) pass first or petrel exits first. wait_stderr: the same for stderr.
wait_stdout() { _wait_output stdout "$BG_OUT" "$@"; }
wait_stderr() { _wait_output stderr "$BG_ERR" "$@"; }

_wait_output() { # _wait_output STREAM FILE TEXT [SECONDS [COUNT]]
  _ws_stream=$1
  _ws_file=$2
  _ws_text=$3
  _ws_secs=${4:-$PETREL_TIMEOUT}
  _ws_count=${5:-1}
  _ws_end=$(($(now_ms) + _ws_secs * 1000))
  while :; do
    _ws_have=$(count_in "$_ws_file" "$_ws_text")
    if [ "$_ws_have" -ge "$_ws_count" ]; then
      say "run $BG_RUN: '$_ws_text' x$_ws_have in $_ws_stream after $(($(now_ms) - BG_T0)) ms"
      return 0
    fi
    if ! petrel_alive; then
      finish_petrel 5
      fail "petrel exited with $(exit_desc "$PETREL_RC") before '$_ws_text' appeared $_ws_count time(s) in its $_ws_stream (seen $_ws_have); last stderr line: $(_last_stderr)"
    fi
    if [ "$(now_ms)" -ge "$_ws_end" ]; then
      _show_last "$BG_OUT" stdout
      _show_last "$BG_ERR" stderr
      fail "'$_ws_text' not $_ws_count time(s) in petrel's $_ws_stream within ${_ws_secs}s (seen $_ws_have)"
    fi
    usleep 100000
  done
}

signal_petrel() { # signal_petrel SIGNAL: sends SIGNAL (TERM, INT, HUP, ...) to the background petrel
  petrel_alive || fail "cannot send SIG$1: the background petrel is not running"
  say "run $BG_RUN: sending SIG$1 to pid $BG_PID"
  SIGNAL_T=$(now_ms)
  kill -s "$1" "$BG_PID" || fail "kill -s $1 $BG_PID failed"
}

# finish_petrel SECONDS: waits up to SECONDS for the background petrel to end; after that
# its session gets SIGKILL (not SIGTERM, which petrel would turn into a clean exit 15) and
# PETREL_TIMED_OUT is 1. Then sets PETREL_RC, PETREL_MS (since start_petrel),
# PETREL_OUT / PETREL_ERR like run_petrel, and prints its output and TIME line.
# SIGNAL_MS is the time from the last signal_petrel to the end (empty if none was sent).
finish_petrel() {
  [ -n "$BG_PID" ] || fail "finish_petrel: no background petrel"
  _fp_secs=$1
  _fp_flag=/tmp/.finish.$$.$(now_ms)
  rm -f "$_fp_flag"
  (
    trap 'kill "$_fp_sleep" 2>/dev/null; exit 0' TERM
    sleep "$_fp_secs" &
    _fp_sleep=$!
    wait "$_fp_sleep"
    : >"$_fp_flag"
    kill -KILL "-$BG_PID" 2>/dev/null
  ) &
  _fp_wd=$!
  wait "$BG_PID"
  PETREL_RC=$?
  _fp_t1=$(now_ms)
  kill -TERM "$_fp_wd" 2>/dev/null
  wait "$_fp_wd" 2>/dev/null
  PETREL_TIMED_OUT=0
  if [ -e "$_fp_flag" ]; then PETREL_TIMED_OUT=1; fi
  rm -f "$_fp_flag"
  PETREL_LIMIT=$_fp_secs
  PETREL_MS=$((_fp_t1 - BG_T0))
  SIGNAL_MS=
  if [ -n "${SIGNAL_T:-}" ]; then SIGNAL_MS=$((_fp_t1 - SIGNAL_T)); fi
  SIGNAL_T=
  PETREL_OUT=$BG_OUT
  PETREL_ERR=$BG_ERR
  PETREL_TEST_EXIT=$BG_TEST_EXIT
  _fp_run=$_runs
  _runs=$BG_RUN
  BG_PID=
  PETREL_HALT_NOTE="still running ${_fp_secs}s after the harness began waiting for its end, killed"
  _report_run "$PETREL_HALT_NOTE"
  _runs=$_fp_run
  if [ -n "$SIGNAL_MS" ]; then say "run $BG_RUN: ended $SIGNAL_MS ms after the signal"; fi
}

_kill_background() { # a failing case leaves no petrel behind (it could hold a lock or CPUs)
  if [ -n "$BG_PID" ]; then
    kill -KILL "-$BG_PID" 2>/dev/null
    wait "$BG_PID" 2>/dev/null
    BG_PID=
  fi
}

_result() { # at most one RESULT line per case, however often pass/fail is called
  _kill_background
  if [ -e "$RESULTS/$CASE" ]; then return; fi
  : >"$RESULTS/$CASE"
  echo "RESULT $CASE $(printf '%s' "$*" | tr '\r\n' '  ')"
}

pass() {
  _result PASS
  exit 0
}

fail() { # fail REASON...
  _result FAIL "$@"
  exit 1
}

_last_stderr() { # the last non-empty stderr line of the last run, for failure reasons
  _l=$(grep -v '^[[:space:]]*$' "$PETREL_ERR" 2>/dev/null | tail -n 1 | tr -d '\r' | cut -c1-200)
  echo "${_l:-(stderr empty)}"
}

expect_exit() { # expect_exit CODE: the last run ended with that status
  [ "$PETREL_RC" = "$1" ] && return 0
  if [ "$PETREL_TIMED_OUT" = 1 ]; then
    fail "petrel ${PETREL_HALT_NOTE:-still running after ${PETREL_LIMIT}s, stopped by the harness} (exit $PETREL_RC); expected exit $(exit_desc "$1")"
  fi
  fail "exit $(exit_desc "$PETREL_RC"), expected $(exit_desc "$1"); last stderr line: $(_last_stderr)"
}

expect_stdout_has() { # expect_stdout_has TEXT: the last run's stdout contains TEXT
  grep -qF -- "$1" "$PETREL_OUT" || fail "stdout lacks '$1'"
}

expect_stdout_lacks() { # expect_stdout_lacks TEXT
  grep -qF -- "$1" "$PETREL_OUT" && fail "stdout has '$1'"
  return 0
}

expect_stderr_has() { # expect_stderr_has TEXT: the last run's stderr contains TEXT
  grep -qF -- "$1" "$PETREL_ERR" || fail "stderr lacks '$1'; last stderr line: $(_last_stderr)"
}

expect_stderr_lacks() { # expect_stderr_lacks TEXT
  grep -qF -- "$1" "$PETREL_ERR" && fail "stderr has '$1': $(grep -F -- "$1" "$PETREL_ERR" | head -n 1 | tr -d '\r' | cut -c1-200)"
  return 0
}

expect_stdout_count() { # expect_stdout_count MIN MAX TEXT: MIN..MAX lines of stdout contain TEXT (MAX - for no limit)
  _ec_n=$(count_in "$PETREL_OUT" "$3")
  if [ "$_ec_n" -lt "$1" ] || { [ "$2" != - ] && [ "$_ec_n" -gt "$2" ]; }; then
    if [ "$2" = - ]; then _ec_want="at least $1"; elif [ "$1" = "$2" ]; then _ec_want=$1; else _ec_want="$1..$2"; fi
    fail "stdout has '$3' $_ec_n time(s), expected $_ec_want"
  fi
}

expect_stdout_empty() { # expect_stdout_empty: the last run printed nothing on stdout
  [ -s "$PETREL_OUT" ] && fail "stdout is not empty: $(head -c 200 "$PETREL_OUT" | tr -d '\r' | tr '\n' ' ')"
  return 0
}

expect_stderr_matches() { # expect_stderr_matches ERE: some stderr line matches the regex
  grep -qE -- "$1" "$PETREL_ERR" || fail "no stderr line matches /$1/; last stderr line: $(_last_stderr)"
}

# --- guest output as values (the virtio cases) ---------------------------------------------

file_md5() { # file_md5 FILE: its md5 in hex
  md5sum "$1" | cut -d' ' -f1
}

stdout_value() { # stdout_value KEY: the rest of the last run's first stdout line "KEY ..."
  grep -m 1 "^$1 " "$PETREL_OUT" | tr -d '\r' | cut -d' ' -f2-
}

expect_value() { # expect_value KEY VALUE: the last run's first stdout line "KEY ..." is "KEY VALUE"
  grep -q "^$1 " "$PETREL_OUT" || fail "no '$1' line in stdout (expected '$1 $2')"
  _ev=$(stdout_value "$1")
  [ "$_ev" = "$2" ] || fail "stdout has '$1 $_ev', expected '$1 $2'"
}

# --- virtio-fs ----------------------------------------------------------------------------

share_virtiofsds() { # the pids of every virtiofsd process (zombies included), space-separated
  for _p in /proc/[0-9]*; do
    [ "$(cat "$_p/comm" 2>/dev/null)" = virtiofsd ] && printf '%s ' "${_p#/proc/}"
  done
  return 0
}

# The control socket, asked by a client that is not petrel's own (OpenBSD netcat, the
# HTTP/1.1 request written out here; L1 has no curl). api_http SOCKET METHOD PATH [BODY]:
# the whole response (status line, headers, body) in $REPLY_FILE, shown on the console.
REPLY_FILE=/tmp/api-reply
api_http() {
  if [ -n "${4:-}" ]; then
    printf '%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s' \
      "$2" "$3" "${#4}" "$4"
  else
    printf '%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$2" "$3"
  fi | timeout 10 nc.openbsd -U "$1" >"$REPLY_FILE" 2>&1
  _show "$REPLY_FILE" "$2 $3"
}
expect_reply() { # expect_reply TEXT: the last api_http reply contains TEXT
  grep -qF -- "$1" "$REPLY_FILE" || fail "the reply lacks '$1'"
}
