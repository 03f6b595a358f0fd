#include "devices/virtio_block.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>

#include "core/config_section.h"
#include "core/little_endian.h"

namespace petrel::virtio {

namespace {

// Request types and status values (section 5.2.6).
constexpr uint32_t kRequestIn = 0;
constexpr uint32_t kRequestOut = 1;
constexpr uint32_t kRequestFlush = 4;
constexpr uint32_t kRequestGetId = 8;
constexpr uint32_t kRequestDiscard = 11;
constexpr uint8_t kStatusOk = 0;
constexpr uint8_t kStatusIoError = 1;
constexpr uint8_t kStatusUnsupported = 2;

// Feature bits (section 5.2.3).
constexpr uint64_t kFeatureSegMax = 1ull << 2;
constexpr uint64_t kFeatureReadOnly = 1ull << 5;
constexpr uint64_t kFeatureBlockSize = 1ull << 6;
constexpr uint64_t kFeatureFlush = 1ull << 9;
constexpr uint64_t kFeatureDiscard = 1ull << 13;

constexpr uint16_t kQueueSize = 256;
constexpr size_t kIdBytes = kMaxDriveIdBytes;
constexpr uint32_t kDiscardAlignmentSectors = 8;  // 4 KiB, the host's page and block size
constexpr uint32_t kMaxDiscardSegments = 32;
constexpr uint64_t kMaxRequestBytes = UINT32_MAX - 1;  // data and status in a used length

// Whole-buffer positioned I/O over guest buffers, in IOV_MAX batches; false on an error
// or an end of file inside the device's capacity.
bool positioned_io(int fd, bool write, uint64_t offset,
                   std::span<const std::span<uint8_t>> buffers) {
  std::vector<iovec> iov;
  for (const auto& b : buffers) iov.push_back({b.data(), b.size()});
  size_t first = 0;
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    const ssize_t done = write ? pwritev(fd, &iov[first], count, static_cast<off_t>(offset))
                               : preadv(fd, &iov[first], count, static_cast<off_t>(offset));
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0) return false;
    offset += static_cast<uint64_t>(done);
    auto left = static_cast<size_t>(done);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (left > 0) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return true;
}

using config_detail::printable;
using config_detail::quote_value;

Result<std::optional<std::any>> read_drive(const ConfigTable& entry,
                                           const std::filesystem::path& source) {
  DriveConfig drive;
  auto path = TRY(config_detail::read_path(entry, "path", source));
  if (!path) return entry.missing("path", "key");
  drive.path = std::move(*path);

  auto read_only = TRY(entry.boolean("read_only"));
  drive.read_only = read_only.value_or(false);

  auto id = TRY(entry.string("id"));
  drive.id = id.value_or("");
  // The guest gets the id as raw bytes (VIRTIO_BLK_T_GET_ID) and shows it in
  // /sys/block/vd*/serial and /dev/disk/by-id: no room for more, nor for control bytes.
  if (drive.id.size() > kMaxDriveIdBytes) {
    return entry.bad("id", fmt::format("{} is {} bytes, more than the {} of a drive id",
                                       quote_value(drive.id), drive.id.size(), kMaxDriveIdBytes));
  }
  if (!std::ranges::all_of(drive.id, [](char c) { return c >= 0x20 && c <= 0x7e; })) {
    return entry.bad("id", fmt::format("{} is not printable ASCII", quote_value(drive.id)));
  }
  return drive;
}

// Two devices on one image would corrupt it; the second would not even get its lock.
// Paths are compared as written, made absolute and normal, not through links.
std::vector<UniqueValue> drive_unique(const std::any& settings) {
  const auto& drive = std::any_cast<const DriveConfig&>(settings);
  return {{"path", drive.path.string(), printable(drive.path.string())}};
}

// The image exists, is a regular file or a block device, and opens read-only, or
// read-write unless the drive is read_only.
Result<> check_drive_file(const ConfigTable& entry, const std::any& settings) {
  const auto& drive = std::any_cast<const DriveConfig&>(settings);
  const auto why =
      config_detail::unusable_file(drive.path, drive.read_only ? O_RDONLY : O_RDWR, true);
  if (!why) return {};
  return fail(ExitCode::kDeviceInitializationFailure,
              fmt::format("{}: {}: {}: {}", entry.at("path"), entry.name("path"),
                          printable(drive.path.string()), *why));
}

Result<std::unique_ptr<VirtioDevice>> make_drive(const DeviceSetup& setup) {
  return BlockDevice::open(setup.settings<DriveConfig>(), disk_name(setup.entry.index));
}

constexpr DeviceKey kDriveKeys[] = {
    {"path", "path, required"}, {"read_only", "boolean, default false"}, {"id", "string"}};
constexpr std::pair<std::string_view, std::string_view> kDriveWords[] = {{"ro", "read_only"}};

}  // namespace

