#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/guest_memory.h"
#include "devices/virtio_device.h"
#include "devices/virtio_net.h"

namespace petrel::vmm {

// The virtio devices a config asks for, in the order they get transports (and so guest
// names): drives first, in config order, so the first drive is vda; then networks, rng,
// shares. Without `memory` the devices are only described (`petrel dtb`): none opens a
// file, a tap or a socket. DEVICE_INITIALIZATION_FAILURE when a backend cannot be set up.
Result<std::vector<std::unique_ptr<virtio::VirtioDevice>>> make_virtio_devices(
    const Config& config, const GuestMemory* memory);

// The guest's name for the n-th virtio disk: vda .. vdz, vdaa, ...
std::string disk_name(size_t index);

// A locally administered unicast MAC that stays the same for a guest name and interface
// across boots (so DHCP leases and neighbour caches hold), from an FNV-1a hash.
virtio::NetDevice::Mac default_mac(std::string_view name, size_t index);

}  // namespace petrel::vmm
