#include "devices/virtio_mmio.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace petrel::virtio {

namespace {

constexpr uint32_t kMagic = 0x74726976;  // "virt"
constexpr uint32_t kVersion = 2;
constexpr uint32_t kVendorId = 0x4c525450;  // "PTRL"

// Register offsets (virtio 1.x, section 4.2.2).
enum Register : uint64_t {
  kMagicValue = 0x000,
  kVersionReg = 0x004,
  kDeviceId = 0x008,
  kVendor = 0x00c,
  kDeviceFeatures = 0x010,
  kDeviceFeaturesSel = 0x014,
  kDriverFeatures = 0x020,
  kDriverFeaturesSel = 0x024,
  kQueueSel = 0x030,
  kQueueNumMax = 0x034,
  kQueueNum = 0x038,
  kQueueReady = 0x044,
  kQueueNotify = 0x050,
  kInterruptStatus = 0x060,
  kInterruptAck = 0x064,
  kStatus = 0x070,
  kQueueDescLow = 0x080,
  kQueueDescHigh = 0x084,
  kQueueDriverLow = 0x090,
  kQueueDriverHigh = 0x094,
  kQueueDeviceLow = 0x0a0,
  kQueueDeviceHigh = 0x0a4,
  kShmSel = 0x0ac,
  kShmLenLow = 0x0b0,
  kShmLenHigh = 0x0b4,
  kShmBaseLow = 0x0b8,
  kShmBaseHigh = 0x0bc,
  kConfigGeneration = 0x0fc,
  kConfig = 0x100,
};

// Device status bits (section 2.1).
constexpr uint32_t kStatusDriverOk = 4;
constexpr uint32_t kStatusFeaturesOk = 8;
constexpr uint32_t kStatusNeedsReset = 64;
constexpr uint32_t kStatusFailed = 128;

// Interrupt causes (InterruptStatus bits).
constexpr uint32_t kInterruptUsedBuffer = 1;
constexpr uint32_t kInterruptConfigChange = 2;

constexpr uint64_t kTransportFeatures = kFeatureVersion1 | kFeatureIndirectDesc | kFeatureEventIdx;

void set_low(uint64_t& value, uint32_t low) { value = (value & ~0xffffffffull) | low; }
void set_high(uint64_t& value, uint32_t high) {
  value = (value & 0xffffffffull) | (static_cast<uint64_t>(high) << 32);
}

}  // namespace

void read_config_bytes(std::span<const uint8_t> config, uint64_t offset, std::span<uint8_t> data) {
  std::ranges::fill(data, 0);
  if (offset >= config.size()) return;
  const size_t n = std::min<uint64_t>(data.size(), config.size() - offset);
  std::memcpy(data.data(), config.data() + offset, n);
}

// What the device sees while serving: pops that re-arm notifications when a queue runs
// dry, a budget of chains per queue and turn, and a record of which queues it returned
// chains to and which it left with chains to go.
class MmioTransport::Access final : public QueueAccess {
 public:
  explicit Access(MmioTransport& transport)
      : transport_(transport),
        touched_(transport.queues_.size(), false),
        unfinished_(transport.queues_.size(), false),
        popped_(transport.queues_.size(), 0) {}

  std::optional<DescriptorChain> pop(size_t queue) override {
    if (transport_.broken_ || queue >= transport_.queues_.size()) return std::nullopt;
    Virtqueue& q = transport_.queues_[queue];
    if (!q.ready) return std::nullopt;
    if (popped_[queue] == kChainsPerTurn) {
      // The rest on a later turn, after whatever else the loop has to serve.
      unfinished_[queue] = true;
      return std::nullopt;
    }
    for (;;) {
      auto chain = q.pop();
      if (!chain) {
        transport_.mark_broken(fmt::format("queue {}: {}", queue, chain.error().message));
        return std::nullopt;
      }
      if (*chain) {
        ++popped_[queue];
        return std::move(**chain);
      }
      // Empty: ask for a notification, then look again in case the driver added a chain
      // while it still believed the device was busy.
      if (!q.arm_notification()) return std::nullopt;
    }
  }

  void push_used(size_t queue, uint16_t head, uint32_t written) override {
    if (queue >= transport_.queues_.size()) return;
    transport_.queues_[queue].push_used(head, written);
    touched_[queue] = true;
  }

  void device_failed(std::string_view why) override { transport_.mark_broken(why); }

  void interrupt_driver() override { interrupt_ = true; }

