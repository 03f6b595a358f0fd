#include "devices/mmio_bus.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace petrel {

void MmioBus::reserve(AddressRange range, std::string_view owner) {
  reserved_.push_back({range, std::string(owner)});
}

Result<> MmioBus::add(std::shared_ptr<MmioDevice> device) {
  const AddressRange range = device->mmio_range();
  auto overlap = [&](AddressRange other, std::string_view other_name) {
    return fail(ExitCode::kDeviceMemoryOverlap,
                fmt::format("{} at {:#x}+{:#x} overlaps {} at {:#x}+{:#x}", device->name(),
                            range.base, range.size, other_name, other.base, other.size));
  };
  for (const auto& existing : devices_) {
    if (existing->mmio_range().overlaps(range))
      return overlap(existing->mmio_range(), existing->name());
  }
  for (const auto& reservation : reserved_) {
    if (reservation.range.overlaps(range)) return overlap(reservation.range, reservation.owner);
  }
  auto position = std::upper_bound(devices_.begin(), devices_.end(), range.base,
                                   [](uint64_t base, const std::shared_ptr<MmioDevice>& d) {
                                     return base < d->mmio_range().base;
                                   });
  devices_.insert(position, std::move(device));
  return {};
}

MmioDevice* MmioBus::find(uint64_t address, uint64_t length) const {
  // A handful of devices: a linear scan beats anything cleverer.
  for (const auto& device : devices_) {
    if (device->mmio_range().contains(address, length)) return device.get();
  }
  return nullptr;
}

bool MmioBus::read(uint64_t address, std::span<uint8_t> data) const {
  MmioDevice* device = find(address, data.size());
  if (device == nullptr) return false;
  device->mmio_read(address - device->mmio_range().base, data);
  return true;
}

bool MmioBus::write(uint64_t address, std::span<const uint8_t> data) const {
  MmioDevice* device = find(address, data.size());
  if (device == nullptr) return false;
  device->mmio_write(address - device->mmio_range().base, data);
  return true;
}

}  // namespace petrel