constexpr DeviceType kDriveType = {
    .config = {.table = "drive",
               .repeated = true,
               .max_entries = kMaxDrives,
               .plural = "drives",
               .keys = kDriveKeys,
               .flag = {.form = DeviceFlag::Form::kEntry,
                        .name = "drive",
                        .help = "virtio-blk disk PATH[,ro][,id=SERIAL] (a [[drive]] entry); "
                                "repeatable",
                        .first_key = "path",
                        .words = kDriveWords},
               .read = read_drive,
               .unique = drive_unique,
               .check_files = check_drive_file},
    .virtio_id = kDeviceBlock,
    .make_virtio = make_drive,
};

std::string disk_name(size_t index) {
  std::string suffix;
  for (size_t n = index + 1; n > 0; n = (n - 1) / 26) {
    suffix.insert(suffix.begin(), static_cast<char>('a' + (n - 1) % 26));
  }
  return "vd" + suffix;
}

Result<std::unique_ptr<BlockDevice>> BlockDevice::open(const DriveConfig& drive,
                                                       std::string guest_name) {
  const std::string path = drive.path.string();
  const int flags = (drive.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  UniqueFd fd(::open(path.c_str(), flags));
  if (!fd)
    return device_init_failure(fmt::format("drive {}: {}: {}", guest_name, path, strerror(errno)));
  // One writer, or any number of readers: the lock goes with the fd, so it dies with us.
  if (flock(fd.get(), (drive.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return device_init_failure(
          fmt::format("drive {}: {} is in use by another process ({})", guest_name, path,
                      drive.read_only ? "a writer holds it" : "it holds a lock on it"));
    }
    return device_init_failure(
        fmt::format("drive {}: {}: cannot lock: {}", guest_name, path, strerror(errno)));
  }
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) {
    return device_init_failure(fmt::format("drive {}: {}: {}", guest_name, path, strerror(errno)));
  }
  uint64_t size = 0;
  bool can_discard = false;
  if (S_ISBLK(info.st_mode)) {
    if (ioctl(fd.get(), BLKGETSIZE64, &size) != 0) {
      return device_init_failure(
          fmt::format("drive {}: {}: BLKGETSIZE64: {}", guest_name, path, strerror(errno)));
    }
  } else if (S_ISREG(info.st_mode)) {
    size = static_cast<uint64_t>(info.st_size);
    // Punching a hole past the end changes nothing and tells whether the file system can.
    can_discard =
        !drive.read_only && fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                      static_cast<off_t>(size + 4096), 4096) == 0;
  } else {
    return device_init_failure(
        fmt::format("drive {}: {}: not a regular file or block device", guest_name, path));
  }
  if (size % kSectorBytes != 0) {
    spdlog::warn("drive {}: {}: size {} is not a multiple of 512; the last {} bytes are not used",
                 guest_name, path, size, size % kSectorBytes);
  }
  std::string name = fmt::format("virtio-blk {}", guest_name);
  return std::unique_ptr<BlockDevice>(new BlockDevice(std::move(fd), std::move(name), drive.id,
                                                      drive.read_only, size - size % kSectorBytes,
                                                      can_discard));
}

uint64_t BlockDevice::features() const {
  uint64_t bits = kFeatureSegMax | kFeatureBlockSize | kFeatureFlush;
  if (read_only_) bits |= kFeatureReadOnly;
  if (can_discard_) bits |= kFeatureDiscard;
  return bits;
}

void BlockDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  std::array<uint8_t, 60> config{};
  store_le<uint64_t>(config, 0, capacity_sectors());
  store_le<uint32_t>(config, 12,
                     kQueueSize - 2);            // seg_max: the chain also holds header and status
  store_le<uint32_t>(config, 20, kSectorBytes);  // blk_size
  store_le<uint16_t>(config, 34, 1);             // num_queues
  store_le<uint32_t>(config, 36, UINT32_MAX / kSectorBytes * kSectorBytes);  // max_discard_sectors
  store_le<uint32_t>(config, 40, kMaxDiscardSegments);
  store_le<uint32_t>(config, 44, kDiscardAlignmentSectors);
  read_config_bytes(config, offset, data);
}

