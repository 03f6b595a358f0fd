#pragma once

// What the libFuzzer targets share: reading an input front to back, guest RAM with guard
// pages, and logs that are formatted (so their code runs) but go nowhere.

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

#include "core/guest_memory.h"

namespace petrel::fuzz {

// Stops the run with a message: libFuzzer reports the abort as a crash and keeps the input.
[[noreturn]] inline void finding(std::string_view what) {
  std::fprintf(stderr, "finding: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

#define PETREL_FUZZ_CHECK(condition) \
  ((condition) ? (void)0 : ::petrel::fuzz::finding("check failed: " #condition))

// Reads the input front to back; missing bytes read as zero.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <typename T>
  T take() {
    T value{};
    const size_t n = std::min(sizeof(T), size_ - offset_);
    if (n > 0) std::memcpy(&value, data_ + offset_, n);
    offset_ += n;
    return value;
  }
  // Up to `n` bytes, fewer at the end of the input.
  std::span<const uint8_t> bytes(size_t n) {
    const size_t count = std::min(n, size_ - offset_);
    const std::span<const uint8_t> out(data_ + offset_, count);
    offset_ += count;
    return out;
  }
  std::span<const uint8_t> rest() const { return {data_ + offset_, size_ - offset_}; }
  bool empty() const { return offset_ >= size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

// Guest RAM with PROT_NONE guard pages on both sides: ASan does not track mmap()ed memory,
// so a stray access next to it must fault on its own. Made once per process, never freed.
inline GuestMemory& guarded_ram(uint64_t base, uint64_t size,
                                GuestMemory::Sharing sharing = GuestMemory::Sharing::kPrivate) {
  constexpr size_t kGuardBytes = 64 * 1024;
  auto allocated = GuestMemory::allocate(base, size, sharing);
  if (!allocated) finding("cannot allocate guest RAM: " + allocated.error().message);
  auto* memory = new GuestMemory(std::move(*allocated));
  const auto host = reinterpret_cast<uintptr_t>(memory->host_base());
  for (const uintptr_t at : {host - kGuardBytes, host + size}) {
    void* p = mmap(reinterpret_cast<void*>(at), kGuardBytes, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != MAP_FAILED && p != reinterpret_cast<void*>(at)) munmap(p, kGuardBytes);
  }
  return *memory;
}

// Every log line is formatted, at every level, and dropped.
inline void quiet_logs() {
  auto logger =
      std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace petrel::fuzz
