#pragma once

// The driver's side of virtio for the unit tests: guest RAM fenced by inaccessible guard
// pages, split virtqueue rings laid out in it the way a guest driver would, and a register
// front end for the virtio-mmio transport.

#include <sys/mman.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/guest_memory.h"
#include "devices/device.h"
#include "devices/virtio_device.h"
#include "devices/virtio_mmio.h"
#include "devices/virtqueue.h"

namespace petrel::virtio::testing {

inline constexpr uint64_t kRamBase = 0x8000'0000;
inline constexpr uint64_t kRamSize = 1 << 20;
inline constexpr uint64_t kRamEnd = kRamBase + kRamSize;

// Where DriverQueue puts things by default (offsets into RAM).
inline constexpr uint64_t kDescOffset = 0x0'0000;
inline constexpr uint64_t kAvailOffset = 0x1'0000;
inline constexpr uint64_t kUsedOffset = 0x2'0000;
inline constexpr uint64_t kDataOffset = 0x4'0000;

// Guest RAM with a PROT_NONE page mapped right below and right above the host mapping, so
// a device access just outside guest RAM faults (and the test dies) instead of quietly
// reading a neighbouring mapping. A guard is skipped if something already lives there.
class GuardedMemory {
 public:
  explicit GuardedMemory(uint64_t base = kRamBase, uint64_t size = kRamSize,
                         GuestMemory::Sharing sharing = GuestMemory::Sharing::kPrivate)
      : memory_(allocate(base, size, sharing)) {
    const auto host = reinterpret_cast<uintptr_t>(memory_.host_base());
    guards_[0] = map_guard(host - kGuardBytes);
    guards_[1] = map_guard(host + size);
  }
  ~GuardedMemory() {
    for (void* guard : guards_) {
      if (guard != nullptr) munmap(guard, kGuardBytes);
    }
  }
  GuardedMemory(const GuardedMemory&) = delete;
  GuardedMemory& operator=(const GuardedMemory&) = delete;

  const GuestMemory& memory() const { return memory_; }
  operator const GuestMemory&() const { return memory_; }
  bool guarded() const { return guards_[0] != nullptr && guards_[1] != nullptr; }

  // The host address of a guest address known to be in RAM.
  uint8_t* host(uint64_t address) const {
    REQUIRE(memory_.range().contains(address, 0));
    return memory_.host_base() + (address - memory_.base());
  }

 private:
  static constexpr size_t kGuardBytes = 64 * 1024;
  static GuestMemory allocate(uint64_t base, uint64_t size, GuestMemory::Sharing sharing) {
    auto allocated = GuestMemory::allocate(base, size, sharing);
    REQUIRE(allocated);
    return std::move(*allocated);
  }
  static void* map_guard(uintptr_t at) {
    void* p = mmap(reinterpret_cast<void*>(at), kGuardBytes, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    if (p != reinterpret_cast<void*>(at)) {  // a kernel that took the address as a hint
      munmap(p, kGuardBytes);
      return nullptr;
    }
    return p;
  }

  GuestMemory memory_;
  void* guards_[2] = {nullptr, nullptr};
};

inline std::vector<uint8_t> bytes_of(std::string_view text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

inline std::string text_of(std::span<const uint8_t> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

// One buffer of a chain the driver builds: `data` goes into a readable buffer; a writable
// one is `length` bytes, filled with `fill` so the test can see what the device wrote.
struct Buffer {
  std::vector<uint8_t> data;
  uint32_t length = 0;
  bool writable = false;
  uint8_t fill = 0;
};
inline Buffer readable(std::vector<uint8_t> data) {
  const auto length = static_cast<uint32_t>(data.size());
  return Buffer{std::move(data), length, false};
}
inline Buffer readable(std::string_view text) { return readable(bytes_of(text)); }
inline Buffer writable(uint32_t length, uint8_t fill = 0xaa) {
  return Buffer{{}, length, true, fill};
}

struct UsedElement {
  uint32_t id = 0;
  uint32_t len = 0;
};

// A split virtqueue as a driver lays it out in guest RAM. Descriptors are handed out
// round-robin and buffers come from a data area that wraps, which is enough for a device
// that returns every chain before the test reuses its slots.
class DriverQueue {
 public:
  DriverQueue(const GuardedMemory& ram, uint16_t size, uint64_t desc = kRamBase + kDescOffset,
              uint64_t avail = kRamBase + kAvailOffset, uint64_t used = kRamBase + kUsedOffset,
              uint64_t data = kRamBase + kDataOffset, uint64_t data_end = kRamEnd)
      : ram_(ram),
        size_(size),
        desc_(desc),
        avail_(avail),
        used_(used),
        data_start_(data),
        data_end_(data_end),
        data_next_(data) {}

  uint16_t size() const { return size_; }
  uint64_t desc() const { return desc_; }
  uint64_t avail() const { return avail_; }
  uint64_t used() const { return used_; }

  // Gives a device-side queue this ring's addresses and size.
  void configure(Virtqueue& q) const {
    q.set_size(size_);
    q.desc_table = desc_;
    q.avail_ring = avail_;
    q.used_ring = used_;
  }

  // Raw access to guest RAM (little-endian host).
  template <typename T>
  void put(uint64_t address, T value) const {
    REQUIRE(ram_.memory().write(address,
                                std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T))));
  }
  template <typename T>
  T get(uint64_t address) const {
    T value{};
    REQUIRE(ram_.memory().read(address, std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T))));
    return value;
  }
  void write(uint64_t address, std::span<const uint8_t> data) const {
    REQUIRE(ram_.memory().write(address, data));
  }
  std::vector<uint8_t> read(uint64_t address, size_t length) const {
    std::vector<uint8_t> out(length);
    REQUIRE(ram_.memory().read(address, out));
    return out;
  }

