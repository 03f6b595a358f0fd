#!/bin/sh
# share-ro: a read_only share: the guest reads L1's file, but creating a file, appending to
# one and removing one all fail (EROFS), and L1's folder is as it was.
# case-timeout: 150
. /nested/lib.sh
dir=/tmp/share-ro
rm -rf "$dir" && mkdir -p "$dir"
token="ro-$(now_ms)"
echo "$token" >"$dir/from-host.txt"
run_petrel "$CONFIGS/share-ro.toml" 120
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_value GUEST-SHARE-READ "$token"
for what in CREATE APPEND RM; do
  rc=$(stdout_value "GUEST-SHARE-$what-RC")
  if [ -z "$rc" ] || [ "$rc" = 0 ]; then
    fail "the guest's $what on the read-only share returned '$rc'"
  fi
done
for what in CREATE APPEND; do
  err=$(stdout_value "GUEST-SHARE-$what-ERR")
  case $err in
    *"Read-only file system"* | *"Permission denied"*) ;;
    *) fail "the guest's $what failed with '$err', expected EROFS or EACCES" ;;
  esac
done
[ ! -e "$dir/from-guest.txt" ] || fail "the guest created from-guest.txt on a read-only share"
[ "$(cat "$dir/from-host.txt")" = "$token" ] || fail "from-host.txt changed: $(cat "$dir/from-host.txt")"
[ "$(ls "$dir")" = from-host.txt ] || fail "the folder holds: $(ls "$dir")"
[ -z "$(share_virtiofsds)" ] || fail "virtiofsd processes left: $(share_virtiofsds)"
expect_stdout_has GUEST-POWEROFF
expect_stdout_lacks GUEST-ERROR
expect_stderr_lacks "error"
pass