  const std::vector<bool>& touched() const { return touched_; }
  const std::vector<bool>& unfinished() const { return unfinished_; }
  bool interrupt() const { return interrupt_; }

 private:
  MmioTransport& transport_;
  std::vector<bool> touched_;
  std::vector<bool> unfinished_;
  std::vector<size_t> popped_;
  bool interrupt_ = false;
};

Result<std::shared_ptr<MmioTransport>> MmioTransport::create(
    uint64_t base, uint32_t spi, std::unique_ptr<VirtioDevice> device, const GuestMemory* memory,
    std::unique_ptr<EdgeInterrupt> interrupt) {
  std::shared_ptr<MmioTransport> transport(
      new MmioTransport(base, spi, std::move(device), memory, std::move(interrupt)));
  for (size_t i = 0; i < transport->queues_.size(); ++i) {
    UniqueFd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) {
      return fail(ExitCode::kDeviceInitializationFailure,
                  fmt::format("{}: eventfd: {}", transport->name_, strerror(errno)));
    }
    transport->notify_fds_.push_back(std::move(fd));
  }
  transport->start_fd_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!transport->start_fd_) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("{}: eventfd: {}", transport->name_, strerror(errno)));
  }
  return transport;
}

MmioTransport::MmioTransport(uint64_t base, uint32_t spi, std::unique_ptr<VirtioDevice> device,
                             const GuestMemory* memory, std::unique_ptr<EdgeInterrupt> interrupt)
    : base_(base),
      spi_(spi),
      name_(device->name()),
      device_(std::move(device)),
      memory_(memory),
      interrupt_(std::move(interrupt)) {
  for (size_t i = 0; i < device_->queue_count(); ++i)
    queues_.emplace_back(device_->queue_max_size(i));
}

DeviceResources MmioTransport::resources() const {
  return {.kind = "virtio_mmio",
          .mmio = mmio_range(),
          .compatible = {"virtio,mmio"},
          .interrupt = {{spi_, DeviceResources::Interrupt::Trigger::kEdgeRising}},
          .flags = {"dma-coherent"}};
}

std::vector<MmioTransport::Notifier> MmioTransport::notifiers() const {
  std::vector<Notifier> out;
  for (size_t i = 0; i < notify_fds_.size(); ++i) {
    out.push_back({base_ + kQueueNotifyOffset, static_cast<uint32_t>(i), notify_fds_[i].get()});
  }
  return out;
}

Result<> MmioTransport::attach(EventLoop& loop) {
  // Notifies of rings served elsewhere are for that process to read, not this loop.
  const size_t watched_notifies = device_->rings_served_elsewhere() ? 0 : notify_fds_.size();
  for (size_t i = 0; i < watched_notifies; ++i) {
    const int fd = notify_fds_[i].get();
    auto handler = [this, fd, i] {
      uint64_t count = 0;
      if (::read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN) return false;
      serve_queue(i);
      return true;
    };
    TRY(loop.add(fd, std::move(handler)));
  }
  if (waits_on_backend()) {
    const int fd = start_fd_.get();
    auto handler = [this, fd] {
      uint64_t count = 0;
      if (::read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN) return false;
      start_backend();
      return true;
    };
    TRY(loop.add(fd, std::move(handler)));
  }
  const std::vector<int> fds = device_->watched_fds();
  for (size_t i = 0; i < fds.size(); ++i) {
    auto handler = [this, i] {
      serve_fd(i);
      return true;
    };
    TRY(loop.add(fds[i], std::move(handler), EventLoop::Trigger::kEdge));
  }
  return {};
}

uint64_t MmioTransport::offered_features() const {
  return device_->features() | device_->transport_features(kTransportFeatures);
}

void MmioTransport::serve_queue(size_t queue) {
  std::lock_guard lock(queue_mutex_);
  if (!live_ || broken_ || queue >= queues_.size()) return;
  Access access(*this);
  device_->serve(queue, access);
  finish_serving(access);
}

void MmioTransport::serve_fd(size_t index) {
  std::lock_guard lock(queue_mutex_);
  if (!live_ || broken_) return;
  Access access(*this);
  device_->serve_fd(index, access);
  finish_serving(access);
}

void MmioTransport::finish_serving(const Access& access) {
  bool wanted = access.interrupt();
  for (size_t i = 0; i < queues_.size(); ++i) {
    // Every touched queue is asked, so each one's batch bookkeeping stays current.
    if (access.touched()[i] && queues_[i].needs_interrupt()) wanted = true;
    // A queue whose budget ran out is notified again: the loop comes back to it.
    if (access.unfinished()[i]) signal_eventfd(notify_fds_[i].get());
  }
  if (wanted) raise(kInterruptUsedBuffer);
}

