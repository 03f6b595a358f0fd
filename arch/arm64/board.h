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
#include "devices/console_uart.h"
#include "devices/device_type.h"
#include "devices/mmio_bus.h"
#include "devices/virtio_mmio.h"

namespace petrel::arm64 {

// What a config asks for, independent of KVM: the boot payload plan, the devices on
// the MMIO bus, and the device tree that describes them. `petrel run` builds it around
// a real VM; `petrel dtb` builds it alone.
struct BootPlan {
  KernelImage kernel;
  BootLayout layout;
};

// KERNEL_LOAD_FAILURE when the kernel is not a usable arm64 Image or the payloads do
// not fit in the configured RAM. kWhole decompresses all of an Image.gz (`petrel check`).
Result<BootPlan> plan_boot(const Config& config, KernelCheck check = KernelCheck::kHeader);

// What the machine gives the board's devices. Without `memory` the board is built to be
// described only (`petrel dtb`): no device opens a file or a tap.
struct BoardWiring {
  // The level-triggered line a device drives for a given SPI.
  std::function<std::unique_ptr<InterruptLine>(uint32_t spi)> lines;
  // The edge-triggered interrupt for a given SPI (virtio devices).
  std::function<Result<std::unique_ptr<EdgeInterrupt>>(uint32_t spi)> edges;
  ConsoleUart::Output console_output;
  // The console UART has room for input again (ConsoleUart::InputReady).
  ConsoleUart::InputReady console_input_ready;
  // What the machine offers its devices (the test-exit device ends the run through it);
  // hooks that do nothing when the board is only described.
  MachineHooks hooks;
  const GuestMemory* memory = nullptr;
};

class Board {
 public:
  // DEVICE_INITIALIZATION_FAILURE when a device's backend (an image, a tap) cannot be set up.
  static Result<std::unique_ptr<Board>> build(const Config& config, BoardWiring wiring);

  const MmioBus& bus() const { return bus_; }
  ConsoleUart& console() const { return *console_; }
  // The power button a platform device provides ([power_button]), or null.
  PowerButton* power_button() const { return power_button_.get(); }
  const std::vector<std::shared_ptr<virtio::MmioTransport>>& virtio_devices() const {
    return virtio_;
  }

  // `pmu`: the vCPUs have a PMUv3 (Vcpu::init_pmu), which the tree then describes.
  Result<std::vector<uint8_t>> device_tree(const Config& config, const BootPlan& plan,
                                           std::span<const uint64_t> mpidrs, GicVersion gic,
                                           bool pmu = false) const;

 private:
  Board() = default;
  InterruptLine& own(std::unique_ptr<InterruptLine> line);

  // Lines outlive the devices that hold references to them: declared first.
  std::vector<std::unique_ptr<InterruptLine>> lines_;
  MmioBus bus_;
  std::shared_ptr<ConsoleUart> console_;
  std::shared_ptr<PowerButton> power_button_;
  std::vector<std::shared_ptr<virtio::MmioTransport>> virtio_;
};

// Guest RAM as the config sizes it, at its fixed base.
AddressRange ram_range(const Config& config);

}  // namespace petrel::arm64
