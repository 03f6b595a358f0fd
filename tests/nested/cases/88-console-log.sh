#!/bin/sh
# console-log: --console-log FILE gets the guest console as it comes, so after a SIGKILL
# of petrel mid-run it holds everything the guest printed up to the kill: byte for byte
# what stdout got, from the kernel's first line to init's. With --console none the log
# is the only copy and stdout stays empty.
. /nested/lib.sh
log=$CASE_DIR/console.log
# Not quiet: the kernel's own boot lines are part of what must be kept.
start_petrel "" --kernel /guest/Image --initrd /guest/initrd.cpio.gz --memory 256M \
  --console-log "$log" -- console=ttyAMA0 panic=-1 guest_cmd=hang
wait_stdout GUEST-HANGING
say "run $BG_RUN: sending SIGKILL to pid $BG_PID"
kill -KILL "$BG_PID"
finish_petrel 10
expect_exit 137
[ -s "$log" ] || fail "no console log at $log"
grep -q "Booting Linux on physical CPU" "$log" || fail "the log lacks the kernel's first line"
grep -q GUEST-HANGING "$log" || fail "the log lacks the last line before the kill"
cmp -s "$PETREL_OUT" "$log" || fail "the log differs from stdout: $(cmp "$PETREL_OUT" "$log" 2>&1)"
say "console log: $(wc -c <"$log") bytes, the same as stdout"

run_petrel "$CONFIGS/boot-1cpu.toml" 60 --console none --console-log "$log"
expect_exit 0
expect_stdout_empty
grep -q PETREL-GUEST-INIT-OK "$log" || fail "the log lacks the guest's init line"
grep -q GUEST-POWEROFF "$log" || fail "the log lacks the guest's last line"

run_petrel "$CONFIGS/boot-1cpu.toml" 20 --console-log /no-such-folder/console.log
expect_exit 5
expect_stderr_has "console.log: /no-such-folder/console.log: No such file or directory"
pass
