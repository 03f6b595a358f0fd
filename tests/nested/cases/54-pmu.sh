#!/bin/sh
# pmu: the guest's vCPUs have a PMUv3 by default where L1's KVM offers one (QEMU's
# `-cpu max` gives L1 a PMU): a static program in the guest counts the cycles of a busy
# loop through perf_event, which reads PMCCNTR_EL0. With machine.pmu = false the guest has
# no PMU node and perf_event_open fails. The tree `petrel dtb` prints has the node too.
. /nested/lib.sh
run_petrel "$CONFIGS/boot-1cpu.toml" 60 -- guest_cmd=pmu
expect_exit 0
grep -q "^GUEST-PMU-CYCLES " "$PETREL_OUT" ||
  fail "no cycle count: $(grep GUEST-PMU "$PETREL_OUT" || echo "no GUEST-PMU line")"
cycles=$(stdout_value GUEST-PMU-CYCLES)
[ "$cycles" -gt 0 ] || fail "the PMU counted $cycles cycles"
say "the guest's PMU counted $cycles cycles"

run_petrel "$CONFIGS/boot-1cpu.toml" 60 --set machine.pmu=false -- guest_cmd=pmu
expect_exit 0
expect_stdout_has "GUEST-PMU-ERROR perf_event_open"
expect_stdout_lacks GUEST-PMU-CYCLES

"$PETREL" dtb "$CONFIGS/boot-1cpu.toml" --output "$CASE_DIR/with.dtb" ||
  fail "petrel dtb failed"
grep -q "arm,armv8-pmuv3" "$CASE_DIR/with.dtb" || fail "petrel dtb describes no PMU"
"$PETREL" dtb "$CONFIGS/boot-1cpu.toml" --set machine.pmu=false --output "$CASE_DIR/without.dtb" ||
  fail "petrel dtb --set machine.pmu=false failed"
grep -q "arm,armv8-pmuv3" "$CASE_DIR/without.dtb" && fail "machine.pmu = false still has a PMU node"
pass
