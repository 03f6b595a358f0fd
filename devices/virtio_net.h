#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/unique_fd.h"
#include "devices/device_type.h"
#include "devices/virtio_device.h"

namespace petrel::virtio {

// [[net]]: a virtio-net device on a host tap interface (one registration: kNetType).
struct NetConfig {
  std::string tap;                            // interface name, at most 15 bytes
  std::optional<std::array<uint8_t, 6>> mac;  // none: a locally administered one is made up
};
inline constexpr size_t kMaxNets = 8;           // [[net]] entries
inline constexpr size_t kMaxTapNameBytes = 15;  // IFNAMSIZ - 1
extern const DeviceType kNetType;

// A locally administered unicast MAC that stays the same for a guest name and interface
// across boots (so DHCP leases and neighbour caches hold), from an FNV-1a hash.
std::array<uint8_t, 6> default_mac(std::string_view name, size_t index);

// virtio-net (virtio 1.x, section 5.1) on a host tap interface opened with a virtio net
// header, so checksum and segmentation offloads pass through the tap untouched. One
// receive and one transmit queue; the link is always up.
class NetDevice final : public VirtioDevice {
 public:
  using Mac = std::array<uint8_t, 6>;

  // Attaches to the tap `tap` (creating it when petrel may), and brings it up.
  // DEVICE_INITIALIZATION_FAILURE when that is not possible.
  static Result<std::unique_ptr<NetDevice>> open(const std::string& tap, Mac mac);

  uint32_t device_type() const override { return kDeviceNet; }
  std::string_view name() const override { return name_; }
  uint64_t features() const override;
  size_t queue_count() const override { return 2; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  Result<> activate(uint64_t features) override;
  void reset() override { pending_.clear(); }
  void serve(size_t queue, QueueAccess& queues) override;
  std::vector<int> watched_fds() const override { return {tap_.get()}; }
  void serve_fd(size_t index, QueueAccess& queues) override;

 private:
  NetDevice(UniqueFd tap, std::string name, Mac mac)
      : tap_(std::move(tap)), name_(std::move(name)), mac_(mac) {}

  void transmit(QueueAccess& queues);
  void receive(QueueAccess& queues);

  UniqueFd tap_;
  std::string name_;
  Mac mac_;
  // A frame read from the tap that waits for the guest to post a receive buffer.
  std::vector<uint8_t> pending_;
  std::vector<uint8_t> frame_;
};

}  // namespace petrel::virtio
