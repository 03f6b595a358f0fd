#pragma once

#include <memory>
#include <span>
#include <vector>

#include "core/error.h"
#include "devices/device.h"

namespace petrel {

// Routes guest MMIO accesses to the device whose window holds them. Devices are added
// while the machine is built and the bus is read-only afterwards, so vCPU threads look
// up devices without locking.
class MmioBus {
 public:
  // DEVICE_MEMORY_OVERLAP when the device's window overlaps another device or `reserved`.
  Result<> add(std::shared_ptr<MmioDevice> device);
  void reserve(AddressRange range, std::string_view owner);

  // False when no device claims the whole access.
  bool read(uint64_t address, std::span<uint8_t> data) const;
  bool write(uint64_t address, std::span<const uint8_t> data) const;

  const std::vector<std::shared_ptr<MmioDevice>>& devices() const { return devices_; }

 private:
  MmioDevice* find(uint64_t address, uint64_t length) const;

  struct Reservation {
    AddressRange range;
    std::string owner;
  };
  std::vector<std::shared_ptr<MmioDevice>> devices_;  // sorted by address
  std::vector<Reservation> reserved_;
};

}  // namespace petrel
