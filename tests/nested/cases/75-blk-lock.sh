#!/bin/sh
# blk-lock: a writable drive belongs to one petrel. While one runs a guest on an image,
# a second petrel (another guest name, so not ALREADY_RUNNING) on the same image is
# refused with DEVICE_INITIALIZATION_FAILURE (exit 5) and "in use by another process",
# whether it wants it writable or read-only, before its guest starts; the first one runs
# on, stops cleanly on SIGTERM (exit 15), and the image is unchanged. The lock goes with
# the first petrel: then the second one boots.
# case-timeout: 150
. /nested/lib.sh
img=/tmp/cases/blk-lock/disk.img     # the path in the blk-lock-*.toml configs
[ "$CASE_DIR/disk.img" = "$img" ] || fail "CASE_DIR is $CASE_DIR, the configs say $img"
head -c 1048576 /dev/urandom >"$img" || fail "cannot make $img"
want=$(file_md5 "$img")
start_petrel "$CONFIGS/blk-lock-a.toml"
wait_stdout PETREL-GUEST-INIT-OK
wait_stdout GUEST-HANGING 10
for second in blk-lock-b blk-lock-ro; do
  run_petrel "$CONFIGS/$second.toml" 20
  expect_exit 5
  expect_stderr_has "in use by another process"
  expect_stderr_has "$img"
  expect_stdout_empty
  [ "$PETREL_MS" -lt 10000 ] || fail "$second took $PETREL_MS ms to refuse"
  petrel_alive || fail "the first petrel is gone after $second was refused"
done
signal_petrel TERM
finish_petrel 10
expect_exit 15
expect_stdout_count 1 1 PETREL-GUEST-INIT-OK
[ "$(file_md5 "$img")" = "$want" ] || fail "the image changed"
run_petrel "$CONFIGS/blk-lock-b.toml"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_has GUEST-POWEROFF
expect_stderr_lacks "error"
[ "$(file_md5 "$img")" = "$want" ] || fail "the image changed"
pass
