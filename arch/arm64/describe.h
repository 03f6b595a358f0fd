#pragma once

#include "arch/arm64/fdt.h"
#include "core/config.h"

namespace petrel::arm64 {

// The interrupt controller a VM on this host gets (Gic::create's choice): GICv3 where
// KVM offers it, else GICv2. Without usable KVM, GICv3.
GicVersion host_gic_version();

// Whether this host's KVM can give vCPUs a PMUv3 (KVM_CAP_ARM_PMU_V3). Without usable
// KVM, true: a current arm64 server's KVM has one.
bool host_has_pmu();

// Whether the guest gets a PMU: `machine.pmu` if set, else where the host has one.
inline bool guest_pmu(const Config& config, bool host_has) {
  return config.machine.pmu.value_or(host_has);
}

}  // namespace petrel::arm64