  // A descriptor, in the queue's table or in an indirect table at `table`.
  void set_desc_in(uint64_t table, uint16_t index, uint64_t address, uint32_t length,
                   uint16_t flags = 0, uint16_t next = 0) const {
    const uint64_t at = table + 16ull * index;
    put<uint64_t>(at, address);
    put<uint32_t>(at + 8, length);
    put<uint16_t>(at + 12, flags);
    put<uint16_t>(at + 14, next);
  }
  void set_desc(uint16_t index, uint64_t address, uint32_t length, uint16_t flags = 0,
                uint16_t next = 0) const {
    set_desc_in(desc_, index, address, length, flags, next);
  }

  // `bytes` of the data area, aligned; starts over at the front when the area runs out.
  uint64_t alloc(uint64_t bytes, uint64_t alignment = 16) {
    uint64_t at = (data_next_ + alignment - 1) / alignment * alignment;
    if (at + bytes > data_end_) at = data_start_;
    REQUIRE(at + bytes <= data_end_);
    data_next_ = at + bytes;
    return at;
  }

  // The available ring.
  uint16_t avail_idx() const { return get<uint16_t>(avail_ + 2); }
  void set_avail_idx(uint16_t idx) const { put<uint16_t>(avail_ + 2, idx); }
  void set_avail_flags(uint16_t flags) const { put<uint16_t>(avail_, flags); }
  void set_used_event(uint16_t value) const { put<uint16_t>(avail_ + 4 + 2ull * size_, value); }
  // Puts `head` in the next ring slot without publishing it.
  void place(uint16_t head) const {
    put<uint16_t>(avail_ + 4 + 2ull * (avail_idx() % size_), head);
  }
  // Puts `head` in the next slot and publishes it.
  void publish(uint16_t head) const {
    place(head);
    set_avail_idx(static_cast<uint16_t>(avail_idx() + 1));
  }

  // The used ring.
  uint16_t used_flags() const { return get<uint16_t>(used_); }
  uint16_t used_idx() const { return get<uint16_t>(used_ + 2); }
  void set_used_idx(uint16_t idx) const { put<uint16_t>(used_ + 2, idx); }
  UsedElement used_element(uint16_t slot) const {
    const uint64_t at = used_ + 4 + 8ull * (slot % size_);
    return {get<uint32_t>(at), get<uint32_t>(at + 4)};
  }
  // The element the device returned most recently.
  UsedElement last_used() const { return used_element(static_cast<uint16_t>(used_idx() - 1)); }
  uint64_t avail_event_address() const { return used_ + 4 + 8ull * size_; }
  uint16_t avail_event() const { return get<uint16_t>(avail_event_address()); }

  // A chain as the driver wrote it: its head and the guest address of each buffer.
  struct Chain {
    uint16_t head = 0;
    std::vector<uint64_t> addresses;
  };

  // Writes `buffers` as a chain of direct descriptors (without publishing it).
  Chain build(const std::vector<Buffer>& buffers) {
    REQUIRE(!buffers.empty());
    REQUIRE(buffers.size() <= size_);
    Chain chain;
    std::vector<uint16_t> slots;
    for (size_t i = 0; i < buffers.size(); ++i) {
      slots.push_back(next_desc_);
      next_desc_ = static_cast<uint16_t>((next_desc_ + 1) % size_);
    }
    chain.head = slots.front();
    for (size_t i = 0; i < buffers.size(); ++i) {
      const uint64_t address = store(buffers[i]);
      chain.addresses.push_back(address);
      const bool last = i + 1 == buffers.size();
      const uint16_t flags =
          static_cast<uint16_t>((buffers[i].writable ? kDescWrite : 0) | (last ? 0 : kDescNext));
      set_desc(slots[i], address, buffers[i].length, flags, last ? 0 : slots[i + 1]);
    }
    return chain;
  }
  // Builds and publishes a chain.
  Chain add(const std::vector<Buffer>& buffers) {
    Chain chain = build(buffers);
    publish(chain.head);
    return chain;
  }

