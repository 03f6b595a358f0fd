#!/bin/sh
# kmod-test-user-copy: a kernel test module as the workload. The guest (Debian's generic
# kernel) loads test_user_copy.ko and writes 0 to the test-exit device when insmod worked
# and the module logged "test_user_copy: tests passed.", else non-zero; petrel must exit
# with that status. The status is checked against the module's own log lines the guest
# echoed, so a guest that reports 0 without the module having passed fails the case.
# case-timeout: 150
. /nested/lib.sh
run_petrel "$CONFIGS/kmod-test-user-copy.toml" 120
expect_stdout_has PETREL-GUEST-INIT-OK
expect_stdout_lacks GUEST-ERROR
grep -q '^GUEST-TEST-EXIT [0-9]' "$PETREL_OUT" || fail "the guest reported no status (no GUEST-TEST-EXIT line)"
reported=$(stdout_value GUEST-TEST-EXIT)
expect_exit "$reported"

# What the module printed says the same: insmod worked, its verdict line is there, no
# failure lines ("test_user_copy: [line] ...").
insmod_rc=$(stdout_value GUEST-KMOD-INSMOD-RC)
logged=$(count_in "$PETREL_OUT" "GUEST-KMOD-DMESG: ")
verdict=$(grep '^GUEST-KMOD-DMESG: ' "$PETREL_OUT" | grep -cF 'test_user_copy: tests passed.')
failures=$(grep '^GUEST-KMOD-DMESG: ' "$PETREL_OUT" | grep -c 'test_user_copy: \[[0-9]*\]')
say "module: insmod rc $insmod_rc, $logged log line(s), verdict line x$verdict, $failures failure line(s)"
if [ "$insmod_rc" = 0 ] && [ "$verdict" = 1 ] && [ "$failures" = 0 ]; then
  module_status=0
else
  module_status=nonzero
fi
case $module_status:$reported in
  0:0 | nonzero:[1-9]*) ;;
  *) fail "status $reported does not match the module's result (insmod rc $insmod_rc, verdict line x$verdict, $failures failure line(s))" ;;
esac
# And on KVM the copies must work: anything else is a petrel (or KVM) bug worth a look.
[ "$reported" = 0 ] || fail "test_user_copy failed in the guest (status $reported): $(grep '^GUEST-KMOD-' "$PETREL_OUT" | head -n 3 | tr -d '\r' | tr '\n' ' ')"
expect_stderr_lacks "error"
pass
