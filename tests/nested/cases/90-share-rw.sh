#!/bin/sh
# share-rw: [[share]] gives the guest L1's folder as virtiofs: the guest mounts it by its tag,
# reads the file L1 wrote into it and writes one back, which L1 then reads. Afterwards no
# virtiofsd (nor a zombie of one) is left and petrel left no socket file behind.
# case-timeout: 150
. /nested/lib.sh
dir=/tmp/share-rw
rm -rf "$dir" && mkdir -p "$dir"
token="token-$(now_ms)"
echo "$token" >"$dir/from-host.txt"
run_petrel "$CONFIGS/share-rw.toml" 120
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
case $(stdout_value GUEST-SHARE-MOUNTED) in
  "hostdata virtiofs rw"*) ;;
  *) fail "the guest's mount is '$(stdout_value GUEST-SHARE-MOUNTED)', expected 'hostdata virtiofs rw'" ;;
esac
expect_value GUEST-SHARE-READ "$token"
expect_value GUEST-SHARE-WRITE-RC 0
expect_value GUEST-SHARE-UMOUNT-RC 0
[ -f "$dir/from-guest.txt" ] || fail "no from-guest.txt in $dir after the guest wrote it"
got=$(cat "$dir/from-guest.txt")
[ "$got" = "written by the guest $token" ] || fail "from-guest.txt holds '$got'"
say "L1 reads the guest's file: $got"
left=$(share_virtiofsds)
[ -z "$left" ] || fail "virtiofsd processes left after petrel ended: $left"
ls -d /tmp/petrel-virtiofs-* >/dev/null 2>&1 && fail "socket folders left: $(ls -d /tmp/petrel-virtiofs-*)"
expect_stdout_has GUEST-POWEROFF
expect_stdout_lacks GUEST-ERROR
expect_stderr_lacks "error"
pass