  // Writes `buffers` into an indirect table referred to by one descriptor of the queue,
  // and publishes it. `addresses` are those of the buffers; `table` is the table's.
  struct IndirectChain {
    uint16_t head = 0;
    uint64_t table = 0;
    std::vector<uint64_t> addresses;
  };
  IndirectChain add_indirect(const std::vector<Buffer>& buffers) {
    IndirectChain chain;
    chain.table = alloc(16 * buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i) {
      const uint64_t address = store(buffers[i]);
      chain.addresses.push_back(address);
      const bool last = i + 1 == buffers.size();
      const uint16_t flags =
          static_cast<uint16_t>((buffers[i].writable ? kDescWrite : 0) | (last ? 0 : kDescNext));
      set_desc_in(chain.table, static_cast<uint16_t>(i), address, buffers[i].length, flags,
                  static_cast<uint16_t>(last ? 0 : i + 1));
    }
    chain.head = next_desc_;
    next_desc_ = static_cast<uint16_t>((next_desc_ + 1) % size_);
    set_desc(chain.head, chain.table, static_cast<uint32_t>(16 * buffers.size()), kDescIndirect);
    publish(chain.head);
    return chain;
  }

 private:
  uint64_t store(const Buffer& buffer) {
    const uint64_t address = alloc(buffer.length == 0 ? 1 : buffer.length);
    if (buffer.writable) {
      std::vector<uint8_t> fill(buffer.length, buffer.fill);
      write(address, fill);
    } else {
      write(address, buffer.data);
    }
    return address;
  }

  const GuardedMemory& ram_;
  uint16_t size_;
  uint64_t desc_;
  uint64_t avail_;
  uint64_t used_;
  uint64_t data_start_;
  uint64_t data_end_;
  uint64_t data_next_;
  uint16_t next_desc_ = 0;
};

// A device's queue access straight over one Virtqueue, without a transport: what the
// device returned, and the first ring error or device failure.
class DirectAccess final : public QueueAccess {
 public:
  explicit DirectAccess(Virtqueue& queue) : queue_(queue) {}

  std::optional<DescriptorChain> pop(size_t queue) override {
    REQUIRE(queue == 0);
    if (failed()) return std::nullopt;
    auto chain = queue_.pop();
    if (!chain) {
      error = chain.error().message;
      return std::nullopt;
    }
    if (!*chain) return std::nullopt;
    return std::move(**chain);
  }
  void push_used(size_t queue, uint16_t head, uint32_t written) override {
    REQUIRE(queue == 0);
    queue_.push_used(head, written);
    ++returned;
  }
  void device_failed(std::string_view why) override { error = std::string(why); }
  void interrupt_driver() override { ++interrupts; }

  bool failed() const { return error.has_value(); }

  int returned = 0;
  int interrupts = 0;
  std::optional<std::string> error;

 private:
  Virtqueue& queue_;
};

// Counts the edges a transport raises.
class CountingInterrupt final : public EdgeInterrupt {
 public:
  explicit CountingInterrupt(std::shared_ptr<int> count) : count_(std::move(count)) {}
  void trigger() override { ++*count_; }

 private:
  std::shared_ptr<int> count_;
};

// virtio-mmio register offsets and status bits (virtio 1.x, section 4.2.2).
namespace reg {
inline constexpr uint64_t kMagicValue = 0x000;
inline constexpr uint64_t kVersion = 0x004;
inline constexpr uint64_t kDeviceId = 0x008;
inline constexpr uint64_t kVendorId = 0x00c;
inline constexpr uint64_t kDeviceFeatures = 0x010;
inline constexpr uint64_t kDeviceFeaturesSel = 0x014;
inline constexpr uint64_t kDriverFeatures = 0x020;
inline constexpr uint64_t kDriverFeaturesSel = 0x024;
inline constexpr uint64_t kQueueSel = 0x030;
inline constexpr uint64_t kQueueNumMax = 0x034;
inline constexpr uint64_t kQueueNum = 0x038;
inline constexpr uint64_t kQueueReady = 0x044;
inline constexpr uint64_t kQueueNotify = 0x050;
inline constexpr uint64_t kInterruptStatus = 0x060;
inline constexpr uint64_t kInterruptAck = 0x064;
inline constexpr uint64_t kStatus = 0x070;
inline constexpr uint64_t kQueueDescLow = 0x080;
inline constexpr uint64_t kQueueDescHigh = 0x084;
inline constexpr uint64_t kQueueDriverLow = 0x090;
inline constexpr uint64_t kQueueDriverHigh = 0x094;
inline constexpr uint64_t kQueueDeviceLow = 0x0a0;
inline constexpr uint64_t kQueueDeviceHigh = 0x0a4;
inline constexpr uint64_t kShmLenLow = 0x0b0;
inline constexpr uint64_t kShmLenHigh = 0x0b4;
inline constexpr uint64_t kConfigGeneration = 0x0fc;
inline constexpr uint64_t kConfig = 0x100;
}  // namespace reg

