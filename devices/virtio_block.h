#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/error.h"
#include "core/unique_fd.h"
#include "devices/device_type.h"
#include "devices/virtio_device.h"

namespace petrel::virtio {

// [[drive]]: a virtio-blk device (one registration: kDriveType).
struct DriveConfig {
  std::filesystem::path path;  // a raw image, regular file or block device
  bool read_only = false;
  std::string id;  // the serial the guest reads with GET_ID (at most 20 bytes); may be empty
};
inline constexpr size_t kMaxDrives = 16;        // [[drive]] entries
inline constexpr size_t kMaxDriveIdBytes = 20;  // VIRTIO_BLK_ID_BYTES
extern const DeviceType kDriveType;

// The guest's name for the n-th virtio disk: vda .. vdz, vdaa, ...
std::string disk_name(size_t index);

// virtio-blk (virtio 1.x, section 5.2) over a raw image file or block device: read,
// write, flush (fdatasync), get-id, and discard where the file can punch holes. The image
// is locked for the life of the device: exclusively when writable, shared when read-only,
// so a second petrel cannot write under a running guest.
class BlockDevice final : public VirtioDevice {
 public:
  static constexpr uint64_t kSectorBytes = 512;

  // DEVICE_INITIALIZATION_FAILURE when the image cannot be opened or is locked by another
  // process; `guest_name` ("vda") is for logs.
  static Result<std::unique_ptr<BlockDevice>> open(const DriveConfig& drive,
                                                   std::string guest_name);

  uint32_t device_type() const override { return kDeviceBlock; }
  std::string_view name() const override { return name_; }
  uint64_t features() const override;
  size_t queue_count() const override { return 1; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void serve(size_t queue, QueueAccess& queues) override;

  uint64_t capacity_sectors() const { return capacity_bytes_ / kSectorBytes; }

 private:
  BlockDevice(UniqueFd fd, std::string name, std::string id, bool read_only, uint64_t capacity,
              bool can_discard)
      : fd_(std::move(fd)),
        name_(std::move(name)),
        id_(std::move(id)),
        read_only_(read_only),
        capacity_bytes_(capacity),
        can_discard_(can_discard) {}

  // Carries out one request; returns the status byte and counts the data bytes written
  // into the guest's buffers.
  uint8_t handle(const DescriptorChain& chain, uint32_t& data_written);
  uint8_t transfer(bool write, uint64_t sector, std::vector<std::span<uint8_t>> buffers,
                   uint32_t& data_written);
  uint8_t discard(std::vector<std::span<uint8_t>> segments);

  UniqueFd fd_;
  std::string name_;
  std::string id_;
  bool read_only_;
  uint64_t capacity_bytes_;
  bool can_discard_;
};

}  // namespace petrel::virtio
