#!/bin/busybox sh
# shellcheck shell=dash
# /sbin/init of the ext4 root file system (mkinitramfs.sh ext4-root) that the L2 guest's
# initramfs switches to with guest_cmd=ext4root, after mounting /dev/vda read-write: the
# blk-ext4-root case. It shows what its root is, counts its boots in /var/boot-count (so a
# second boot of the same image proves the first one's write reached the disk image
# through petrel), and powers off (petrel exits 0). The applets are called through
# busybox: this tree has no applet links, and making them would write to the disk.
bb=/bin/busybox
$bb mount -t proc proc /proc
[ -c /dev/null ] || $bb mount -t devtmpfs devtmpfs /dev   # the initramfs moved its /dev here
echo "EXT4-ROOT-INIT pid $$"
# The root's /proc/mounts line, e.g. "/dev/vda / ext4 rw,relatime 0 0".
echo "EXT4-ROOT-MOUNT $($bb grep '^[^ ]* / ' /proc/mounts | $bb tail -n 1)"
echo "EXT4-ROOT-MARKER $($bb cat /etc/petrel-root)"
n=0
if [ -f /var/boot-count ]; then n=$($bb cat /var/boot-count); fi
n=$((n + 1))
echo "$n" >/var/boot-count
$bb sync
echo "EXT4-ROOT-BOOT $n"
echo "EXT4-ROOT-POWEROFF"
$bb stty -F /dev/console "$($bb stty -F /dev/console -g 2>/dev/null)" 2>/dev/null || $bb sleep 1
$bb poweroff -f
$bb sleep 5
echo "EXT4-ROOT-ERROR poweroff failed"
