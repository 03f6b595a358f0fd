#include "devices/virtio_fs.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace petrel::virtio {

namespace {

// The config space: tag[36] (not NUL-terminated when 36 bytes long), le32
// num_request_queues.
constexpr size_t kTagBytes = 36;
constexpr size_t kConfigBytes = kTagBytes + 4;
static_assert(kTagBytes == kMaxShareTagBytes);

// The ring feature bits petrel's driver side may pass on to a backend; anything else a
// backend offers (dirty-page logging, its protocol bit) is not for the guest.
constexpr uint64_t kPassedFeatures = kFeatureVersion1 | kFeatureIndirectDesc | kFeatureEventIdx;

// Split ring part sizes (virtio 1.x, section 2.7), with the event-idx word.
uint64_t desc_bytes(uint16_t size) { return 16ull * size; }
uint64_t avail_bytes(uint16_t size) { return 6 + 2ull * size; }
uint64_t used_bytes(uint16_t size) { return 6 + 8ull * size; }

}  // namespace

Result<std::unique_ptr<FsDevice>> FsDevice::open(const Config::Share& share, size_t index,
                                                 const GuestMemory& memory) {
  const std::string log_name = fmt::format("share[{}]", index);
  if (share.socket) {
    auto frontend = vhost_user::Frontend::connect(*share.socket);
    if (!frontend) {
      return fail(frontend.error().code,
                  fmt::format("{}.socket: {}", log_name, frontend.error().message));
    }
    return connect(share.tag, log_name, std::move(*frontend), memory, std::nullopt);
  }
  UniqueFd connection;
  VirtiofsdProcess::Options options;
  options.folder = share.path;
  options.read_only = share.read_only;
  options.log_name = log_name;
  auto process = TRY(VirtiofsdProcess::start(options, connection));
  return connect(share.tag, log_name, vhost_user::Frontend(std::move(connection)), memory,
                 std::move(process));
}

Result<std::unique_ptr<FsDevice>> FsDevice::connect(std::string tag, std::string log_name,
                                                    vhost_user::Frontend frontend,
                                                    const GuestMemory& memory,
                                                    std::optional<VirtiofsdProcess> process) {
  std::unique_ptr<FsDevice> device(new FsDevice(std::move(tag), std::move(log_name),
                                                std::move(frontend), memory, std::move(process)));
  auto failure = [&device](std::string_view what) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("{}: vhost-user backend: {}{}", device->log_name_, what,
                            device->backend_state(std::chrono::seconds(1))));
  };
  if (device->tag_.empty() || device->tag_.size() > kTagBytes) return failure("invalid tag");
  if (memory.shared_fd() < 0) return failure("guest RAM is not shared memory");
  for (UniqueFd& fd : device->call_fds_) {
    fd = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) return failure(fmt::format("eventfd: {}", strerror(errno)));
  }
  auto features = device->frontend_.start();
  if (!features) return failure(features.error());
  if ((*features & kFeatureVersion1) == 0) {
    return failure(fmt::format("it does not offer VIRTIO_F_VERSION_1 (features {:#x})", *features));
  }
  device->backend_features_ = *features & kPassedFeatures;
  // Guest RAM is one region; ring addresses are given in petrel's own address space.
  const vhost_user::MemoryRegion region{memory.base(), memory.size(),
                                        reinterpret_cast<uint64_t>(memory.host_base()), 0};
  if (auto r = device->frontend_.set_mem_table(region, memory.shared_fd()); !r) {
    return failure(r.error());
  }
  spdlog::debug("{}: {} connected, backend features {:#x}", device->log_name_, device->name_,
                *features);
  return device;
}

FsDevice::~FsDevice() {
  // SIGTERM before the connection closes: virtiofsd then ends quietly, where a hang-up
  // would have it complain on stderr. A user's virtiofsd sees the hang-up.
  if (process_) process_->stop(std::chrono::seconds(2));
  frontend_.close();
}

void FsDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  std::array<uint8_t, kConfigBytes> config{};
  std::memcpy(config.data(), tag_.data(), tag_.size());
  config[kTagBytes] = 1;  // num_request_queues, little-endian
  read_config_bytes(config, offset, data);
}

std::string FsDevice::backend_state(std::chrono::milliseconds wait) {
  if (!process_) return "";
  if (auto ended = process_->ended(wait)) return fmt::format(" (virtiofsd ended: {})", *ended);
  return "";
}

