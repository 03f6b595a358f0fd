#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/event_loop.h"
#include "core/unique_fd.h"
#include "devices/device.h"
#include "devices/virtio_device.h"

namespace petrel::virtio {

// The virtio-mmio transport, version 2 (virtio 1.x, section 4.2): the register window,
// feature negotiation, the status handshake, reset, and the device's queues. Queue
// notifications arrive on one eventfd per queue, which KVM writes directly when the
// machine binds it as an ioeventfd (so a guest notify costs no exit to petrel); the device
// is served on the event loop that watches those eventfds, off the vCPU threads.
class MmioTransport final : public MmioDevice {
 public:
  static constexpr uint64_t kWindowBytes = 0x200;
  static constexpr uint64_t kQueueNotifyOffset = 0x50;
  // Chains served per queue and turn of its loop. A driver that keeps a queue full
  // (vCPUs adding while the loop serves) would otherwise hold the loop, and the console
  // input and other devices it serves, for as long as it likes.
  static constexpr size_t kChainsPerTurn = 64;

  // `memory` may be null for a transport that only describes itself (`petrel dtb`).
  static Result<std::shared_ptr<MmioTransport>> create(uint64_t base, uint32_t spi,
                                                       std::unique_ptr<VirtioDevice> device,
                                                       const GuestMemory* memory,
                                                       std::unique_ptr<EdgeInterrupt> interrupt);

  std::string_view name() const override { return name_; }
  AddressRange mmio_range() const override { return {base_, kWindowBytes}; }
  void mmio_read(uint64_t offset, std::span<uint8_t> data) override;
  void mmio_write(uint64_t offset, std::span<const uint8_t> data) override;
  DeviceResources resources() const override;

  // A guest write of `queue` to QueueNotify signals `fd`; KVM can do that write itself.
  struct Notifier {
    uint64_t address;
    uint32_t queue;
    int fd;
  };
  std::vector<Notifier> notifiers() const;
  // Watches the notify eventfds and the device's own fds on `loop` (before it starts).
  Result<> attach(EventLoop& loop);

  // Serves `queue` now, as its notify eventfd firing does (tests call it directly): at
  // most kChainsPerTurn chains, then the queue's eventfd is signalled again.
  void serve_queue(size_t queue);
  // The same for the device's own fd number `index` of its watched_fds().
  void serve_fd(size_t index);
  // Hands the rings of a driver's DRIVER_OK to a device whose rings a backend serves (the
  // vhost-user round trips), as the start eventfd firing does on the device's loop: that
  // way a slow or stalled backend holds up its loop, never the vCPU that wrote the status.
  // Tests call it directly.
  void start_backend();
  // Whether the device's rings are served by another process (vhost-user), whose answers
  // its loop waits for.
  bool waits_on_backend() const { return device_->rings_served_elsewhere(); }

  uint32_t device_type() const { return device_->device_type(); }
  uint32_t status() const { return status_.load(); }
  uint32_t interrupt_status() const { return interrupt_status_.load(); }

 private:
  class Access;

  MmioTransport(uint64_t base, uint32_t spi, std::unique_ptr<VirtioDevice> device,
                const GuestMemory* memory, std::unique_ptr<EdgeInterrupt> interrupt);

  uint64_t offered_features() const;
  uint32_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint32_t value);
  void write_status(uint32_t value);
  void activate();
  // With queue_mutex_ held: the device serves from now on.
  void go_live();
  void reset();
  // With queue_mutex_ held: interrupts the driver for queues whose used ring moved (or
  // when the device asked for it: its rings are served elsewhere), and notifies again the
  // queues left with chains to go.
  void finish_serving(const Access& access);
  void mark_broken(std::string_view why);
  void raise(uint32_t cause);
  Virtqueue* selected_queue();

  const uint64_t base_;
  const uint32_t spi_;
  const std::string name_;
  std::unique_ptr<VirtioDevice> device_;
  const GuestMemory* memory_;
  std::unique_ptr<EdgeInterrupt> interrupt_;
  std::vector<UniqueFd> notify_fds_;
  // Signalled by DRIVER_OK when the device waits on a backend: start_backend() runs then.
  UniqueFd start_fd_;

  // Register state, written by vCPU threads.
  std::mutex mutex_;
  uint32_t device_features_select_ = 0;
  uint32_t driver_features_select_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t queue_select_ = 0;
  std::atomic<uint32_t> status_ = 0;
  std::atomic<uint32_t> interrupt_status_ = 0;

  // The queues and the device's work, used by the event loop; vCPU threads take this lock
  // too (after mutex_) to activate or reset, which waits for work in flight.
  std::mutex queue_mutex_;
  std::vector<Virtqueue> queues_;
  bool live_ = false;
  bool broken_ = false;
  // DRIVER_OK's rings, until the device's loop hands them to the backend (or a reset
  // drops them).
  struct PendingStart {
    uint64_t features;
    std::vector<RingLayout> rings;
  };
  std::optional<PendingStart> pending_start_;
};

}  // namespace petrel::virtio
