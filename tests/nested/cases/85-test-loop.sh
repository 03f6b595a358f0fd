#!/bin/sh
# shellcheck disable=SC2016 # the checks in quotes are for the guest's shell to expand
# test-loop: what a kernel developer's Makefile does, three times over: build an initramfs
# (busybox cpio) whose /init runs a check and writes the check's status to the test-exit
# device, `petrel run` it, and take petrel's exit status as the check's. The checks pass,
# fail with 3, and fail with 200 (above 128, where a shell would see a signal): petrel's
# status must be each check's own every time, and each run must have booted the initramfs
# built just before it (its build number), not a stale one.
# case-timeout: 240
. /nested/lib.sh
BUILD=/tmp/test-loop   # test-loop.toml's initrd is $BUILD/initrd.cpio.gz

# The init every build shares: the check is /check, the build number /build-id.
write_init() {
  cat >"$1" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys   # /proc/device-tree links to /sys/firmware/devicetree/base
mount -t devtmpfs devtmpfs /dev
echo "LOOP-BUILD $(cat /build-id)"
sh /check
status=$?
echo "LOOP-STATUS $status"
addr=
for c in /proc/device-tree/*/compatible; do
  if [ "$(cat "$c" 2>/dev/null)" = "petrel,test-exit" ]; then
    addr=0x$(od -An -tx1 -j4 -N4 "${c%/compatible}/reg" | tr -d ' \n')
  fi
done
if [ -z "$addr" ]; then echo "LOOP-ERROR no petrel,test-exit node"; reboot -f; fi
# Drained first (tcsetattr TCSADRAIN): the write ends the run at once.
stty -F /dev/console "$(stty -F /dev/console -g)"
devmem "$addr" 32 "$status"
echo "LOOP-ERROR still running after the test-exit write"
reboot -f
INIT
}

# build N CHECK: $BUILD/initrd.cpio.gz with build number N and CHECK (sh) as /check.
build() {
  rm -rf "$BUILD/root"
  mkdir -p "$BUILD/root/bin" "$BUILD/root/dev" "$BUILD/root/proc" "$BUILD/root/sys"
  cp /bin/busybox "$BUILD/root/bin/busybox"
  mknod "$BUILD/root/dev/console" c 5 1   # for init's stdout before devtmpfs is mounted
  write_init "$BUILD/root/init"
  echo "$1" >"$BUILD/root/build-id"
  printf '%s\n' "$2" >"$BUILD/root/check"
  chmod 755 "$BUILD/root/init"
  (cd "$BUILD/root" && find . | cpio -o -H newc 2>/dev/null) | gzip >"$BUILD/initrd.cpio.gz.tmp" ||
    fail "build $1: cpio | gzip failed"
  mv "$BUILD/initrd.cpio.gz.tmp" "$BUILD/initrd.cpio.gz"
  say "build $1: $(wc -c <"$BUILD/initrd.cpio.gz") bytes, check: $2"
}

# iterate N STATUS CHECK: build N, boot it, petrel's status must be STATUS, the check's.
iterate() {
  build "$1" "$3"
  run_petrel "$CONFIGS/test-loop.toml"
  expect_value LOOP-BUILD "$1"
  expect_value LOOP-STATUS "$2"
  expect_exit "$2"
  expect_stdout_lacks LOOP-ERROR
  expect_stderr_lacks "error"
}

mkdir -p "$BUILD"
iterate 1 0 '[ "$(uname -m)" = aarch64 ]'
iterate 2 3 '[ "$(grep -c ^processor /proc/cpuinfo)" = 2 ] || exit 3'
iterate 3 200 'grep -q petrel_loop_flag /proc/cmdline || exit 200'
pass