inline constexpr uint32_t kStatusAcknowledge = 1;
inline constexpr uint32_t kStatusDriver = 2;
inline constexpr uint32_t kStatusDriverOk = 4;
inline constexpr uint32_t kStatusFeaturesOk = 8;
inline constexpr uint32_t kStatusNeedsReset = 64;
inline constexpr uint32_t kStatusFailed = 128;

// A virtio-mmio transport over guarded RAM, driven through its registers.
class MmioRig {
 public:
  static constexpr uint64_t kBase = 0x0a00'0000;

  explicit MmioRig(std::unique_ptr<VirtioDevice> device) { attach(std::move(device)); }
  // For a device that needs guest RAM to be made (vhost-user: shared memory).
  MmioRig(GuestMemory::Sharing sharing,
          const std::function<std::unique_ptr<VirtioDevice>(const GuestMemory&)>& make)
      : ram(kRamBase, kRamSize, sharing) {
    attach(make(ram.memory()));
  }
  void attach(std::unique_ptr<VirtioDevice> device) {
    auto created = MmioTransport::create(kBase, 16, std::move(device), &ram.memory(),
                                         std::make_unique<CountingInterrupt>(interrupt_count));
    REQUIRE(created);
    transport = std::move(*created);
  }

  uint64_t read(uint64_t offset, size_t width = 4) {
    std::vector<uint8_t> bytes(width, 0xee);
    transport->mmio_read(offset, bytes);
    return load_le_any(bytes);
  }
  void write(uint64_t offset, uint64_t value, size_t width = 4) {
    std::vector<uint8_t> bytes(width);
    store_le_any(bytes, value);
    transport->mmio_write(offset, bytes);
  }
  uint32_t status() { return static_cast<uint32_t>(read(reg::kStatus)); }
  int interrupts() const { return *interrupt_count; }

  uint64_t device_features() {
    write(reg::kDeviceFeaturesSel, 0);
    const uint64_t low = read(reg::kDeviceFeatures);
    write(reg::kDeviceFeaturesSel, 1);
    return low | read(reg::kDeviceFeatures) << 32;
  }
  void set_driver_features(uint64_t features) {
    write(reg::kDriverFeaturesSel, 0);
    write(reg::kDriverFeatures, static_cast<uint32_t>(features));
    write(reg::kDriverFeaturesSel, 1);
    write(reg::kDriverFeatures, static_cast<uint32_t>(features >> 32));
  }
  // ACKNOWLEDGE, DRIVER, the features, FEATURES_OK; true when the device accepted them.
  bool negotiate(uint64_t features) {
    write(reg::kStatus, kStatusAcknowledge);
    write(reg::kStatus, kStatusAcknowledge | kStatusDriver);
    set_driver_features(features);
    write(reg::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    return (status() & kStatusFeaturesOk) != 0;
  }
  void setup_queue(uint32_t index, const DriverQueue& q, bool ready = true) {
    write(reg::kQueueSel, index);
    write(reg::kQueueNum, q.size());
    write(reg::kQueueDescLow, static_cast<uint32_t>(q.desc()));
    write(reg::kQueueDescHigh, static_cast<uint32_t>(q.desc() >> 32));
    write(reg::kQueueDriverLow, static_cast<uint32_t>(q.avail()));
    write(reg::kQueueDriverHigh, static_cast<uint32_t>(q.avail() >> 32));
    write(reg::kQueueDeviceLow, static_cast<uint32_t>(q.used()));
    write(reg::kQueueDeviceHigh, static_cast<uint32_t>(q.used() >> 32));
    if (ready) write(reg::kQueueReady, 1);
  }
  // DRIVER_OK, and what the device's loop then does for a device that waits on a backend.
  void driver_ok() {
    write(reg::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    transport->start_backend();
  }
  // The whole handshake with queue 0 set up; true when the device went live.
  bool start(const DriverQueue& q, uint64_t features = kFeatureVersion1) {
    if (!negotiate(features)) return false;
    setup_queue(0, q);
    driver_ok();
    return (status() & (kStatusDriverOk | kStatusNeedsReset)) == kStatusDriverOk;
  }

  GuardedMemory ram;
  std::shared_ptr<int> interrupt_count = std::make_shared<int>(0);
  std::shared_ptr<MmioTransport> transport;
};

}  // namespace petrel::virtio::testing