void MmioTransport::raise(uint32_t cause) {
  interrupt_status_.fetch_or(cause);
  if (interrupt_) interrupt_->trigger();
}

void MmioTransport::mark_broken(std::string_view why) {
  if (broken_) return;
  broken_ = true;
  spdlog::warn("{}: {}; the device needs a reset", name_, why);
  status_.fetch_or(kStatusNeedsReset);
  raise(kInterruptConfigChange);
}

void MmioTransport::mmio_read(uint64_t offset, std::span<uint8_t> data) {
  if (offset >= kConfig) {
    std::lock_guard lock(mutex_);
    device_->read_config(offset - kConfig, data);
    return;
  }
  // Registers are 32 bits wide and read whole (section 4.2.2.2).
  if (data.size() != 4 || offset % 4 != 0) {
    std::ranges::fill(data, 0);
    return;
  }
  store_le_any(data, read_register(offset));
}

void MmioTransport::mmio_write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= kConfig) {
    std::lock_guard lock(mutex_);
    device_->write_config(offset - kConfig, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) return;
  write_register(offset, static_cast<uint32_t>(load_le_any(data)));
}

Virtqueue* MmioTransport::selected_queue() {
  return queue_select_ < queues_.size() ? &queues_[queue_select_] : nullptr;
}

uint32_t MmioTransport::read_register(uint64_t offset) {
  switch (offset) {
    case kMagicValue: return kMagic;
    case kVersionReg: return kVersion;
    case kDeviceId: return device_ ? device_->device_type() : 0;
    case kVendor: return kVendorId;
    case kInterruptStatus: return interrupt_status_.load();
    case kStatus: return status_.load();
    case kConfigGeneration: return 0;  // device configs here never change under the driver
    case kShmLenLow:
    case kShmLenHigh: return 0xffffffff;  // no shared memory regions
    default: break;
  }
  std::lock_guard lock(mutex_);
  const Virtqueue* q = selected_queue();
  switch (offset) {
    case kDeviceFeatures: {
      const uint64_t offered = offered_features();
      return device_features_select_ == 0   ? static_cast<uint32_t>(offered)
             : device_features_select_ == 1 ? static_cast<uint32_t>(offered >> 32)
                                            : 0;
    }
    case kQueueNumMax: return q ? q->max_size() : 0;
    case kQueueReady: return q && q->ready ? 1 : 0;
    case kQueueDescLow: return q ? static_cast<uint32_t>(q->desc_table) : 0;
    case kQueueDescHigh: return q ? static_cast<uint32_t>(q->desc_table >> 32) : 0;
    case kQueueDriverLow: return q ? static_cast<uint32_t>(q->avail_ring) : 0;
    case kQueueDriverHigh: return q ? static_cast<uint32_t>(q->avail_ring >> 32) : 0;
    case kQueueDeviceLow: return q ? static_cast<uint32_t>(q->used_ring) : 0;
    case kQueueDeviceHigh: return q ? static_cast<uint32_t>(q->used_ring >> 32) : 0;
    default: return 0;
  }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
  switch (offset) {
    case kQueueNotify:
      // Without an ioeventfd bound (or before KVM has it) the notify still reaches the loop.
      if (value < notify_fds_.size()) {
        signal_eventfd(notify_fds_[value].get());
      }
      return;
    case kInterruptAck: interrupt_status_.fetch_and(~value); return;
    case kStatus: write_status(value); return;
    default: break;
  }
  std::lock_guard lock(mutex_);
  const bool features_fixed = (status_.load() & kStatusFeaturesOk) != 0;
  switch (offset) {
    case kDeviceFeaturesSel: device_features_select_ = value; return;
    case kDriverFeaturesSel: driver_features_select_ = value; return;
    case kDriverFeatures:
      if (features_fixed) return;
      if (driver_features_select_ == 0) set_low(driver_features_, value);
      if (driver_features_select_ == 1) set_high(driver_features_, value);
      return;
    case kQueueSel: queue_select_ = value; return;
    default: break;
  }
  // The driver sets a queue up before it is ready and the device is live; changes after
  // that are ignored rather than pulled from under the device loop.
  Virtqueue* q = selected_queue();
  if (q == nullptr || (status_.load() & kStatusDriverOk) != 0) return;
  if (offset == kQueueReady) {
    q->ready = value == 1;
    return;
  }
  if (q->ready) return;
  switch (offset) {
    case kQueueNum: q->set_size(static_cast<uint16_t>(std::min<uint32_t>(value, 0xffff))); break;
    case kQueueDescLow: set_low(q->desc_table, value); break;
    case kQueueDescHigh: set_high(q->desc_table, value); break;
    case kQueueDriverLow: set_low(q->avail_ring, value); break;
    case kQueueDriverHigh: set_high(q->avail_ring, value); break;
    case kQueueDeviceLow: set_low(q->used_ring, value); break;
    case kQueueDeviceHigh: set_high(q->used_ring, value); break;
    default: break;
  }
}

