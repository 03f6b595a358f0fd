#!/bin/sh
# power-key: the graceful stop. The guest (Debian's generic kernel with gpio_keys.ko and
# evdev.ko loaded) waits for KEY_POWER on its gpio-keys input device and powers off. SIGTERM
# to a petrel with [power_button] and stop_grace = "40s" presses the button: the guest sees
# the key and powers off, and petrel exits 0 well within the grace period. Then the same
# over the control socket: PUT /actions SendCtrlAltDel (netcat) presses it, 204, exit 0.
# case-timeout: 150
. /nested/lib.sh
PETREL_FLAGS="${PETREL_FLAGS:+$PETREL_FLAGS }-v" # the supervisor's info lines
start_petrel "$CONFIGS/power-key.toml"
wait_stdout PETREL-GUEST-INIT-OK 90
wait_stdout GUEST-POWERKEY-READY 30
signal_petrel TERM
finish_petrel 50
expect_exit 0
expect_stdout_has GUEST-KEY-POWER
expect_stdout_has GUEST-POWEROFF
expect_stderr_has "pressed the guest's power button"
expect_stderr_lacks "error"
[ "$SIGNAL_MS" -lt 40000 ] || fail "the guest took ${SIGNAL_MS} ms to power off: the grace period ran out"

rt=/tmp/power-key-rt
start_petrel "$CONFIGS/power-key.toml" --runtime-dir "$rt"
wait_stdout PETREL-GUEST-INIT-OK 90
wait_stdout GUEST-POWERKEY-READY 30
api_http "$rt/power-key.sock" PUT /actions '{"action_type": "SendCtrlAltDel"}'
expect_reply "HTTP/1.1 204 No Content"
finish_petrel 30
expect_exit 0
expect_stdout_has GUEST-KEY-POWER
expect_stdout_has GUEST-POWEROFF
pass