void BlockDevice::serve(size_t queue, QueueAccess& queues) {
  while (auto chain = queues.pop(queue)) {
    if (chain->writable.empty()) {
      // Nowhere to put a status: the driver broke the protocol.
      queues.device_failed(fmt::format("request at descriptor {} has no status byte", chain->head));
      return;
    }
    uint32_t data_written = 0;
    const uint8_t status = handle(*chain, data_written);
    std::span<uint8_t> last = chain->writable.back();
    last.back() = status;
    queues.push_used(queue, chain->head, data_written + 1);
  }
}

uint8_t BlockDevice::handle(const DescriptorChain& chain, uint32_t& data_written) {
  // struct virtio_blk_req's header: type (le32), reserved, sector (le64).
  ChainReader reader(chain);
  std::array<uint8_t, 16> raw{};
  if (!reader.read(raw)) return kStatusIoError;
  const struct {
    uint32_t type;
    uint64_t sector;
  } header{load_le<uint32_t>(raw, 0), load_le<uint64_t>(raw, 8)};

  // The device-writable data is every writable byte but the status byte at the end.
  std::vector<std::span<uint8_t>> writable = chain.writable;
  writable.back() = writable.back().first(writable.back().size() - 1);
  if (writable.back().empty()) writable.pop_back();

  switch (header.type) {
    case kRequestIn: return transfer(false, header.sector, std::move(writable), data_written);
    case kRequestOut:
      if (read_only_) return kStatusIoError;
      return transfer(true, header.sector, reader.rest(), data_written);
    case kRequestFlush: return fdatasync(fd_.get()) == 0 ? kStatusOk : kStatusIoError;
    case kRequestGetId: {
      std::array<uint8_t, kIdBytes> id{};
      std::memcpy(id.data(), id_.data(), std::min(id_.size(), kIdBytes));
      const DescriptorChain data{chain.head, {}, writable};
      ChainWriter writer(data);
      data_written = static_cast<uint32_t>(writer.write(id));
      return kStatusOk;
    }
    case kRequestDiscard:
      if (!can_discard_) return kStatusUnsupported;
      return discard(reader.rest());
    default: return kStatusUnsupported;
  }
}

uint8_t BlockDevice::transfer(bool write, uint64_t sector, std::vector<std::span<uint8_t>> buffers,
                              uint32_t& data_written) {
  uint64_t bytes = 0;
  for (const auto& b : buffers) bytes += b.size();
  // The used element reports the bytes written plus the status byte in 32 bits: a longer
  // request (only a hostile driver builds one) could not be reported, and would wrap to 0.
  if (bytes > kMaxRequestBytes) {
    spdlog::debug("{}: a {} of {} bytes is longer than a used element can report", name_,
                  write ? "write" : "read", bytes);
    return kStatusIoError;
  }
  const uint64_t capacity_sectors = capacity_bytes_ / kSectorBytes;
  if (sector > capacity_sectors || bytes > capacity_bytes_ - sector * kSectorBytes) {
    spdlog::debug("{}: {} of {} bytes at sector {} is past the end", name_,
                  write ? "write" : "read", bytes, sector);
    return kStatusIoError;
  }
  if (!positioned_io(fd_.get(), write, sector * kSectorBytes, buffers)) {
    spdlog::warn("{}: {} at sector {}: {}", name_, write ? "write" : "read", sector,
                 errno != 0 ? strerror(errno) : "end of file");
    return kStatusIoError;
  }
  if (!write) data_written = static_cast<uint32_t>(bytes);
  return kStatusOk;
}

uint8_t BlockDevice::discard(std::vector<std::span<uint8_t>> segments) {
  DescriptorChain rest{0, std::move(segments), {}};
  ChainReader reader(rest);
  if (reader.remaining() == 0 || reader.remaining() % 16 != 0 ||
      reader.remaining() / 16 > kMaxDiscardSegments) {
    return kStatusIoError;
  }
  std::array<uint8_t, 16> raw{};
  const uint64_t capacity_sectors = capacity_bytes_ / kSectorBytes;
  while (reader.read(raw)) {
    const uint64_t sector = load_le<uint64_t>(raw, 0);
    const uint32_t count = load_le<uint32_t>(raw, 8);
    if (sector > capacity_sectors || count > capacity_sectors - sector) return kStatusIoError;
    if (fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(sector * kSectorBytes),
                  static_cast<off_t>(count) * kSectorBytes) != 0) {
      return kStatusIoError;
    }
  }
  return kStatusOk;
}

}  // namespace petrel::virtio
