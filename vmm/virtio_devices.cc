#include "vmm/virtio_devices.h"

#include "devices/virtio_block.h"
#include "devices/virtio_fs.h"
#include "devices/virtio_rng.h"

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

}  // namespace

std::string disk_name(size_t index) {
  std::string suffix;
  for (size_t n = index + 1; n > 0; n = (n - 1) / 26) {
    suffix.insert(suffix.begin(), static_cast<char>('a' + (n - 1) % 26));
  }
  return "vd" + suffix;
}

virtio::NetDevice::Mac default_mac(std::string_view name, size_t index) {
  uint64_t hash = 0xcbf29ce484222325ull;
  auto mix = [&hash](uint8_t byte) { hash = (hash ^ byte) * 0x100000001b3ull; };
  for (const char c : name) mix(static_cast<uint8_t>(c));
  mix(static_cast<uint8_t>(index));
  return {0x02,
          static_cast<uint8_t>(hash >> 32),
          static_cast<uint8_t>(hash >> 24),
          static_cast<uint8_t>(hash >> 16),
          static_cast<uint8_t>(hash >> 8),
          static_cast<uint8_t>(hash)};
}

Result<std::vector<std::unique_ptr<virtio::VirtioDevice>>> make_virtio_devices(
    const Config& config, const GuestMemory* memory) {
  const bool describe_only = memory == nullptr;
  std::vector<std::unique_ptr<virtio::VirtioDevice>> devices;
  for (size_t i = 0; i < config.drives.size(); ++i) {
    if (describe_only) {
      devices.push_back(std::make_unique<DescribedOnly>(virtio::kDeviceBlock));
      continue;
    }
    auto drive = TRY(virtio::BlockDevice::open(config.drives[i], disk_name(i)));
    devices.push_back(std::move(drive));
  }
  for (size_t i = 0; i < config.nets.size(); ++i) {
    if (describe_only) {
      devices.push_back(std::make_unique<DescribedOnly>(virtio::kDeviceNet));
      continue;
    }
    const Config::Net& net = config.nets[i];
    auto device =
        TRY(virtio::NetDevice::open(net.tap, net.mac.value_or(default_mac(config.name, i))));
    devices.push_back(std::move(device));
  }
  if (config.rng.enabled) {
    if (describe_only) {
      devices.push_back(std::make_unique<DescribedOnly>(virtio::kDeviceEntropy));
    } else {
      devices.push_back(std::make_unique<virtio::EntropyDevice>());
    }
  }
  for (size_t i = 0; i < config.shares.size(); ++i) {
    if (describe_only) {
      devices.push_back(std::make_unique<DescribedOnly>(virtio::kDeviceFilesystem));
      continue;
    }
    auto share = TRY(virtio::FsDevice::open(config.shares[i], i, *memory));
    devices.push_back(std::move(share));
  }
  return devices;
}

}  // namespace petrel::vmm
