#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/guest_memory.h"
#include "devices/device.h"

namespace petrel::arm64 {

enum class GicVersion { kV2, kV3 };

struct FdtDescription {
  std::span<const uint64_t> vcpu_mpidrs;  // one per vCPU, as KVM reports MPIDR_EL1
  AddressRange ram;
  std::string cmdline;
  std::optional<AddressRange> initrd;
  GicVersion gic = GicVersion::kV3;
  bool pmu = false;  // a PMUv3 node, its overflow interrupt on PPI kPmuPpi
  std::span<const std::shared_ptr<MmioDevice>> devices;  // sorted by address
  const MmioDevice* console = nullptr;                   // for /chosen/stdout-path
};

// The PMU's overflow interrupt: PPI 7 (INTID 23), where QEMU's virt machine has it.
inline constexpr uint32_t kPmuPpi = 7;
inline constexpr uint32_t kPmuIntid = 16 + kPmuPpi;

// The device tree the guest boots with: root, cpus, memory, chosen, interrupt
// controller, timer, clock, psci, then every device in address order, each writing its
// own node.
Result<std::vector<uint8_t>> build_device_tree(const FdtDescription& description);

// MPIDR_EL1 as KVM assigns it to vCPU `index` at reset (Aff0 holds 16 vCPUs, then Aff1,
// Aff2), for building the tree where no vCPU exists (`petrel dtb`).
uint64_t default_mpidr(uint32_t index);

// A device's node name: its kind and address, "serial@9000000".
std::string device_node_name(const DeviceResources& device);

}  // namespace petrel::arm64
