#!/bin/sh
# share-petrel-killed: a petrel killed with SIGKILL runs no destructor, yet its virtiofsd
# ends with it (PR_SET_PDEATHSIG) and no socket file of petrel's is left in /tmp. (Reaping
# the orphan is then init's job: zombies do not count here.)
# case-timeout: 120
. /nested/lib.sh
live_virtiofsds() { # the virtiofsd processes that have not exited
  for _v in $(share_virtiofsds); do
    _s=$(cat "/proc/$_v/stat" 2>/dev/null) || continue
    _st=${_s#*) }
    case $_st in Z* | X*) ;; *) printf '%s ' "$_v" ;; esac
  done
}
start_petrel "$CONFIGS/share-dies.toml"
wait_stdout GUEST-HANGING
[ -n "$(live_virtiofsds)" ] || fail "no virtiofsd runs beside petrel"
signal_petrel KILL
finish_petrel 10
expect_exit 137
_w=0
while [ -n "$(live_virtiofsds)" ] && [ $_w -lt 50 ]; do usleep 100000; _w=$((_w + 1)); done
left=$(live_virtiofsds)
[ -z "$left" ] || fail "virtiofsd still runs 5 s after petrel was killed: $left"
say "virtiofsd gone $((_w * 100)) ms after petrel"
ls -d /tmp/petrel-virtiofs-* >/dev/null 2>&1 && fail "socket folders left: $(ls -d /tmp/petrel-virtiofs-*)"
pass
