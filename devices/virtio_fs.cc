#include "devices/virtio_fs.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/config_section.h"

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

using config_detail::printable;
using config_detail::quote_value;

// The guest reads the tag as raw bytes from the device's config space and `mount -t
// virtiofs TAG` names it on a command line: printable ASCII without spaces keeps both simple.
Result<> check_share_tag(const ConfigTable& entry, const std::string& tag) {
  if (tag.empty()) return entry.bad("tag", "empty tag");
  if (tag.size() > kMaxShareTagBytes) {
    return entry.bad("tag", fmt::format("{} is {} bytes, more than the {} of a virtiofs tag",
                                        quote_value(tag), tag.size(), kMaxShareTagBytes));
  }
  if (!std::ranges::all_of(tag, [](char c) { return c > 0x20 && c <= 0x7e; })) {
    return entry.bad("tag",
                     fmt::format("{} is not printable ASCII without spaces", quote_value(tag)));
  }
  return {};
}

Result<std::optional<std::any>> read_share(const ConfigTable& entry,
                                           const std::filesystem::path& source) {
  ShareConfig share;
  auto socket = TRY(config_detail::read_path(entry, "socket", source));
  auto path = TRY(config_detail::read_path(entry, "path", source));
  auto read_only = TRY(entry.boolean("read_only"));
  share.read_only = read_only.value_or(false);
  if (socket) {
    // sockaddr_un holds the path with its NUL.
    if ((socket)->native().size() >= sizeof(sockaddr_un::sun_path)) {
      return entry.bad(
          "socket", fmt::format("{} is longer than the {} bytes of a socket path",
                                printable((socket)->string()), sizeof(sockaddr_un::sun_path) - 1));
    }
    // The virtiofsd behind a socket serves the folder and the access its own command line
    // chose; petrel could not honour either.
    if (path) return entry.bad("path", "not with socket: that virtiofsd chose its folder");
    if (share.read_only) {
      return entry.bad("read_only",
                       "not with socket: start that virtiofsd on a read-only folder instead");
    }
    share.socket = std::move(*socket);
  } else {
    if (!path) return entry.missing("path", "key");
    share.path = std::move(*path);
  }

  auto tag = TRY(entry.string("tag"));
  if (!tag) return entry.missing("tag", "key");
  TRY(check_share_tag(entry, *tag));
  share.tag = std::move(*tag);
  return share;
}

// The guest finds a share by its tag alone; a virtiofsd serves one connection.
std::vector<UniqueValue> share_unique(const std::any& settings) {
  const auto& share = std::any_cast<const ShareConfig&>(settings);
  std::vector<UniqueValue> values = {{"tag", share.tag, quote_value(share.tag)}};
  if (share.socket) {
    values.push_back({"socket", share.socket->string(), printable(share.socket->string())});
  }
  return values;
}

// The folder exists and is a folder; a socket is only looked at when petrel connects to it.
Result<> check_share_folder(const ConfigTable& entry, const std::any& settings) {
  const auto& share = std::any_cast<const ShareConfig&>(settings);
  if (share.socket) return {};
  struct stat info {};
  std::string why;
  if (stat(share.path.c_str(), &info) != 0) {
    why = strerror(errno);
  } else if (!S_ISDIR(info.st_mode)) {
    why = "not a folder";
  } else {
    return {};
  }
  return fail(ExitCode::kDeviceInitializationFailure,
              fmt::format("{}: {}: {}: {}", entry.at("path"), entry.name("path"),
                          printable(share.path.string()), why));
}

Result<std::unique_ptr<VirtioDevice>> make_share(const DeviceSetup& setup) {
  return FsDevice::open(setup.settings<ShareConfig>(), setup.entry.index, *setup.memory);
}

constexpr DeviceKey kShareKeys[] = {{"path", "path, required without socket"},
                                    {"tag", "string, required"},
                                    {"read_only", "boolean, default false"},
                                    {"socket", "path, optional"}};
constexpr std::pair<std::string_view, std::string_view> kShareWords[] = {{"ro", "read_only"}};

}  // namespace

constexpr DeviceType kShareType = {
    .config = {.table = "share",
               .repeated = true,
               .max_entries = kMaxShares,
               .plural = "shares",
               .keys = kShareKeys,
               .flag = {.form = DeviceFlag::Form::kEntry,
                        .name = "share",
                        .help = "host folder PATH,tag=TAG[,ro] as virtiofs (a [[share]] entry); "
                                "repeatable",
                        .first_key = "path",
                        .words = kShareWords},
               .read = read_share,
               .unique = share_unique,
               .check_files = check_share_folder,
               .shares_guest_memory = true},
    .virtio_id = kDeviceFilesystem,
    .make_virtio = make_share,
};

Result<std::unique_ptr<FsDevice>> FsDevice::open(const ShareConfig& share, size_t index,
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
  if (!features) return failure(features.error().message);
  if ((*features & kFeatureVersion1) == 0) {
    return failure(fmt::format("it does not offer VIRTIO_F_VERSION_1 (features {:#x})", *features));
  }
  device->backend_features_ = *features & kPassedFeatures;
  // Guest RAM is one region; ring addresses are given in petrel's own address space.
  const vhost_user::MemoryRegion region{memory.base(), memory.size(),
                                        reinterpret_cast<uint64_t>(memory.host_base()), 0};
  if (auto r = device->frontend_.set_mem_table(region, memory.shared_fd()); !r) {
    return failure(r.error().message);
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

Result<> FsDevice::start_rings(uint64_t features, std::span<const RingLayout> rings) {
  if (backend_gone_)
    return fail(ExitCode::kDeviceInitializationFailure,
                "the vhost-user backend is gone" + backend_state());
  // The guest may only have accepted what was offered, so this is what the backend offered.
  uint64_t acked = features & kPassedFeatures;
  if (frontend_.protocol_features()) acked |= vhost_user::kFeatureProtocolFeatures;
  TRY(frontend_.set_features(acked));
  for (const RingLayout& ring : rings) {
    if (auto r = start_ring(ring); !r) {
      return fail(ExitCode::kDeviceInitializationFailure,
                  fmt::format("queue {}: {}{}", ring.index, r.error().message, backend_state()));
    }
  }
  return {};
}

Result<> FsDevice::start_ring(const RingLayout& ring) {
  if (ring.index >= kQueues) return fail(ExitCode::kDeviceInitializationFailure, "no such queue");
  // The transport checked the layout; the host addresses come from the checked API all the
  // same, so nothing outside guest RAM can reach the backend.
  auto desc = memory_.slice(ring.desc_table, desc_bytes(ring.size));
  auto avail = memory_.slice(ring.avail_ring, avail_bytes(ring.size));
  auto used = memory_.slice(ring.used_ring, used_bytes(ring.size));
  if (!desc || !avail || !used)
    return fail(ExitCode::kDeviceInitializationFailure, "ring outside guest RAM");
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
      spdlog::warn("{}: reset: {}{}", name_, r.error().message, backend_state());
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
