#include "devices/virtqueue.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "core/little_endian.h"

namespace petrel::virtio {

namespace {

constexpr uint64_t kDescriptorSize = 16;
constexpr uint16_t kAvailNoInterrupt = 1;
// An indirect table is at most this many descriptors: a chain may not be longer than the
// largest queue, whatever table length the driver claims.
constexpr uint64_t kMaxIndirectDescriptors = 32768;

struct Descriptor {
  uint64_t address;
  uint32_t length;
  uint16_t flags;
  uint16_t next;
};

// One copy out of shared memory, so the driver cannot change a field between its check
// and its use.
Descriptor load_descriptor(const uint8_t* table, uint64_t index) {
  const std::span<const uint8_t> raw(table + index * kDescriptorSize, kDescriptorSize);
  return {load_le<uint64_t>(raw, 0), load_le<uint32_t>(raw, 8), load_le<uint16_t>(raw, 12),
          load_le<uint16_t>(raw, 14)};
}

uint16_t load_u16(const uint8_t* at) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(at), __ATOMIC_RELAXED);
}

uint64_t total(const std::vector<std::span<uint8_t>>& buffers) {
  uint64_t sum = 0;
  for (const auto& b : buffers) sum += b.size();
  return sum;
}

std::unexpected<Error> ring_error(std::string message) {
  return fail(ExitCode::kDeviceInitializationFailure, std::move(message));
}

}  // namespace

uint64_t DescriptorChain::readable_bytes() const { return total(readable); }
uint64_t DescriptorChain::writable_bytes() const { return total(writable); }

bool ChainReader::read(std::span<uint8_t> out) {
  if (remaining() < out.size()) return false;
  size_t done = 0;
  while (done < out.size()) {
    const auto& buffer = buffers_[index_];
    const size_t n = std::min(out.size() - done, buffer.size() - offset_);
    std::memcpy(out.data() + done, buffer.data() + offset_, n);
    done += n;
    offset_ += n;
    if (offset_ == buffer.size()) {
      ++index_;
      offset_ = 0;
    }
  }
  return true;
}

uint64_t ChainReader::remaining() const {
  uint64_t sum = 0;
  for (size_t i = index_; i < buffers_.size(); ++i) sum += buffers_[i].size();
  return sum - offset_;
}

std::vector<std::span<uint8_t>> ChainReader::rest() const {
  std::vector<std::span<uint8_t>> out;
  for (size_t i = index_; i < buffers_.size(); ++i) {
    auto span = i == index_ ? buffers_[i].subspan(offset_) : buffers_[i];
    if (!span.empty()) out.push_back(span);
  }
  return out;
}

size_t ChainWriter::write(std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size() && index_ < buffers_.size()) {
    const auto& buffer = buffers_[index_];
    const size_t n = std::min(data.size() - done, buffer.size() - offset_);
    std::memcpy(buffer.data() + offset_, data.data() + done, n);
    done += n;
    offset_ += n;
    if (offset_ == buffer.size()) {
      ++index_;
      offset_ = 0;
    }
  }
  written_ += done;
  return done;
}

void Virtqueue::reset() {
  size_ = max_size_;
  desc_table = avail_ring = used_ring = 0;
  ready = false;
  event_idx_ = false;
  memory_ = nullptr;
  ring_size_ = 0;
  desc_ = avail_ = used_ = nullptr;
  next_avail_ = next_used_ = signalled_used_ = 0;
}

Result<> Virtqueue::activate(const GuestMemory& memory, uint64_t features) {
  // A refused activation leaves the queue dead rather than half old and half new.
  memory_ = nullptr;
  ring_size_ = 0;
  desc_ = avail_ = used_ = nullptr;
  if (size_ == 0 || size_ > max_size_ || (size_ & (size_ - 1)) != 0) {
    return ring_error(
        fmt::format("queue size {} is not a power of two in 1..{}", size_, max_size_));
  }
  const bool event_idx = (features & kFeatureEventIdx) != 0;
  const uint64_t event_bytes = event_idx ? 2 : 0;
  struct Part {
    const char* name;
    uint64_t address;
    uint64_t alignment;
    uint64_t bytes;
    uint8_t* host = nullptr;
  };
  Part parts[] = {
      {"descriptor table", desc_table, 16, kDescriptorSize * size_},
      {"available ring", avail_ring, 2, 4 + 2ull * size_ + event_bytes},
      {"used ring", used_ring, 4, 4 + 8ull * size_ + event_bytes},
  };
  for (Part& part : parts) {
    if (part.address % part.alignment != 0) {
      return ring_error(fmt::format("{} at {:#x} is not {}-byte aligned", part.name, part.address,
                                    part.alignment));
    }
    auto bytes = memory.slice(part.address, part.bytes);
    if (!bytes) {
      return ring_error(fmt::format("{} at {:#x} (+{:#x}) is outside guest RAM", part.name,
                                    part.address, part.bytes));
    }
    part.host = bytes->data();
  }
  desc_ = parts[0].host;
  avail_ = parts[1].host;
  used_ = parts[2].host;
  event_idx_ = event_idx;
  memory_ = &memory;
  // The rings were checked for this size: it is the one used until the next reset, whatever
  // the driver writes to QueueNum meanwhile.
  ring_size_ = size_;
  // The used ring may hold stale contents from before a reset; the device owns its idx.
  next_avail_ = next_used_ = signalled_used_ = 0;
  __atomic_store_n(reinterpret_cast<uint16_t*>(used_ + 2), uint16_t{0}, __ATOMIC_RELEASE);
  return {};
}

