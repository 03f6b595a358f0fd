#!/bin/sh
# blk-read: a virtio-blk drive reads back exactly the image's bytes. The image is 4 MiB
# + 1536 bytes of random data (8195 sectors: its end is no 4 KiB boundary); the guest
# prints its size, its serial (the configured 20-byte id, the most virtio-blk carries)
# and the md5 of every byte of /dev/vda, which must be the image's. The guest only
# read, so the image is unchanged.
. /nested/lib.sh
img=$CASE_DIR/disk.img
bytes=$((4 * 1048576 + 1536))
head -c "$bytes" /dev/urandom >"$img" || fail "cannot make $img"
want=$(file_md5 "$img")
say "image: $bytes bytes, md5 $want"
run_petrel "$CONFIGS/blk-read.toml"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_value GUEST-VDA-BYTES "$bytes"
expect_value GUEST-VDA-SERIAL "'PETREL-SERIAL-20BYTE'"
expect_value GUEST-VDA-MD5 "$want"
expect_stdout_has GUEST-POWEROFF
expect_stdout_lacks GUEST-ERROR
expect_stdout_lacks "I/O error"
expect_stderr_lacks "error"
[ "$(file_md5 "$img")" = "$want" ] || fail "the image changed, though the guest only read it"
pass
