#!/bin/sh
# quick-mode: no config file, the guest from flags alone, as a kernel test loop runs it:
# --kernel, --initrd, --vcpus, --memory, --drive, --share, --test-exit and kernel args after
# `--`. The guest's check (it has 2 CPUs) reports through the test-exit device, so
# petrel's status is the check's: 0 with --vcpus 2, 7 without. --drive PATH,ro,id=...
# gives the guest that disk, read-only, with that serial. Mistakes in flags get the
# config's own messages and codes, with the flag named where a file position would be.
# case-timeout: 240
. /nested/lib.sh
GUEST="--kernel /guest/Image --initrd /guest/initrd.cpio.gz --memory 256M"
# shellcheck disable=SC2086 # GUEST is a list of words
run_petrel "" 60 $GUEST --vcpus 2 --test-exit -- console=ttyAMA0 quiet guest_cmd=testexit test_cpus=2
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_value GUEST-TEST-EXIT 0
expect_stderr_lacks error

# shellcheck disable=SC2086
run_petrel "" 60 $GUEST --test-exit -- console=ttyAMA0 quiet guest_cmd=testexit test_cpus=2
expect_exit 7
expect_value GUEST-TEST-EXIT 7

img=$CASE_DIR/disk.img
head -c 1048576 /dev/urandom >"$img" || fail "cannot make $img"
want=$(file_md5 "$img")
# shellcheck disable=SC2086
run_petrel "" 60 $GUEST --drive "$img,ro,id=QUICK-DISK" -- console=ttyAMA0 quiet guest_cmd=blkread
expect_exit 0
expect_value GUEST-VDA-BYTES 1048576
expect_value GUEST-VDA-SERIAL "'QUICK-DISK'"
expect_value GUEST-VDA-MD5 "$want"
expect_stdout_lacks GUEST-ERROR

# --share PATH,tag=TAG: the guest mounts L1's folder as virtiofs and writes a file back.
dir=/tmp/quick-share
rm -rf "$dir" && mkdir -p "$dir" && echo quick-token >"$dir/from-host.txt"
# shellcheck disable=SC2086
run_petrel "" 120 $GUEST --share "$dir,tag=quickdata" -- console=ttyAMA0 quiet guest_cmd=share share_tag=quickdata
expect_exit 0
expect_value GUEST-SHARE-READ quick-token
expect_value GUEST-SHARE-WRITE-RC 0
[ "$(cat "$dir/from-guest.txt" 2>/dev/null)" = "written by the guest quick-token" ] ||
  fail "the guest's file is not in $dir"

run_petrel "" 20 --kernel /guest/Image --vcpus 0
expect_exit 3
expect_stderr_has "--vcpus 0: machine.vcpus: 0 is out of range 1..512"
run_petrel "" 20 --kernel /guest/no-such-Image
expect_exit 10
expect_stderr_has "--kernel /guest/no-such-Image: boot.kernel: /guest/no-such-Image: No such file or directory"
run_petrel "" 20 --kernel /guest/Image --drive "$img,rw"
expect_exit 3
expect_stderr_has "--drive $img,rw: drive[0].rw: unknown key"
run_petrel "" 20 --initrd /guest/initrd.cpio.gz
expect_exit 3
expect_stderr_has "no guest given"
pass
