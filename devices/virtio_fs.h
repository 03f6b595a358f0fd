#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/guest_memory.h"
#include "core/unique_fd.h"
#include "devices/device_type.h"
#include "devices/vhost_user.h"
#include "devices/virtio_device.h"
#include "devices/virtiofsd.h"

namespace petrel::virtio {

// [[share]]: a host folder the guest mounts as virtiofs (`mount -t virtiofs TAG /mnt`),
// served by a virtiofsd over vhost-user (one registration: kShareType). Any share makes
// guest RAM shared memory.
struct ShareConfig {
  std::filesystem::path path;  // the host folder
  std::string tag;             // the guest's mount tag: 1 to 36 bytes, unique
  bool read_only = false;
  // A vhost-user socket of a virtiofsd the user started; none: petrel starts one.
  std::optional<std::filesystem::path> socket;
};
inline constexpr size_t kMaxShares = 8;          // [[share]] entries
inline constexpr size_t kMaxShareTagBytes = 36;  // virtio-fs config space tag[36]
extern const DeviceType kShareType;

// virtio-fs (virtio 1.2, section 5.11): a host folder the guest mounts with
// `mount -t virtiofs TAG /mnt`. The FUSE requests on its rings are served by a virtiofsd
// over vhost-user, straight out of guest RAM (which must be shared memory): petrel only
// passes the rings' layout and eventfds on. A guest notify reaches virtiofsd through the
// queue's KVM ioeventfd without petrel; virtiofsd's "used buffers" signal comes to petrel's
// device loop on a call eventfd, which sets InterruptStatus bit 0 (Linux's virtio-mmio
// handler looks at the rings only when that bit is set) and raises the irqfd.
class FsDevice final : public VirtioDevice {
 public:
  static constexpr size_t kQueues = 2;  // hiprio, then one request queue
  static constexpr uint16_t kQueueSize = 256;

  // Starts a virtiofsd for the share (or connects to the one behind `share.socket`) and
  // gives it guest RAM. `index` names the share in messages ("share[0]").
  // DEVICE_INITIALIZATION_FAILURE when virtiofsd cannot start or the backend does not speak
  // the protocol as needed.
  static Result<std::unique_ptr<FsDevice>> open(const ShareConfig& share, size_t index,
                                                const GuestMemory& memory);
  // The same over a backend already connected (tests use a fake one on a socketpair).
  static Result<std::unique_ptr<FsDevice>> connect(std::string tag, std::string log_name,
                                                   vhost_user::Frontend frontend,
                                                   const GuestMemory& memory,
                                                   std::optional<VirtiofsdProcess> process);
  ~FsDevice() override;

  uint32_t device_type() const override { return kDeviceFilesystem; }
  std::string_view name() const override { return name_; }
  uint64_t features() const override { return 0; }  // no notification queue
  uint64_t transport_features(uint64_t offered) const override {
    return offered & backend_features_;
  }
  size_t queue_count() const override { return kQueues; }
  uint16_t queue_max_size(size_t) const override { return kQueueSize; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;

  bool rings_served_elsewhere() const override { return true; }
  Result<> start_rings(uint64_t features, std::span<const RingLayout> rings) override;
  void reset() override;
  void serve(size_t, QueueAccess&) override {}
  // The call eventfds of both queues, then the vhost-user socket (to notice the backend end).
  std::vector<int> watched_fds() const override;
  void serve_fd(size_t index, QueueAccess& queues) override;

 private:
  FsDevice(std::string tag, std::string log_name, vhost_user::Frontend frontend,
           const GuestMemory& memory, std::optional<VirtiofsdProcess> process)
      : tag_(std::move(tag)),
        name_("virtio-fs " + tag_),
        log_name_(std::move(log_name)),
        frontend_(std::move(frontend)),
        memory_(memory),
        process_(std::move(process)) {}

  Result<> start_ring(const RingLayout& ring);
  // " (virtiofsd ended: exit status 1)" once the process petrel started has ended, given
  // `wait` to do so (its socket closes a moment before it is gone); else nothing.
  std::string backend_state(std::chrono::milliseconds wait = {});

  const std::string tag_;
  const std::string name_;
  const std::string log_name_;
  vhost_user::Frontend frontend_;
  const GuestMemory& memory_;
  std::optional<VirtiofsdProcess> process_;
  uint64_t backend_features_ = 0;
  std::array<UniqueFd, kQueues> call_fds_;
  std::array<bool, kQueues> started_{};
  bool backend_gone_ = false;
};

}  // namespace petrel::virtio
