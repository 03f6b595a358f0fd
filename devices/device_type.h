#pragma once

// A device kind as petrel registers it (devices/registry.cc, one line each): its config
// (core/device_config.h: table, keys, limits, flag, reader) and how the machine makes one.
// A virtio kind makes the device behind a virtio-mmio transport the machine places; a
// platform kind makes an MMIO device for the window the arch's address map gives its
// table's name.

#include <any>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/device_config.h"
#include "core/error.h"
#include "core/guest_memory.h"
#include "devices/device.h"
#include "devices/virtio_device.h"

namespace petrel {

// What a running machine offers its devices beyond MMIO and interrupts.
struct MachineHooks {
  // Ends the run with this exit status (the test-exit device); called on a vCPU thread.
  std::function<void(uint8_t status)> exit_with_status;
};

// Everything a kind's factory gets for one configured device.
struct DeviceSetup {
  const Config& guest;       // for what devices derive from the guest (a default MAC)
  const DeviceEntry& entry;  // its settings and index among its kind's entries
  // Guest RAM (virtio-fs hands it to its backend); null when the machine is only described
  // (`petrel dtb`), where no virtio factory is called.
  const GuestMemory* memory;
  const MachineHooks& hooks;
  // A platform kind whose window comes with an interrupt: the platform's number for it (on
  // arm64 the GIC SPI) and the line the device drives; null for the others.
  InterruptLine* interrupt = nullptr;
  uint32_t interrupt_line = 0;

  template <typename Settings>
  const Settings& settings() const {
    return std::any_cast<const Settings&>(entry.settings);
  }
};

struct DeviceType {
  DeviceConfigKind config;
  // A virtio kind: its virtio device ID (a `petrel dtb` without backends still needs it) and
  // its factory, which opens the backend: DEVICE_INITIALIZATION_FAILURE when it cannot.
  uint32_t virtio_id = 0;
  Result<std::unique_ptr<virtio::VirtioDevice>> (*make_virtio)(const DeviceSetup& setup) = nullptr;
  // A platform kind: the device at `base`. Platform devices open no backend, so `petrel dtb`
  // makes them too, with hooks that do nothing.
  std::shared_ptr<MmioDevice> (*make_platform)(const DeviceSetup& setup, uint64_t base) = nullptr;
  // The kind's entries are parts of one device (the ports of one virtio-console), made once
  // with its first entry's setup; the factory reads every entry from `setup.guest`.
  bool one_device = false;
};

}  // namespace petrel
