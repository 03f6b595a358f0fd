#!/bin/sh
# blk-write: what the guest writes to a virtio-blk drive lands in the image, at the right
# offset and nowhere else. The image is 4 MiB of random data; the guest writes 2 MiB of
# numbered 512-byte records at 1 MiB with dd conv=fsync, reads them back with O_DIRECT
# (past its page cache, so from petrel), and powers off. After petrel exits 0 the image
# must be the original with exactly that range replaced.
. /nested/lib.sh
img=$CASE_DIR/disk.img
head -c 4194304 /dev/urandom >"$img" || fail "cannot make $img"
# The guest's blk_pattern (l2-init.sh), made by the same busybox awk.
awk 'BEGIN { for (i = 0; i < 4096; i++) printf "%-511s\n", "petrel-blk-write record " i }' \
  >"$CASE_DIR/pattern"
pattern_md5=$(file_md5 "$CASE_DIR/pattern")
cp "$img" "$CASE_DIR/expected.img"
dd if="$CASE_DIR/pattern" of="$CASE_DIR/expected.img" bs=4096 seek=256 conv=notrunc 2>/dev/null ||
  fail "cannot make the expected image"
want=$(file_md5 "$CASE_DIR/expected.img")
say "pattern md5 $pattern_md5 ($(wc -c <"$CASE_DIR/pattern") bytes), expected image md5 $want"
run_petrel "$CONFIGS/blk-write.toml"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_value GUEST-PATTERN-MD5 "$pattern_md5"
expect_value GUEST-WRITE-RC 0
expect_value GUEST-READBACK-MD5 "$pattern_md5"
expect_stdout_has GUEST-POWEROFF
expect_stdout_lacks GUEST-ERROR
expect_stdout_lacks "I/O error"
expect_stderr_lacks "error"
size=$(wc -c <"$img")
[ "$size" -eq 4194304 ] || fail "the image is $size bytes now, was 4194304"
got=$(file_md5 "$img")
if [ "$got" != "$want" ]; then
  # Which 512-byte sectors differ, for the report (cmp -l lists differing bytes, 1-based).
  bad=$(cmp -l "$img" "$CASE_DIR/expected.img" 2>/dev/null | awk '{ s = int(($1 - 1) / 512); if (!(s in seen)) { seen[s] = 1; n++; if (n <= 8) l = l " " s } } END { print n " sector(s):" l }')
  fail "image md5 $got, expected $want; differing $bad"
fi
pass
