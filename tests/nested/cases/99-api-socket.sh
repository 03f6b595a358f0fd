#!/bin/sh
# api-socket: `petrel run` serves its control socket, RUNTIME_DIR/NAME.sock (folder 0700,
# socket 0600), while the guest runs. A client that is not petrel's own (OpenBSD netcat,
# the HTTP request written by hand: L1 has no curl) gets GET / with state "Running",
# GET /machine-config and /vm/config, and 400 with a fault_message for a bad action and an unknown path.
# A SIGKILLed run leaves its socket file behind; the next run of the same name replaces it
# and serves, and on SIGTERM exits 15 and removes it.
# case-timeout: 150
. /nested/lib.sh
rt=/tmp/api-rt
sock=$rt/api-socket.sock
rm -rf "$rt"

http() { api_http "$sock" "$@"; }

start_petrel "$CONFIGS/api-socket.toml" --runtime-dir "$rt"
wait_stdout PETREL-GUEST-INIT-OK
wait_stdout GUEST-HANGING 10
[ -S "$sock" ] || fail "no socket at $sock"
ls -ld "$rt" "$sock" >"$CASE_DIR/modes"
_show "$CASE_DIR/modes" modes
grep -q "^drwx------ .* $rt\$" "$CASE_DIR/modes" || fail "$rt is not 0700"
grep -q "^srw------- .* $sock\$" "$CASE_DIR/modes" || fail "$sock is not 0600"

http GET /
expect_reply "HTTP/1.1 200 OK"
expect_reply '{"app_name":"petrel","id":"api-socket","state":"Running","vmm_version":"0.1.0"}'
http GET /machine-config
expect_reply "HTTP/1.1 200 OK"
expect_reply '{"mem_size_mib":256,"smt":false,"vcpu_count":1}'
http GET /vm/config
expect_reply "HTTP/1.1 200 OK"
expect_reply '"boot-source":{"boot_args":"console=ttyAMA0 quiet panic=-1 guest_cmd=hang","initrd_path":"/guest/initrd.cpio.gz","kernel_image_path":"/guest/Image"}'
http PUT /actions '{"action_type": "Reboot"}'
expect_reply "HTTP/1.1 400 Bad Request"
expect_reply '{"fault_message":"action_type: \"Reboot\" is not one of'
http PATCH /vm '{"state": "Sleeping"}'
expect_reply "HTTP/1.1 400 Bad Request"
expect_reply '"fault_message":'
http GET /nope
expect_reply "HTTP/1.1 400 Bad Request"
expect_reply '{"fault_message":"Invalid request method and/or path: GET /nope"}'
petrel_alive || fail "petrel ended after the requests"

# SIGKILL: no cleanup, the socket file stays.
signal_petrel KILL
finish_petrel 10
expect_exit 137
[ -S "$sock" ] || fail "the SIGKILLed run left no socket file (this case expects a stale one)"

start_petrel "$CONFIGS/api-socket.toml" --runtime-dir "$rt"
wait_stdout PETREL-GUEST-INIT-OK
http GET /
expect_reply '"state":"Running"'
signal_petrel TERM
finish_petrel 10
expect_exit 15
expect_stderr_lacks "error"
[ ! -e "$sock" ] || fail "$sock is still there after the run"
pass
