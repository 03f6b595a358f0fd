#!/bin/sh
# net-ping: a virtio-net device on a tap that exists before petrel starts (persistent,
# made with tunctl, 10.0.2.1/24, up, no carrier while nobody holds it). The guest finds
# eth0 with the configured MAC, gives it 10.0.2.2/24, brings it up and has carrier at
# once (petrel reports link up, the guest does nothing for it), and three pings to
# 10.0.2.1 come back. The guest powers off (exit 0); the tap stays, with the pings counted
# on it.
. /nested/lib.sh
tap=tap0
mac=52:54:00:12:34:56
cleanup() { tunctl -d "$tap" >/dev/null 2>&1; }
trap cleanup EXIT
[ -c /dev/net/tun ] || fail "no /dev/net/tun in L1 (tun.ko not loaded?)"
[ -e "/sys/class/net/$tap" ] && fail "$tap exists before the case made it"
tunctl -t "$tap" >/dev/null || fail "tunctl -t $tap failed"
ip addr add 10.0.2.1/24 dev "$tap" || fail "ip addr add on $tap failed"
ip link set "$tap" up || fail "ip link set $tap up failed"
say "$tap: $(ip -o addr show dev "$tap" | grep 'inet ' | tr -s ' ' | cut -d' ' -f2-4), carrier $(cat "/sys/class/net/$tap/carrier" 2>&1)"
stat=/sys/class/net/$tap/statistics
run_petrel "$CONFIGS/net-ping.toml"
say "$tap after the run: rx_packets $(cat "$stat/rx_packets") tx_packets $(cat "$stat/tx_packets") rx_dropped $(cat "$stat/rx_dropped") tx_dropped $(cat "$stat/tx_dropped")"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_value GUEST-ETH0-MAC "$mac"
expect_value GUEST-ETH0-CARRIER 1
expect_value GUEST-ETH0-OPERSTATE up
expect_stdout_has "3 packets transmitted, 3 packets received, 0% packet loss"
expect_value GUEST-PING-RC 0
expect_stdout_has GUEST-POWEROFF
expect_stdout_lacks GUEST-ERROR
expect_stderr_lacks "error"
[ -e "/sys/class/net/$tap" ] || fail "the persistent tap $tap is gone after petrel exited"
[ "$(cat "$stat/rx_packets")" -ge 3 ] || fail "$tap received $(cat "$stat/rx_packets") packets, fewer than the 3 pings"
[ "$(cat "$stat/tx_packets")" -ge 3 ] || fail "$tap sent $(cat "$stat/tx_packets") packets, fewer than the 3 replies"
pass
