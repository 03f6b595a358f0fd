// libFuzzer target for the device side of a split virtqueue (devices/virtqueue.cc): the
// input is a queue configuration plus the contents of a small guest RAM, as a hostile
// driver would leave them. The queue is activated and served until it is empty or reports
// an error; then, as the input says, configured anew (live, re-activated without a reset,
// or after one) and served again. Nothing may crash, trip ASan or UBSan, or hand out a buffer
// outside guest RAM; PROT_NONE guard pages on both sides of the RAM mapping catch stray accesses
// that ASan (which does not track mmap()ed memory) would miss. See tests/fuzz/README.md.

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "core/guest_memory.h"
#include "devices/virtqueue.h"

namespace {

using petrel::GuestMemory;
using namespace petrel::virtio;

// Two guest RAMs to choose from: one at 0, where small numbers are addresses the fuzzer
// finds easily, and one high up, where the base has to be subtracted.
constexpr uint64_t kHighBase = 0x4000'0000;
constexpr uint64_t kRamSize = 64 * 1024;
constexpr size_t kGuardBytes = 64 * 1024;
// Bounds the work per input; a queue can hold at most 32768 chains between two looks at
// the available index, and the device's own writes may keep feeding it.
constexpr int kMaxChains = 4096;

void map_guard(uintptr_t at) {
  void* p = mmap(reinterpret_cast<void*>(at), kGuardBytes, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (p != MAP_FAILED && p != reinterpret_cast<void*>(at)) munmap(p, kGuardBytes);
}

GuestMemory* make_ram(uint64_t base) {
  auto allocated = GuestMemory::allocate(base, kRamSize);
  if (!allocated) {
    std::fprintf(stderr, "cannot allocate guest RAM: %s\n", allocated.error().message.c_str());
    std::abort();
  }
  auto* m = new GuestMemory(std::move(*allocated));
  const auto host = reinterpret_cast<uintptr_t>(m->host_base());
  map_guard(host - kGuardBytes);
  map_guard(host + kRamSize);
  return m;
}

const GuestMemory& ram(bool high) {
  static GuestMemory* low_ram = make_ram(0);
  static GuestMemory* high_ram = make_ram(kHighBase);
  return high ? *high_ram : *low_ram;
}

// Reads the input front to back; missing bytes read as zero.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <typename T>
  T take() {
    T value{};
    const size_t n = std::min(sizeof(T), size_ - offset_);
    std::memcpy(&value, data_ + offset_, n);
    offset_ += n;
    return value;
  }
  std::span<const uint8_t> rest() const { return {data_ + offset_, size_ - offset_}; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

// A ring address: an offset into RAM, or (with `below`) that far below its start, which
// for the RAM at 0 wraps to the top of the address space.
uint64_t ring_address(const GuestMemory& memory, uint16_t offset, bool below) {
  return below ? memory.base() - offset : memory.base() + offset;
}

void check_inside_ram(const GuestMemory& memory, std::span<uint8_t> span) {
  const uint8_t* begin = memory.host_base();
  const uint8_t* end = begin + kRamSize;
  if (span.data() < begin || span.data() > end || span.size() > size_t(end - span.data())) {
    std::fprintf(stderr, "buffer %p+%zu outside guest RAM %p+%#llx\n",
                 static_cast<void*>(span.data()), span.size(), static_cast<const void*>(begin),
                 static_cast<unsigned long long>(kRamSize));
    std::abort();
  }
}

// Serves `q` as a device would until it is empty or reports an error (after which the
// transport would want a reset, and serves nothing more). False after an error.
bool serve(Virtqueue& q, const GuestMemory& memory, uint8_t flags) {
  std::vector<uint8_t> scratch;
  for (int served = 0; served < kMaxChains; ++served) {
    auto popped = q.pop();
    if (!popped) return false;
    if (!*popped) {
      if ((flags & 2) != 0 && q.arm_notification()) continue;
      break;
    }
    const DescriptorChain& chain = **popped;
    for (auto span : chain.readable) check_inside_ram(memory, span);
    for (auto span : chain.writable) check_inside_ram(memory, span);

    // Consume it: read what the driver wrote, fill what it offered (which may well be the
    // rings themselves).
    ChainReader reader(chain);
    scratch.resize(reader.remaining() > 4096 ? 4096 : reader.remaining());
    if (!reader.read(scratch)) std::abort();
    for (auto span : reader.rest()) check_inside_ram(memory, span);
    uint32_t written = 0;
    if ((flags & 4) != 0) {
      ChainWriter writer(chain);
      const std::vector<uint8_t> fill(chain.writable_bytes() > 4096 ? 4096 : chain.writable_bytes(),
                                      static_cast<uint8_t>(served));
      written = static_cast<uint32_t>(writer.write(fill));
    }
    q.push_used(chain.head, written);
    if ((flags & 8) != 0 || served % 8 == 7) q.needs_interrupt();
  }
  q.needs_interrupt();
  q.arm_notification();
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const auto max_size = in.take<uint16_t>();
  const auto queue_size = in.take<uint16_t>();
  const auto flags = in.take<uint8_t>();
  const auto desc = in.take<uint16_t>();
  const auto avail = in.take<uint16_t>();
  const auto used = in.take<uint16_t>();
  // What the driver does next (the second phase).
  const auto again = in.take<uint8_t>();
  const auto queue_size2 = in.take<uint16_t>();
  const auto desc2 = in.take<uint16_t>();
  const auto avail2 = in.take<uint16_t>();
  const auto used2 = in.take<uint16_t>();
  const GuestMemory& memory = ram((flags & 0x80) != 0);

  // Everything else is guest RAM from its start; the rest of RAM is zero.
  uint8_t* host = memory.host_base();
  const auto contents = in.rest().first(std::min<size_t>(in.rest().size(), kRamSize));
  if (!contents.empty()) std::memcpy(host, contents.data(), contents.size());
  std::memset(host + contents.size(), 0, kRamSize - contents.size());

  Virtqueue q(max_size);
  q.set_size(queue_size);
  q.desc_table = ring_address(memory, desc, (flags & 0x10) != 0);
  q.avail_ring = ring_address(memory, avail, (flags & 0x20) != 0);
  q.used_ring = ring_address(memory, used, (flags & 0x40) != 0);
  q.ready = true;
  if (!q.activate(memory, (flags & 1) != 0 ? kFeatureEventIdx : 0)) return 0;
  if (!serve(q, memory, flags)) return 0;

  // The driver configures the queue anew: while it stays live (registers written after
  // clearing DRIVER_OK), then activated again without a reset (DRIVER_OK set again), or
  // after a reset.
  const int mode = again & 3;
  if (mode == 0) return 0;
  if (mode == 3) q.reset();
  q.set_size(queue_size2);
  q.desc_table = ring_address(memory, desc2, (again & 0x10) != 0);
  q.avail_ring = ring_address(memory, avail2, (again & 0x20) != 0);
  q.used_ring = ring_address(memory, used2, (again & 0x40) != 0);
  if (mode >= 2 && !q.activate(memory, (again & 4) != 0 ? kFeatureEventIdx : 0)) return 0;
  serve(q, memory, flags);
  return 0;
}
