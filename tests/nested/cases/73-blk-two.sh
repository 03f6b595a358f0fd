#!/bin/sh
# blk-two: two [[drive]] tables become vda and vdb in config order: a writable 1 MiB
# drive (2048 sectors) with serial "first", then a read-only 3 MiB one (6144 sectors)
# with serial "second", each image starting with its own label. The config names the
# images relative to itself, so the case runs a copy of it next to them.
. /nested/lib.sh
cp "$CONFIGS/blk-two.toml" "$CASE_DIR/blk-two.toml" || fail "cannot copy the config"
{ printf 'PETREL-DISK-ONE-'; head -c $((1048576 - 16)) /dev/zero; } >"$CASE_DIR/first.img"
{ printf 'PETREL-DISK-TWO-'; head -c $((3 * 1048576 - 16)) /dev/zero; } >"$CASE_DIR/second.img"
run_petrel "$CASE_DIR/blk-two.toml"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_has "GUEST-DISK vda size 2048 ro 0 serial 'first' head 'PETREL-DISK-ONE-'"
expect_stdout_has "GUEST-DISK vdb size 6144 ro 1 serial 'second' head 'PETREL-DISK-TWO-'"
expect_stdout_count 2 2 GUEST-DISK
expect_stdout_has GUEST-POWEROFF
expect_stdout_lacks GUEST-ERROR
expect_stdout_lacks "I/O error"
expect_stderr_lacks "error"
pass
