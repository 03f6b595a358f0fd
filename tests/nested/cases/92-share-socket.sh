#!/bin/sh
# share-socket: `socket =` connects to a virtiofsd the user started (here, the case) instead
# of starting one; the guest reads and writes through it. That virtiofsd is the user's: it
# ends by itself when petrel's connection closes.
# case-timeout: 150
. /nested/lib.sh
dir=/tmp/share-socket
sock=/tmp/share-socket.sock
rm -rf "$dir" "$sock" && mkdir -p "$dir"
token="sock-$(now_ms)"
echo "$token" >"$dir/from-host.txt"
/usr/lib/qemu/virtiofsd --socket-path="$sock" -o source="$dir" -o log_level=warn \
  </dev/null >"$CASE_DIR/virtiofsd.log" 2>&1 &
vfs=$!
_w=0
while [ ! -S "$sock" ] && [ $_w -lt 100 ]; do usleep 100000; _w=$((_w + 1)); done
[ -S "$sock" ] || { kill "$vfs"; fail "the case's virtiofsd made no socket: $(head -n 3 "$CASE_DIR/virtiofsd.log")"; }
run_petrel "$CONFIGS/share-socket.toml" 120
expect_exit 0
expect_value GUEST-SHARE-READ "$token"
expect_value GUEST-SHARE-WRITE-RC 0
[ "$(cat "$dir/from-guest.txt" 2>/dev/null)" = "written by the guest $token" ] ||
  fail "from-guest.txt holds '$(cat "$dir/from-guest.txt" 2>&1)'"
_w=0
while kill -0 "$vfs" 2>/dev/null && [ $_w -lt 50 ]; do usleep 100000; _w=$((_w + 1)); done
if kill -0 "$vfs" 2>/dev/null; then
  kill -9 "$vfs"
  fail "the user's virtiofsd still runs 5 s after petrel closed its connection"
fi
wait "$vfs"
expect_stdout_lacks GUEST-ERROR
expect_stderr_lacks "error"
pass
