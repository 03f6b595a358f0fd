#pragma once

#include <memory>

#include "devices/device_type.h"
#include "devices/virtio_device.h"

namespace petrel::virtio {

// [rng]: the table alone asks for the device; `enabled = false` keeps it in the file but off.
extern const DeviceType kRngType;

// virtio-rng (virtio 1.x, section 5.4): fills each buffer the driver offers from the
// host's getrandom(). The guest sees it as /dev/hwrng.
class EntropyDevice final : public VirtioDevice {
 public:
  uint32_t device_type() const override { return kDeviceEntropy; }
  std::string_view name() const override { return "virtio-rng"; }
  uint64_t features() const override { return 0; }
  size_t queue_count() const override { return 1; }
  uint16_t queue_max_size(size_t) const override { return 64; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override {
    read_config_bytes({}, offset, data);
  }
  void serve(size_t queue, QueueAccess& queues) override;
};

}  // namespace petrel::virtio
