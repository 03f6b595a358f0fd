#!/bin/sh
# share-dies: when petrel's virtiofsd dies under a running guest, petrel says so on stderr
# (an error naming the share and how virtiofsd ended) and keeps running; SIGTERM then stops
# it as usual (exit 15) and it leaves no zombie.
# case-timeout: 120
. /nested/lib.sh
start_petrel "$CONFIGS/share-dies.toml"
wait_stdout GUEST-HANGING
pids=$(share_virtiofsds)
[ -n "$pids" ] || fail "no virtiofsd runs beside petrel"
say "killing virtiofsd: $pids"
# shellcheck disable=SC2086 # a list of pids
kill -9 $pids
wait_stderr "the vhost-user backend closed the connection" 20
expect_stderr_has "share[0]"
petrel_alive || fail "petrel ended when its virtiofsd died"
signal_petrel TERM
finish_petrel 10
expect_exit 15
[ -z "$(share_virtiofsds)" ] || fail "virtiofsd processes left: $(share_virtiofsds)"
pass
