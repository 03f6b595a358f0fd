#!/bin/sh
# image-gz-truncated: half an Image.gz is KERNEL_LOAD_FAILURE (exit 10) with a one-line
# message naming the file, from `petrel check` and from `petrel run` alike.
. /nested/lib.sh
"$PETREL" check "$CONFIGS/image-gz-truncated.toml" >check.out 2>check.err
rc=$?
_show check.err "check stderr"
[ "$rc" = 10 ] || fail "petrel check exited $rc, expected 10: $(head -n 1 check.err)"
grep -q "/guest/Image-truncated.gz: truncated gzip stream" check.err ||
  fail "petrel check: no truncated-stream message naming the file"
[ "$(grep -c . check.err)" = 1 ] || fail "petrel check printed more than one line"
run_petrel "$CONFIGS/image-gz-truncated.toml"
expect_exit 10
expect_stderr_has "/guest/Image-truncated.gz: truncated gzip stream"
expect_stdout_lacks PETREL-GUEST-INIT-OK
pass
