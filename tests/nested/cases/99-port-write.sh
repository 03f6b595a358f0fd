#!/bin/sh
# port-write: [[port]] gives the guest a virtio-console device (the cloud kernel's
# virtio_console module) with two named ports. The guest writes "hello-port" to
# /dev/virtio-ports/result and powers off: petrel exits 0 and the host file holds exactly
# those 10 bytes, which petrel made. The guest reads the other port, whose file holds a
# line, and prints what it got.
. /nested/lib.sh
rm -f "$CASE_DIR/result.out"
printf 'from-the-host\n' >"$CASE_DIR/input.txt" || fail "cannot make $CASE_DIR/input.txt"
run_petrel "$CONFIGS/port-write.toml"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_value GUEST-PORT-NAMES "org.petrel.input result"
expect_value GUEST-PORT-WRITE-RC 0
expect_value GUEST-PORT-READ from-the-host
expect_stdout_has GUEST-POWEROFF
expect_stdout_lacks GUEST-ERROR
expect_stderr_lacks "error"
[ -f "$CASE_DIR/result.out" ] || fail "petrel made no $CASE_DIR/result.out"
got=$(od -An -c "$CASE_DIR/result.out" | tr -s ' \n' ' ')
[ "$(cat "$CASE_DIR/result.out")" = hello-port ] && [ "$(wc -c <"$CASE_DIR/result.out")" -eq 10 ] ||
  fail "result.out holds '$got', expected the 10 bytes hello-port"
pass
