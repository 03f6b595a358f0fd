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

#include "core/config_section.h"
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

using config_detail::quote_value;

// What Linux's dev_valid_name() accepts: 1 to IFNAMSIZ - 1 bytes, no '/', ':' or
// whitespace, not "." or "..". A NUL would end the name early.
Result<> check_tap_name(const ConfigTable& entry, const std::string& tap) {
  if (tap.empty()) return entry.bad("tap", "empty interface name");
  if (tap.size() > kMaxTapNameBytes) {
    return entry.bad("tap", fmt::format("{} is {} bytes, more than the {} of an interface name",
                                        quote_value(tap), tap.size(), kMaxTapNameBytes));
  }
  constexpr std::string_view kForbidden("/: \t\n\v\f\r\0", 10);
  if (tap == "." || tap == ".." || tap.find_first_of(kForbidden) != std::string::npos) {
    return entry.bad("tap", fmt::format("{} is not an interface name (no '/', ':', whitespace or "
                                        "NUL; not \".\" or \"..\")",
                                        quote_value(tap)));
  }
  return {};
}

// "52:54:00:12:34:56": six pairs of hex digits (either case) separated by ':'.
std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view text) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::array<uint8_t, 6> mac{};
  if (text.size() != 3 * mac.size() - 1) return std::nullopt;
  for (size_t i = 0; i < mac.size(); ++i) {
    if (i > 0 && text[3 * i - 1] != ':') return std::nullopt;
    const int high = digit(text[3 * i]);
    const int low = digit(text[3 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    mac[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return mac;
}

Result<std::optional<std::any>> read_net(const ConfigTable& entry, const std::filesystem::path&) {
  NetConfig net;
  auto tap = TRY(entry.string("tap"));
  if (!tap) return entry.missing("tap", "key");
  TRY(check_tap_name(entry, *tap));
  net.tap = std::move(*tap);

  auto text = TRY(entry.string("mac"));
  if (text) {
    const auto mac = parse_mac(*text);
    if (!mac) {
      return entry.bad("mac", fmt::format("{} is not a MAC address (six hex pairs separated by "
                                          "':', e.g. \"52:54:00:12:34:56\")",
                                          quote_value(*text)));
    }
    // Bit 0 of the first byte marks a group address, which no interface may have; nor may
    // it have all zeros (Linux's is_valid_ether_addr()).
    if (((*mac)[0] & 1) != 0) {
      return entry.bad("mac", fmt::format("{} is a multicast address (the first byte must be even)",
                                          quote_value(*text)));
    }
    if (std::ranges::all_of(*mac, [](uint8_t byte) { return byte == 0; })) {
      return entry.bad("mac", fmt::format("{} is the all-zero address", quote_value(*text)));
    }
    net.mac = *mac;
  }
  return net;
}

// A tap interface carries one device's frames: the second open would fail with EBUSY.
std::vector<UniqueValue> net_unique(const std::any& settings) {
  const auto& net = std::any_cast<const NetConfig&>(settings);
  return {{"tap", net.tap, quote_value(net.tap)}};
}

Result<std::unique_ptr<VirtioDevice>> make_net(const DeviceSetup& setup) {
  const auto& net = setup.settings<NetConfig>();
  return NetDevice::open(net.tap,
                         net.mac.value_or(default_mac(setup.guest.name, setup.entry.index)));
}

constexpr DeviceKey kNetKeys[] = {{"tap", "string, required"}, {"mac", "string, optional"}};

}  // namespace

constexpr DeviceType kNetType = {
    .config = {.table = "net",
               .repeated = true,
               .max_entries = kMaxNets,
               .plural = "nets",
               .keys = kNetKeys,
               .flag = {.form = DeviceFlag::Form::kEntry,
                        .name = "net",
                        .help = "virtio-net on tap TAP[,mac=MAC] (a [[net]] entry)",
                        .first_key = "tap"},
               .read = read_net,
               .unique = net_unique},
    .virtio_id = kDeviceNet,
    .make_virtio = make_net,
};

std::array<uint8_t, 6> default_mac(std::string_view name, size_t index) {
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

Result<std::unique_ptr<NetDevice>> NetDevice::open(const std::string& tap, Mac mac) {
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    return device_init_failure(fmt::format("net {}: /dev/net/tun: {}{}", tap, strerror(errno),
                                           errno == ENOENT ? " (is the tun module loaded?)" : ""));
  }
  ifreq request{};
  std::strncpy(request.ifr_name, tap.c_str(), IFNAMSIZ - 1);
  request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd.get(), TUNSETIFF, &request) != 0) {
    const int error = errno;
    return device_init_failure(fmt::format(
        "net {}: cannot attach to the tap: {}{}", tap, strerror(error),
        error == EPERM ? " (create it for this user with `ip tuntap add NAME mode tap user USER`, "
                         "or run petrel with CAP_NET_ADMIN)"
        : error == EBUSY ? " (another process has it open)"
                         : ""));
  }
  const int header_bytes = kHeaderBytes;
  if (ioctl(fd.get(), TUNSETVNETHDRSZ, &header_bytes) != 0) {
    return device_init_failure(fmt::format("net {}: TUNSETVNETHDRSZ: {}", tap, strerror(errno)));
  }
  // No receive offloads until the driver says which ones it takes (activate()).
  if (ioctl(fd.get(), TUNSETOFFLOAD, 0u) != 0) {
    return device_init_failure(fmt::format("net {}: TUNSETOFFLOAD: {}", tap, strerror(errno)));
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

Result<> NetDevice::activate(uint64_t features) {
  // The tap may hand us what the guest's driver accepted to receive, no more.
  unsigned offload = 0;
  if ((features & kFeatureGuestCsum) != 0) {
    offload |= TUN_F_CSUM;
    if ((features & kFeatureGuestTso4) != 0) offload |= TUN_F_TSO4;
    if ((features & kFeatureGuestTso6) != 0) offload |= TUN_F_TSO6;
  }
  if (ioctl(tap_.get(), TUNSETOFFLOAD, offload) != 0) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("TUNSETOFFLOAD {:#x}: {}", offload, strerror(errno)));
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
