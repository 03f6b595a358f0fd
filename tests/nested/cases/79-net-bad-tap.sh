#!/bin/sh
# net-bad-tap: a tap petrel cannot attach to ends the run with DEVICE_INITIALIZATION_FAILURE
# (exit 5) and one error line naming the tap, before any guest runs: "lo", which is no tap
# (EINVAL), and a tap another petrel holds (single queue: EBUSY). The holder runs on and
# stops cleanly on SIGTERM (exit 15).
# case-timeout: 150
. /nested/lib.sh
tap=ptap-busy
cleanup() { tunctl -d "$tap" >/dev/null 2>&1; }  # if it ever outlives its petrel
trap cleanup EXIT
[ -c /dev/net/tun ] || fail "no /dev/net/tun in L1 (tun.ko not loaded?)"
[ -e "/sys/class/net/$tap" ] && fail "$tap exists before petrel made it"

check_refusal() { # check_refusal NAME WHY: the last run was refused for the tap NAME
  expect_exit 5
  expect_stdout_empty
  expect_stderr_has "net $1: cannot attach to the tap: $2"
  _n=$(grep -c "net $1:" "$PETREL_ERR")
  [ "$_n" = 1 ] || fail "$_n stderr lines name the tap $1, expected one"
  _n=$(grep -c error "$PETREL_ERR")
  [ "$_n" = 1 ] || fail "$_n error lines, expected one: $(grep error "$PETREL_ERR" | tr '\n' '|' | cut -c1-300)"
  say "refused: $(grep "net $1:" "$PETREL_ERR")"
  [ "$PETREL_MS" -lt 10000 ] || fail "refusing $1 took $PETREL_MS ms"
}

run_petrel "$CONFIGS/net-bad-tap-lo.toml" 20
check_refusal lo "Invalid argument"

start_petrel "$CONFIGS/net-bad-tap-a.toml"
wait_stdout PETREL-GUEST-INIT-OK
wait_stdout GUEST-HANGING 10
[ -e "/sys/class/net/$tap" ] || fail "no $tap while the first petrel runs"
run_petrel "$CONFIGS/net-bad-tap-b.toml" 20
check_refusal "$tap" "Device or resource busy"
petrel_alive || fail "the first petrel is gone after the second was refused"
signal_petrel TERM
finish_petrel 10
expect_exit 15
expect_stdout_count 1 1 PETREL-GUEST-INIT-OK
expect_stderr_lacks "error"
pass
