#include "devices/virtio_net.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/little_endian.h"

namespace petrel::virtio {

namespace {

// Feature bits (section 5.1.3).
constexpr uint64_t kFeatureCsum = 1ull << 0;       // the guest may send partial checksums
constexpr uint64_t kFeatureGuestCsum = 1ull << 1;  // and receive them
constexpr uint64_t kFeatureMac = 1ull << 5;
constexpr uint64_t kFeatureGuestTso4 = 1ull << 7;
constexpr uint64_t kFeatureGuestTso6 = 1ull << 8;
constexpr uint64_t kFeatureHostTso4 = 1ull << 11;
constexpr uint64_t kFeatureHostTso6 = 1ull << 12;
constexpr uint64_t kFeatureStatus = 1ull << 16;

constexpr uint16_t kLinkUp = 1;
constexpr size_t kRxQueue = 0;
constexpr size_t kTxQueue = 1;
// struct virtio_net_hdr_v1: with VERSION_1 every packet carries it, num_buffers included.
constexpr size_t kHeaderBytes = 12;
// The largest frame a tap hands over with segmentation offload: 64 KiB of payload plus
// the Ethernet header and the virtio header.
constexpr size_t kMaxFrameBytes = 65536 + 14 + 4 + kHeaderBytes;

// Best effort: a tap we just created starts down, and a guest should find its link working.
void bring_up(const std::string& tap) {
  const UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return;
  ifreq request{};
  std::strncpy(request.ifr_name, tap.c_str(), IFNAMSIZ - 1);
  if (ioctl(sock.get(), SIOCGIFFLAGS, &request) != 0 || (request.ifr_flags & IFF_UP) != 0) return;
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
  if (ioctl(sock.get(), SIOCSIFFLAGS, &request) != 0) {
    spdlog::debug("net {}: cannot bring the tap up: {}", tap, strerror(errno));
  }
}

}  // namespace

Result<std::unique_ptr<NetDevice>> NetDevice::open(const std::string& tap, Mac mac) {
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    return init_failure(fmt::format("net {}: /dev/net/tun: {}{}", tap, strerror(errno),
                                    errno == ENOENT ? " (is the tun module loaded?)" : ""));
  }
  ifreq request{};
  std::strncpy(request.ifr_name, tap.c_str(), IFNAMSIZ - 1);
  request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd.get(), TUNSETIFF, &request) != 0) {
    const int error = errno;
    return init_failure(fmt::format(
        "net {}: cannot attach to the tap: {}{}", tap, strerror(error),
        error == EPERM ? " (create it for this user with `ip tuntap add NAME mode tap user USER`, "
                         "or run petrel with CAP_NET_ADMIN)"
        : error == EBUSY ? " (another process has it open)"
                         : ""));
  }
  const int header_bytes = kHeaderBytes;
  if (ioctl(fd.get(), TUNSETVNETHDRSZ, &header_bytes) != 0) {
    return init_failure(fmt::format("net {}: TUNSETVNETHDRSZ: {}", tap, strerror(errno)));
  }
  // No receive offloads until the driver says which ones it takes (activate()).
  if (ioctl(fd.get(), TUNSETOFFLOAD, 0u) != 0) {
    return init_failure(fmt::format("net {}: TUNSETOFFLOAD: {}", tap, strerror(errno)));
  }
  bring_up(tap);
  return std::unique_ptr<NetDevice>(
      new NetDevice(std::move(fd), fmt::format("virtio-net {}", tap), mac));
}

uint64_t NetDevice::features() const {
  return kFeatureCsum | kFeatureGuestCsum | kFeatureMac | kFeatureGuestTso4 | kFeatureGuestTso6 |
         kFeatureHostTso4 | kFeatureHostTso6 | kFeatureStatus;
}

void NetDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  std::array<uint8_t, 10> config{};
  std::memcpy(config.data(), mac_.data(), mac_.size());
  store_le<uint16_t>(config, 6, kLinkUp);
  store_le<uint16_t>(config, 8, 1);  // max_virtqueue_pairs
  read_config_bytes(config, offset, data);
}

std::expected<void, std::string> NetDevice::activate(uint64_t features) {
  // The tap may hand us what the guest's driver accepted to receive, no more.
  unsigned offload = 0;
  if ((features & kFeatureGuestCsum) != 0) {
    offload |= TUN_F_CSUM;
    if ((features & kFeatureGuestTso4) != 0) offload |= TUN_F_TSO4;
    if ((features & kFeatureGuestTso6) != 0) offload |= TUN_F_TSO6;
  }
  if (ioctl(tap_.get(), TUNSETOFFLOAD, offload) != 0) {
    return std::unexpected(fmt::format("TUNSETOFFLOAD {:#x}: {}", offload, strerror(errno)));
  }
  frame_.resize(kMaxFrameBytes);
  return {};
}

void NetDevice::serve(size_t queue, QueueAccess& queues) {
  if (queue == kTxQueue) transmit(queues);
  // A notify on the receive queue means new buffers: deliver what the tap held back.
  if (queue == kRxQueue) receive(queues);
}

void NetDevice::serve_fd(size_t, QueueAccess& queues) { receive(queues); }

void NetDevice::transmit(QueueAccess& queues) {
  std::vector<iovec> iov;
  while (auto chain = queues.pop(kTxQueue)) {
    iov.clear();
    for (const auto& buffer : chain->readable) iov.push_back({buffer.data(), buffer.size()});
    // The chain is the virtio header and the frame, exactly what a vnet-header tap takes.
    if (chain->readable_bytes() > kHeaderBytes && iov.size() <= IOV_MAX) {
      ssize_t sent;
      do {
        sent = writev(tap_.get(), iov.data(), static_cast<int>(iov.size()));
      } while (sent < 0 && errno == EINTR);
      // A full or downed tap drops the frame, as a real link would.
      if (sent < 0) spdlog::debug("{}: transmit: {}", name_, strerror(errno));
    }
    queues.push_used(kTxQueue, chain->head, 0);
  }
}

void NetDevice::receive(QueueAccess& queues) {
  if (frame_.empty()) return;  // not activated
  for (;;) {
    if (pending_.empty()) {
      const ssize_t got = ::read(tap_.get(), frame_.data(), frame_.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= static_cast<ssize_t>(kHeaderBytes)) return;  // empty (EAGAIN), or a runt
      pending_.assign(frame_.begin(), frame_.begin() + got);
    }
    auto chain = queues.pop(kRxQueue);
    if (!chain) return;  // no buffer yet: the guest's next refill notify brings us back
    if (chain->writable_bytes() < pending_.size()) {
      // A buffer too small for the frame: drop the frame rather than truncate it.
      spdlog::debug("{}: {}-byte frame dropped, receive buffer holds {}", name_, pending_.size(),
                    chain->writable_bytes());
      queues.push_used(kRxQueue, chain->head, 0);
    } else {
      // num_buffers: the frame fills this one chain.
      store_le<uint16_t>(pending_, 10, 1);
      ChainWriter writer(*chain);
      writer.write(pending_);
      queues.push_used(kRxQueue, chain->head, static_cast<uint32_t>(pending_.size()));
    }
    pending_.clear();
  }
}

}  // namespace petrel::virtio
