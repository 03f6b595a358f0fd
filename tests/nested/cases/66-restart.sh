#!/bin/sh
# restart: on_reset = "restart" boots the guest again in the same petrel when it resets.
# The guest (guest_cmd=console) reads what to do from its console, which is a FIFO this
# case writes to: "reboot" on the first boot, "poweroff" on the second. So petrel must
# exit 0 after exactly two boots, each printing the init marker once.
# case-timeout: 120
. /nested/lib.sh
mkfifo "$CASE_DIR/console-in" || fail "mkfifo failed"
exec 3<>"$CASE_DIR/console-in"     # held open read-write: petrel never sees end of input
PETREL_STDIN=$CASE_DIR/console-in start_petrel "$CONFIGS/restart.toml"
wait_stdout GUEST-WAITING-FOR-COMMAND 60 1
echo reboot >&3
wait_stdout GUEST-WAITING-FOR-COMMAND 60 2
echo poweroff >&3
finish_petrel 30
exec 3>&-
expect_exit 0
expect_stdout_count 2 2 PETREL-GUEST-INIT-OK
expect_stdout_has "GUEST-GOT-COMMAND 'reboot'"
expect_stdout_has GUEST-REBOOT
expect_stdout_has "GUEST-GOT-COMMAND 'poweroff'"
expect_stdout_has GUEST-POWEROFF
expect_stderr_lacks "error"
pass
