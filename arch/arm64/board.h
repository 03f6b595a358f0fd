#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "arch/arm64/fdt.h"
#include "arch/arm64/image.h"
#include "arch/arm64/layout.h"
#include "core/config.h"
#include "devices/mmio_bus.h"
#include "devices/uart16550.h"

namespace petrel::arm64 {

// What a config asks for, independent of KVM: the boot payload plan, the devices on
// the MMIO bus, and the device tree that describes them. `petrel run` builds it around
// a real VM; `petrel dtb` builds it alone.
struct BootPlan {
  KernelImage kernel;
  BootLayout layout;
};

// KERNEL_LOAD_FAILURE when the kernel is not a usable arm64 Image or the payloads do
// not fit in the configured RAM.
Result<BootPlan> plan_boot(const Config& config);

// Makes the interrupt line a device will drive for a given SPI.
using InterruptLineFactory = std::function<std::unique_ptr<InterruptLine>(uint32_t spi)>;

class Board {
 public:
  static Result<std::unique_ptr<Board>> build(const Config& config, const InterruptLineFactory& lines,
                                              Uart16550::Output console_output);

  const MmioBus& bus() const { return bus_; }
  Uart16550& console() const { return *console_; }

  Result<std::vector<uint8_t>> device_tree(const Config& config, const BootPlan& plan,
                                           std::span<const uint64_t> mpidrs, GicVersion gic) const;

 private:
  Board() = default;
  InterruptLine& own(std::unique_ptr<InterruptLine> line);

  // Lines outlive the devices that hold references to them: declared first.
  std::vector<std::unique_ptr<InterruptLine>> lines_;
  MmioBus bus_;
  std::shared_ptr<Uart16550> console_;
};

// Guest RAM as the config sizes it, at its fixed base.
AddressRange ram_range(const Config& config);

}  // namespace petrel::arm64