uint16_t Virtqueue::read_avail_idx() const {
  // Acquire: the ring entries and descriptors the driver wrote before bumping idx are
  // visible once the new idx is.
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(avail_ + 2), __ATOMIC_ACQUIRE);
}

Result<std::optional<DescriptorChain>> Virtqueue::pop() {
  if (memory_ == nullptr) return std::optional<DescriptorChain>();
  const uint16_t avail_idx = read_avail_idx();
  const auto pending = static_cast<uint16_t>(avail_idx - next_avail_);
  if (pending == 0) return std::optional<DescriptorChain>();
  if (pending > ring_size_) {
    return ring_error(
        fmt::format("available index {} is {} entries ahead of the device in a "
                    "queue of {}",
                    avail_idx, pending, ring_size_));
  }
  const uint16_t head = load_u16(avail_ + 4 + 2ull * (next_avail_ % ring_size_));
  ++next_avail_;
  if (head >= ring_size_) {
    return ring_error(
        fmt::format("available ring names descriptor {} in a queue of {}", head, ring_size_));
  }

  DescriptorChain chain;
  chain.head = head;
  const uint8_t* table = desc_;
  uint64_t table_entries = ring_size_;
  uint64_t index = head;
  uint64_t seen = 0;
  bool indirect = false;
  for (;;) {
    if (index >= table_entries) {
      return ring_error(fmt::format("chain from head {} links to descriptor {} of {}", head, index,
                                    table_entries));
    }
    if (++seen > table_entries) {
      return ring_error(fmt::format("chain from head {} is longer than its table of {} (a loop?)",
                                    head, table_entries));
    }
    const Descriptor d = load_descriptor(table, index);
    if ((d.flags & kDescIndirect) != 0) {
      if (indirect)
        return ring_error(fmt::format("chain from head {} nests indirect tables", head));
      if ((d.flags & kDescNext) != 0) {
        return ring_error(fmt::format("descriptor {} is both indirect and chained", index));
      }
      const uint64_t entries = d.length / kDescriptorSize;
      if (d.length == 0 || d.length % kDescriptorSize != 0 || entries > kMaxIndirectDescriptors) {
        return ring_error(fmt::format("indirect table of {} bytes at head {}", d.length, head));
      }
      auto bytes = memory_->slice(d.address, d.length);
      if (!bytes) {
        return ring_error(fmt::format("indirect table at {:#x} (+{:#x}) is outside guest RAM",
                                      d.address, d.length));
      }
      table = bytes->data();
      table_entries = entries;
      index = 0;
      seen = 0;
      indirect = true;
      continue;
    }
    auto bytes = memory_->slice(d.address, d.length);
    if (!bytes) {
      return ring_error(
          fmt::format("buffer at {:#x} (+{:#x}) is outside guest RAM", d.address, d.length));
    }
    if ((d.flags & kDescWrite) != 0) {
      if (!bytes->empty()) chain.writable.push_back(*bytes);
    } else {
      if (!chain.writable.empty()) {
        return ring_error(
            fmt::format("chain from head {} has a readable buffer after a "
                        "writable one",
                        head));
      }
      if (!bytes->empty()) chain.readable.push_back(*bytes);
    }
    if ((d.flags & kDescNext) == 0) break;
    index = d.next;
  }
  return chain;
}

void Virtqueue::push_used(uint16_t head, uint32_t written) {
  if (memory_ == nullptr) return;
  uint8_t* element = used_ + 4 + 8ull * (next_used_ % ring_size_);
  const std::span<uint8_t> used_element(element, 8);
  store_le<uint32_t>(used_element, 0, head);
  store_le<uint32_t>(used_element, 4, written);
  ++next_used_;
  // Release: the element (and the data in the buffers) before the index that publishes it.
  __atomic_store_n(reinterpret_cast<uint16_t*>(used_ + 2), next_used_, __ATOMIC_RELEASE);
}

bool Virtqueue::needs_interrupt() {
  if (memory_ == nullptr) return false;
  // The used idx store must be visible before the driver's event index or flags are read,
  // or both sides can decide the other one will act.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint16_t old_used = signalled_used_;
  const uint16_t new_used = next_used_;
  signalled_used_ = new_used;
  if (old_used == new_used) return false;
  if (event_idx_) {
    const uint16_t used_event = load_u16(avail_ + 4 + 2ull * ring_size_);
    // vring_need_event(): did new_used step past used_event in this batch?
    return static_cast<uint16_t>(new_used - used_event - 1) <
           static_cast<uint16_t>(new_used - old_used);
  }
  return (load_u16(avail_) & kAvailNoInterrupt) == 0;
}

bool Virtqueue::arm_notification() {
  if (memory_ == nullptr) return false;
  if (event_idx_) {
    __atomic_store_n(reinterpret_cast<uint16_t*>(used_ + 4 + 8ull * ring_size_), next_avail_,
                     __ATOMIC_RELAXED);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return read_avail_idx() != next_avail_;
}

}  // namespace petrel::virtio
