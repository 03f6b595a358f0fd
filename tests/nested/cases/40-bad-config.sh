#!/bin/sh
# bad-config: an unknown key in the TOML is a config error (exit 3) whose message names
# the key ("vcpu", not the valid "vcpus"), before any VM is created.
. /nested/lib.sh
run_petrel "$CONFIGS/bad-config.toml"
expect_exit 3
expect_stderr_matches 'vcpu([^s]|$)'
pass
