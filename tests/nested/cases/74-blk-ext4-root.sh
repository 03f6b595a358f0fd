#!/bin/sh
# blk-ext4-root: an ext4 image (mkinitramfs.sh ext4-root, made on L0 with mkfs.ext4 -d) as
# the guest's root file system. The initramfs loads the virtio modules, mounts /dev/vda
# read-write and switch_roots to it; the disk's /sbin/init runs as pid 1, shows that / is
# /dev/vda, ext4, rw, counts its boot in /var/boot-count and powers off. Booting the same
# image again must count 2: the first boot's write reached the image through petrel.
# case-timeout: 150
. /nested/lib.sh
img=$CASE_DIR/root.ext4
[ -f /guest/rootfs.ext4 ] || fail "no /guest/rootfs.ext4 (run.sh makes it)"
cp /guest/rootfs.ext4 "$img" || fail "cannot copy the image"
for boot in 1 2; do
  run_petrel "$CONFIGS/blk-ext4-root.toml"
  expect_exit 0
  expect_stdout_has PETREL-GUEST-INIT-OK
  expect_stdout_has GUEST-SWITCHING-ROOT
  expect_value EXT4-ROOT-INIT "pid 1"
  expect_stdout_has "EXT4-ROOT-MOUNT /dev/vda / ext4 rw,"
  expect_value EXT4-ROOT-MARKER "petrel ext4 root file system"
  expect_value EXT4-ROOT-BOOT "$boot"
  expect_stdout_has EXT4-ROOT-POWEROFF
  expect_stdout_lacks GUEST-ERROR
  expect_stdout_lacks EXT4-ROOT-ERROR
  expect_stdout_lacks "applet not found"
  expect_stdout_lacks "failed"
  expect_stdout_lacks "EXT4-fs error"
  expect_stdout_lacks "I/O error"
  expect_stderr_lacks "error"
done
pass
