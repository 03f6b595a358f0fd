#!/bin/sh
# set-overrides: `--set KEY=VALUE` and the key flags win over the config file. The file
# asks for 1 vCPU; --set machine.vcpus=2 gives the guest 2 (it counts them), and a later
# --set of the same key wins over an earlier one. Kernel arguments after `--` are added
# to the file's command line (here: which command the guest's init runs). A mistyped key
# is the file's unknown-key error, naming the flag.
. /nested/lib.sh
run_petrel "$CONFIGS/boot-1cpu.toml" 60 --set machine.vcpus=3 --set machine.vcpus=2 -- guest_cmd=cpuinfo
expect_exit 0
expect_value GUEST-CPUS 2
expect_stdout_has GUEST-POWEROFF
expect_stderr_lacks error

run_petrel "$CONFIGS/boot-1cpu.toml" 60 --vcpus 2 --set console.mode=none
expect_exit 0
expect_stdout_empty

# 100 MiB is a valid size, but Debian's kernel reserves 64 MiB for CMA and runs out of
# memory before its console is up: the guest resets (panic=-1) having printed nothing, and
# petrel says how to see why.
run_petrel "$CONFIGS/boot-1cpu.toml" 60 --set machine.memory=100M
expect_exit 32
expect_stdout_empty
expect_stderr_has "the guest reset before its console printed anything; add earlycon"

run_petrel "$CONFIGS/boot-1cpu.toml" 20 --set machine.vcpu=2
expect_exit 3
expect_stderr_has "--set machine.vcpu=2: machine.vcpu: unknown key; known here: vcpus, memory, pmu, stop_grace"
run_petrel "$CONFIGS/boot-1cpu.toml" 20 --set machine.memory=101M
expect_exit 3
expect_stderr_has "--set machine.memory=101M: machine.memory: \"101M\" is not a multiple of 2 MiB"
pass