void MmioTransport::write_status(uint32_t value) {
  std::lock_guard lock(mutex_);
  if (value == 0) {
    reset();
    return;
  }
  const uint32_t old = status_.load();
  if ((old & ~value & ~kStatusNeedsReset) != 0) {
    // Status bits only ever go up until a reset (section 2.1.2); a driver that clears one
    // would otherwise get to reconfigure queues under a live device.
    std::lock_guard queues(queue_mutex_);
    mark_broken(fmt::format("driver cleared status bits {:#x} without a reset", old & ~value));
    return;
  }
  uint32_t next = value | (old & kStatusNeedsReset);
  if ((value & kStatusFeaturesOk) != 0 && (old & kStatusFeaturesOk) == 0) {
    const uint64_t offered = offered_features();
    // Only offered features, and virtio 1.x: a legacy driver cannot drive this transport.
    if ((driver_features_ & ~offered) != 0 || (driver_features_ & kFeatureVersion1) == 0) {
      spdlog::warn("{}: driver features {:#x} not acceptable (offered {:#x})", name_,
                   driver_features_, offered);
      next &= ~kStatusFeaturesOk;
    }
  }
  status_.store(next);
  if ((next & kStatusDriverOk) != 0 && (old & kStatusDriverOk) == 0 &&
      (next & kStatusFailed) == 0) {
    activate();
  }
}

void MmioTransport::activate() {
  std::lock_guard lock(queue_mutex_);
  if ((status_.load() & kStatusFeaturesOk) == 0) {
    mark_broken("DRIVER_OK without FEATURES_OK");
    return;
  }
  if (memory_ == nullptr) {
    mark_broken("no guest memory");
    return;
  }
  std::vector<RingLayout> rings;
  for (size_t i = 0; i < queues_.size(); ++i) {
    Virtqueue& q = queues_[i];
    if (!q.ready) continue;
    if (auto r = q.activate(*memory_, driver_features_); !r) {
      mark_broken(fmt::format("queue {}: {}", i, r.error().message));
      return;
    }
    rings.push_back({static_cast<uint32_t>(i), q.size(), q.desc_table, q.avail_ring, q.used_ring,
                     notify_fds_[i].get()});
  }
  if (waits_on_backend()) {
    // The backend's round trips run on the device's loop (start_backend), not here on the
    // vCPU: the driver goes on, and its kicks wait in the kick eventfds the backend gets.
    pending_start_ = PendingStart{driver_features_, std::move(rings)};
    signal_eventfd(start_fd_.get());
    return;
  }
  if (auto started = device_->activate(driver_features_); !started) {
    mark_broken(started.error().message);
    return;
  }
  go_live();
}

void MmioTransport::start_backend() {
  std::lock_guard lock(queue_mutex_);
  if (!pending_start_) return;
  const PendingStart start = std::move(*pending_start_);
  pending_start_.reset();
  if (broken_) return;
  if (auto started = device_->start_rings(start.features, start.rings); !started) {
    // What the backend was given so far is taken back by the driver's reset.
    live_ = true;
    mark_broken(started.error().message);
    return;
  }
  go_live();
}

void MmioTransport::go_live() {
  live_ = true;
  // Serve anything the driver queued before DRIVER_OK, and the device's own fds.
  for (size_t i = 0; i < notify_fds_.size(); ++i) {
    signal_eventfd(notify_fds_[i].get());
  }
}

void MmioTransport::reset() {
  std::lock_guard lock(queue_mutex_);
  if (live_) device_->reset();
  live_ = false;
  pending_start_.reset();
  broken_ = false;
  for (Virtqueue& q : queues_) q.reset();
  driver_features_ = 0;
  device_features_select_ = driver_features_select_ = queue_select_ = 0;
  interrupt_status_.store(0);
  status_.store(0);
}

}  // namespace petrel::virtio
