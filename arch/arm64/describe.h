#pragma once

#include "arch/arm64/fdt.h"

namespace petrel::arm64 {

// The interrupt controller a VM on this host gets (Gic::create's choice): GICv3 where
// KVM offers it, else GICv2. Without usable KVM, GICv3.
GicVersion host_gic_version();

}  // namespace petrel::arm64
