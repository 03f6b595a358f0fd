#!/bin/sh
# share-missing: a share folder that does not exist, and a missing virtiofsd program, each
# end the run with DEVICE_INITIALIZATION_FAILURE (exit 5) and one error line before any
# guest runs; the second names the package that brings virtiofsd.
# case-timeout: 60
. /nested/lib.sh
run_petrel "$CONFIGS/share-missing.toml" 20
expect_exit 5
expect_stdout_empty
expect_stderr_has "share[0].path: /tmp/no-such-share: No such file or directory"

vfsd=/usr/lib/qemu/virtiofsd
mkdir -p /tmp/share-rw
mv "$vfsd" "$vfsd.away" || fail "cannot move $vfsd away"
run_petrel "$CONFIGS/share-rw.toml" 20
mv "$vfsd.away" "$vfsd"
expect_exit 5
expect_stdout_empty
expect_stderr_has "share[0]: /usr/lib/qemu/virtiofsd: No such file or directory (virtiofsd comes with Debian's qemu-system-common package)"
n=$(grep -c error "$PETREL_ERR")
[ "$n" = 1 ] || fail "$n error lines, expected one"
pass
