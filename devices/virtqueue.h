#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/guest_memory.h"

namespace petrel::virtio {

// Ring feature bits the transport offers for every device (virtio 1.x, section 6).
inline constexpr uint64_t kFeatureIndirectDesc = 1ull << 28;
inline constexpr uint64_t kFeatureEventIdx = 1ull << 29;
inline constexpr uint64_t kFeatureVersion1 = 1ull << 32;

// A validated descriptor chain: the driver-written (readable) buffers, then the
// device-writable ones, as the spec orders them. Every span lies inside guest RAM.
struct DescriptorChain {
  uint16_t head = 0;
  std::vector<std::span<uint8_t>> readable;
  std::vector<std::span<uint8_t>> writable;

  uint64_t readable_bytes() const;
  uint64_t writable_bytes() const;
};

// Copies out of a chain's readable buffers, front to back.
class ChainReader {
 public:
  explicit ChainReader(const DescriptorChain& chain) : buffers_(chain.readable) {}
  // False (and nothing consumed) when fewer than out.size() bytes remain.
  bool read(std::span<uint8_t> out);
  uint64_t remaining() const;
  // The not yet consumed remainder, as spans into guest RAM.
  std::vector<std::span<uint8_t>> rest() const;

 private:
  std::span<const std::span<uint8_t>> buffers_;
  size_t index_ = 0;
  size_t offset_ = 0;
};

// Copies into a chain's writable buffers, front to back.
class ChainWriter {
 public:
  explicit ChainWriter(const DescriptorChain& chain) : buffers_(chain.writable) {}
  // Writes as much of `data` as fits; returns the bytes written.
  size_t write(std::span<const uint8_t> data);
  size_t written() const { return written_; }

 private:
  std::span<const std::span<uint8_t>> buffers_;
  size_t index_ = 0;
  size_t offset_ = 0;
  size_t written_ = 0;
};

// One split virtqueue (virtio 1.x, section 2.7), device side. The driver's ring memory is
// shared with running vCPUs, so every index, address and length read from it is checked
// before use and every ring field is read once; a malformed ring yields an error and the
// transport marks the device as needing reset.
class Virtqueue {
 public:
  explicit Virtqueue(uint16_t max_size) : max_size_(max_size), size_(max_size) {}

  // What the driver configures through the transport before setting the queue ready.
  uint16_t max_size() const { return max_size_; }
  uint16_t size() const { return size_; }
  void set_size(uint16_t size) { size_ = size; }
  uint64_t desc_table = 0;
  uint64_t avail_ring = 0;
  uint64_t used_ring = 0;
  bool ready = false;

  // Back to the state after a device reset.
  void reset();

  // Checks the driver's configuration when the device goes live: size a power of two no
  // larger than max_size, each ring aligned and inside guest RAM. `features` are the
  // negotiated ones (event-idx changes the ring sizes).
  Result<> activate(const GuestMemory& memory, uint64_t features);

  // The next available chain, nothing when the ring is empty, or an error that says what
  // the driver got wrong.
  Result<std::optional<DescriptorChain>> pop();

  // Returns a chain to the driver with `written` bytes stored in its writable buffers.
  void push_used(uint16_t head, uint32_t written);

  // After a batch of push_used(): whether the driver wants an interrupt for it (event-idx
  // or the NO_INTERRUPT flag). Resets the batch.
  bool needs_interrupt();

  // With event-idx, tells the driver to notify when it adds anything past what was popped.
  // Returns true when more chains arrived meanwhile (pop again before sleeping).
  bool arm_notification();

 private:
  uint16_t read_avail_idx() const;

  uint16_t max_size_;
  uint16_t size_;           // as the driver configures it
  uint16_t ring_size_ = 0;  // as validated at activate()
  bool event_idx_ = false;
  // The live rings, valid between activate() and reset().
  const GuestMemory* memory_ = nullptr;
  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  uint16_t next_avail_ = 0;
  uint16_t next_used_ = 0;
  uint16_t signalled_used_ = 0;  // used idx at the last interrupt decision
};

// Descriptor flags.
inline constexpr uint16_t kDescNext = 1;
inline constexpr uint16_t kDescWrite = 2;
inline constexpr uint16_t kDescIndirect = 4;

}  // namespace petrel::virtio