std::expected<void, std::string> FsDevice::start_rings(uint64_t features,
                                                       std::span<const RingLayout> rings) {
  if (backend_gone_) return std::unexpected("the vhost-user backend is gone" + backend_state());
  // The guest may only have accepted what was offered, so this is what the backend offered.
  uint64_t acked = features & kPassedFeatures;
  if (frontend_.protocol_features()) acked |= vhost_user::kFeatureProtocolFeatures;
  TRY(frontend_.set_features(acked));
  for (const RingLayout& ring : rings) {
    if (auto r = start_ring(ring); !r) {
      return std::unexpected(fmt::format("queue {}: {}{}", ring.index, r.error(), backend_state()));
    }
  }
  return {};
}

std::expected<void, std::string> FsDevice::start_ring(const RingLayout& ring) {
  if (ring.index >= kQueues) return std::unexpected(std::string("no such queue"));
  // The transport checked the layout; the host addresses come from the checked API all the
  // same, so nothing outside guest RAM can reach the backend.
  auto desc = memory_.slice(ring.desc_table, desc_bytes(ring.size));
  auto avail = memory_.slice(ring.avail_ring, avail_bytes(ring.size));
  auto used = memory_.slice(ring.used_ring, used_bytes(ring.size));
  if (!desc || !avail || !used) return std::unexpected(std::string("ring outside guest RAM"));
  const vhost_user::VringAddresses addresses{ring.index, reinterpret_cast<uint64_t>(desc->data()),
                                             reinterpret_cast<uint64_t>(used->data()),
                                             reinterpret_cast<uint64_t>(avail->data())};
  // The order QEMU uses: the call fd before the kick, which starts the ring, so nothing the
  // backend finishes right away goes unsignalled.
  TRY(frontend_.set_vring_num(ring.index, ring.size));
  TRY(frontend_.set_vring_base(ring.index, 0));
  TRY(frontend_.set_vring_addr(addresses));
  TRY(frontend_.set_vring_call(ring.index, call_fds_[ring.index].get()));
  TRY(frontend_.set_vring_kick(ring.index, ring.notify_fd));
  started_[ring.index] = true;
  if (frontend_.protocol_features()) {
    TRY(frontend_.set_vring_enable(ring.index, true));
  }
  return {};
}

void FsDevice::reset() {
  // GET_VRING_BASE stops a ring: the backend touches guest RAM no more for it, which the
  // driver relies on once it has reset the device.
  for (uint32_t i = 0; i < kQueues; ++i) {
    if (!started_[i]) continue;
    started_[i] = false;
    if (backend_gone_) continue;
    if (auto r = frontend_.get_vring_base(i); !r) {
      spdlog::warn("{}: reset: {}{}", name_, r.error(), backend_state());
    }
  }
  for (const UniqueFd& fd : call_fds_) {
    uint64_t stale = 0;
    [[maybe_unused]] ssize_t ignored = ::read(fd.get(), &stale, sizeof(stale));
  }
}

std::vector<int> FsDevice::watched_fds() const {
  std::vector<int> fds;
  for (const UniqueFd& fd : call_fds_) fds.push_back(fd.get());
  if (frontend_.fd() >= 0) fds.push_back(frontend_.fd());
  return fds;
}

void FsDevice::serve_fd(size_t index, QueueAccess& queues) {
  if (index < kQueues) {
    uint64_t count = 0;
    if (::read(call_fds_[index].get(), &count, sizeof(count)) == sizeof(count) && count > 0) {
      queues.interrupt_driver();
    }
    return;
  }
  // The socket: replies are read by the request that waits for them (with the transport's
  // lock held, so never while this runs). Anything readable here is an end of file, or
  // bytes no request asked for.
  uint8_t byte;
  const ssize_t got = recv(frontend_.fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (backend_gone_) return;
  backend_gone_ = true;
  spdlog::error(
      "{}: {}: the vhost-user backend {}{}; the guest's requests to this share get no "
      "answer",
      name_, log_name_, got > 0 ? "sent a message petrel did not ask for" : "closed the connection",
      backend_state(std::chrono::milliseconds(200)));
  queues.device_failed("vhost-user backend gone");
}

}  // namespace petrel::virtio
