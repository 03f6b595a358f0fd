#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/guest_memory.h"
#include "devices/device.h"
#include "devices/device_type.h"
#include "devices/virtio_device.h"

namespace petrel::vmm {

// The virtio devices a config asks for, in the registry's order (devices/registry.h) and
// then config order, which is the order they get transports (and so guest names). Without
// `memory` the devices are only described (`petrel dtb`): none opens a file, a tap or a
// socket. A kind whose entries make one device (DeviceType::one_device, the ports of a
// virtio-console) gets one, at its first entry. DEVICE_INITIALIZATION_FAILURE when a
// backend cannot be set up.
Result<std::vector<std::unique_ptr<virtio::VirtioDevice>>> make_virtio_devices(
    const Config& config, const GuestMemory* memory, const MachineHooks& hooks);

// The platform devices a config asks for, each in the window `place` gives its kind's table
// (the arch's address map): BAD_CONFIG if the arch has no place for it. A window with an
// interrupt comes with the level-triggered line `line` gives for it, which must outlive the
// device.
struct PlatformWindow {
  uint64_t base = 0;
  std::optional<uint32_t> interrupt;  // the platform's number for it (on arm64 the GIC SPI)
};
using PlatformPlace = std::function<std::optional<PlatformWindow>(std::string_view table)>;
using PlatformLine = std::function<InterruptLine&(uint32_t interrupt)>;
Result<std::vector<std::shared_ptr<MmioDevice>>> make_platform_devices(const Config& config,
                                                                       const PlatformPlace& place,
                                                                       const PlatformLine& line,
                                                                       const MachineHooks& hooks);

}  // namespace petrel::vmm
