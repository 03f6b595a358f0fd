#include "vmm/devices.h"

#include <fmt/format.h>

#include <algorithm>

#include "devices/registry.h"

namespace petrel::vmm {

namespace {

// Stands in for a virtio device when the board is only described: the transport's node
// needs no backend.
class DescribedOnly final : public virtio::VirtioDevice {
 public:
  explicit DescribedOnly(uint32_t type) : type_(type) {}
  uint32_t device_type() const override { return type_; }
  std::string_view name() const override { return "virtio (described only)"; }
  uint64_t features() const override { return 0; }
  size_t queue_count() const override { return 0; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override {
    virtio::read_config_bytes({}, offset, data);
  }
  void serve(size_t, virtio::QueueAccess&) override {}

 private:
  uint32_t type_;
};

// The registered type of a configured device: the config was loaded with the registry's
// kinds, so there is one.
const DeviceType& type_of(const DeviceEntry& device) { return *device_type(device.kind); }

}  // namespace

Result<std::vector<std::unique_ptr<virtio::VirtioDevice>>> make_virtio_devices(
    const Config& config, const GuestMemory* memory, const MachineHooks& hooks) {
  std::vector<std::unique_ptr<virtio::VirtioDevice>> devices;
  std::vector<const DeviceType*> made_once;
  for (const DeviceEntry& entry : config.devices) {
    const DeviceType& type = type_of(entry);
    if (type.make_virtio == nullptr) continue;
    if (type.one_device) {
      if (std::ranges::find(made_once, &type) != made_once.end()) continue;
      made_once.push_back(&type);
    }
    if (memory == nullptr) {
      devices.push_back(std::make_unique<DescribedOnly>(type.virtio_id));
      continue;
    }
    auto device = TRY(type.make_virtio({config, entry, memory, hooks}));
    devices.push_back(std::move(device));
  }
  return devices;
}

Result<std::vector<std::shared_ptr<MmioDevice>>> make_platform_devices(const Config& config,
                                                                       const PlatformPlace& place,
                                                                       const PlatformLine& line,
                                                                       const MachineHooks& hooks) {
  std::vector<std::shared_ptr<MmioDevice>> devices;
  for (const DeviceEntry& entry : config.devices) {
    const DeviceType& type = type_of(entry);
    if (type.make_platform == nullptr) continue;
    const std::optional<PlatformWindow> window = place(entry.kind->table);
    if (!window) {
      return fail(ExitCode::kBadConfig,
                  fmt::format("{}: this machine has no place for the device", entry.kind->table));
    }
    DeviceSetup setup{config, entry, nullptr, hooks};
    if (window->interrupt) {
      setup.interrupt = &line(*window->interrupt);
      setup.interrupt_line = *window->interrupt;
    }
    devices.push_back(type.make_platform(setup, window->base));
  }
  return devices;
}

}  // namespace petrel::vmm
