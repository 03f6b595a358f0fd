#!/bin/sh
# blk-ro: a drive with read_only = true is read-only in the guest (/sys/block/vda/ro is
# 1, virtio-blk's VIRTIO_BLK_F_RO), a direct write to /dev/vda fails there, the guest
# still reads the image's bytes, and the image is unchanged afterwards.
. /nested/lib.sh
img=$CASE_DIR/disk.img
head -c 1048576 /dev/urandom >"$img" || fail "cannot make $img"
want=$(file_md5 "$img")
run_petrel "$CONFIGS/blk-ro.toml"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_value GUEST-VDA-RO 1
rc=$(stdout_value GUEST-WRITE-RC)
[ -n "$rc" ] || fail "no GUEST-WRITE-RC line in stdout"
[ "$rc" != 0 ] || fail "the guest's write to the read-only /dev/vda succeeded (dd exit 0)"
say "the guest's write failed as it should: dd exit $rc, $(stdout_value GUEST-WRITE-ERR)"
expect_value GUEST-VDA-MD5 "$want"
expect_stdout_has GUEST-POWEROFF
expect_stdout_lacks GUEST-ERROR
expect_stderr_lacks "error"
[ "$(file_md5 "$img")" = "$want" ] || fail "the read-only image changed"
pass
