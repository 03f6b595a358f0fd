#!/bin/sh
# image-gz: a gzip-compressed kernel (Image.gz, found by content) boots as Image does, and
# `petrel check` decompresses it whole and accepts it.
. /nested/lib.sh
"$PETREL" check "$CONFIGS/image-gz.toml" >check.out 2>check.err
rc=$?
_show check.err "check stderr"
[ "$rc" = 0 ] || fail "petrel check exited $rc: $(head -n 1 check.err)"
run_petrel "$CONFIGS/image-gz.toml"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_has GUEST-POWEROFF
expect_stderr_lacks "error"
pass
