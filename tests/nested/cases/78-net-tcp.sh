#!/bin/sh
# net-tcp: TCP both ways over virtio-net, on a tap petrel creates. The tap does not exist
# before; petrel makes it and brings it up by itself; the case gives it 10.0.3.1/24 once it
# appears. L1 serves 1 MiB of random bytes with `nc -l -p 5000`, which the guest
# (10.0.3.2/24, petrel's default MAC: locally administered, unicast) fetches and hashes;
# then the guest sends 1 MiB of its own random bytes to L1's `nc -l -p 5001` and prints
# their md5, which must be what L1 received. The guest powers off (exit 0) and the tap
# goes with petrel.
# case-timeout: 180
. /nested/lib.sh
tap=ptap-tcp
nc_down=
nc_up=
sampler=
counters=$CASE_DIR/tap-counters
show_counters() { # the tap's counters as last seen while it existed
  say "$tap counters (last sample): $(cat "$counters" 2>/dev/null || echo none)"
}
cleanup() {
  # A failure while petrel ran in the background, before finish_petrel had shown its
  # output and set PETREL_RC: what the guest had printed so far.
  if [ -n "${BG_OUT:-}" ] && [ -z "${PETREL_RC:-}" ]; then
    _show "$BG_OUT" stdout
    _show "$BG_ERR" stderr
  fi
  for p in $nc_down $nc_up $sampler; do kill "$p" 2>/dev/null; done
  if [ -n "$sampler" ]; then show_counters; fi
  tunctl -d "$tap" >/dev/null 2>&1  # if it ever outlives its petrel
}
trap cleanup EXIT
[ -c /dev/net/tun ] || fail "no /dev/net/tun in L1 (tun.ko not loaded?)"
[ -e "/sys/class/net/$tap" ] && fail "$tap exists before petrel made it"
down=$CASE_DIR/down.bin
up=$CASE_DIR/up.bin
head -c 1048576 /dev/urandom >"$down" || fail "cannot make $down"
want_down=$(file_md5 "$down")
say "down.bin: 1048576 bytes, md5 $want_down"
# busybox nc exits as soon as its peer's side ends and half-closes on EOF on its stdin:
# the receiving end reads a FIFO that never ends (fd 3 holds it open), so it ends last.
mkfifo "$CASE_DIR/hold" || fail "mkfifo failed"
exec 3<>"$CASE_DIR/hold"
timeout 150 nc -w 120 -l -p 5000 <"$down" >/dev/null 2>"$CASE_DIR/nc-down.err" &
nc_down=$!
timeout 150 nc -w 120 -l -p 5001 <"$CASE_DIR/hold" >"$up" 2>"$CASE_DIR/nc-up.err" &
nc_up=$!
start_petrel "$CONFIGS/net-tcp.toml"
# The tap appears while petrel sets its devices up, before the guest runs.
n=0
while [ ! -e "/sys/class/net/$tap" ] && [ $n -lt 100 ] && petrel_alive; do usleep 100000; n=$((n + 1)); done
if [ ! -e "/sys/class/net/$tap" ]; then
  if ! petrel_alive; then
    finish_petrel 5
    fail "petrel exited ($PETREL_RC, $(exit_name "$PETREL_RC")) before $tap appeared; last stderr line: $(_last_stderr)"
  fi
  fail "no $tap 10 s after petrel started"
fi
say "$tap appeared after about $((n * 100)) ms"
# IFF_UP (flags bit 0): petrel's, not ours.
n=0
while [ $(($(cat "/sys/class/net/$tap/flags") & 1)) -eq 0 ] && [ $n -lt 50 ]; do usleep 100000; n=$((n + 1)); done
flags=$(cat "/sys/class/net/$tap/flags")
[ $((flags & 1)) -eq 1 ] || fail "petrel did not bring $tap up (flags $flags after 5 s)"
ip addr add 10.0.3.1/24 dev "$tap" || fail "ip addr add on $tap failed"
# The tap goes with petrel: its counters, sampled while it exists, for the record.
(
  while [ -e "/sys/class/net/$tap" ]; do
    _c=
    for _k in rx_packets tx_packets rx_bytes tx_bytes rx_dropped tx_dropped rx_errors tx_errors; do
      _c="$_c $_k $(cat "/sys/class/net/$tap/statistics/$_k" 2>/dev/null)"
    done
    [ -e "/sys/class/net/$tap" ] && echo "$_c" >"$counters.new" && mv "$counters.new" "$counters"
    usleep 200000
  done
) &
sampler=$!
say "$tap: flags $flags, carrier $(cat "/sys/class/net/$tap/carrier" 2>&1), 10.0.3.1/24"
wait_stdout GUEST-POWEROFF 150
finish_petrel 15
kill "$sampler" 2>/dev/null
wait "$sampler"
sampler=
show_counters
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
mac=$(stdout_value GUEST-ETH0-MAC)
say "guest MAC (petrel's default) $mac"
case $mac in
  [0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]) ;;
  *) fail "guest MAC '$mac' is no MAC" ;;
esac
[ $((0x${mac%%:*} & 3)) -eq 2 ] || fail "default MAC $mac is not locally administered unicast"
expect_value GUEST-ETH0-CARRIER 1
expect_value GUEST-PEER-PING-RC 0
expect_value GUEST-DOWN-RC 0
expect_value GUEST-DOWN-BYTES 1048576
expect_value GUEST-DOWN-MD5 "$want_down"
expect_value GUEST-UP-RC 0
want_up=$(stdout_value GUEST-UP-MD5)
[ -n "$want_up" ] || fail "no GUEST-UP-MD5 line"
expect_stdout_lacks GUEST-ERROR
expect_stderr_lacks "error"
wait "$nc_down"
rc_down=$?
wait "$nc_up"
rc_up=$?
nc_down=
nc_up=
say "L1 nc: serving exit $rc_down, receiving exit $rc_up; received $(wc -c <"$up") bytes"
[ "$rc_down" = 0 ] || fail "L1's serving nc exited $rc_down: $(head -c 200 "$CASE_DIR/nc-down.err")"
[ "$rc_up" = 0 ] || fail "L1's receiving nc exited $rc_up: $(head -c 200 "$CASE_DIR/nc-up.err")"
got_up=$(file_md5 "$up")
[ "$got_up" = "$want_up" ] || fail "L1 received $(wc -c <"$up") bytes with md5 $got_up, the guest sent md5 $want_up"
[ "$(wc -c <"$up")" -eq 1048576 ] || fail "L1 received $(wc -c <"$up") bytes, not 1048576"
[ -e "/sys/class/net/$tap" ] && fail "the tap $tap petrel created outlived it"
pass
