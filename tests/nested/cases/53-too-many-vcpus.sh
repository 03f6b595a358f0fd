#!/bin/sh
# too-many-vcpus: more vCPUs than the host lets petrel create is VCPU_START_FAILURE (exit
# 11), reported before the guest runs, with a message naming the vCPU that failed.
# L1's KVM itself allows 512 vCPUs (KVM_CAP_MAX_VCPUS with a GICv3: the config's own
# maximum, so petrel's "exceeds this host's KVM limit" check cannot fire here; 513 is a
# config error, exit 3). What runs out instead is file descriptors: every vCPU is one
# (KVM_CREATE_VCPU), and with `ulimit -n 64` the vCPU around number 57 cannot be created.
. /nested/lib.sh
ulimit -n 64 || fail "ulimit -n 64 failed"
run_petrel "$CONFIGS/too-many-vcpus.toml" 30
expect_exit 11
expect_stderr_matches 'vCPU [0-9]+: KVM_CREATE_VCPU'
expect_stderr_has "Too many open files"
expect_stdout_empty
pass
