#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/error.h"
#include "core/unique_fd.h"

namespace petrel {

// A guest-physical address range [base, base + size).
struct AddressRange {
  uint64_t base = 0;
  uint64_t size = 0;

  uint64_t end() const { return base + size; }  // callers guarantee no overflow
  bool contains(uint64_t address, uint64_t length) const;
  bool overlaps(const AddressRange& other) const;
};

// Guest RAM: one host mapping seen by the guest at `base`. Every access from petrel's side
// goes through the checked calls below, so no guest-supplied address or length can reach
// outside the mapping.
class GuestMemory {
 public:
  // kPrivate: anonymous memory only petrel maps. kShared: a memfd mapped MAP_SHARED, which
  // petrel hands to vhost-user backends (virtiofsd) so they map the same pages.
  enum class Sharing { kPrivate, kShared };
  static Result<GuestMemory> allocate(uint64_t base, uint64_t size,
                                      Sharing sharing = Sharing::kPrivate);

  GuestMemory(GuestMemory&& other) noexcept;
  GuestMemory& operator=(GuestMemory&& other) noexcept;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory();

  AddressRange range() const { return {base_, size_}; }
  uint64_t base() const { return base_; }
  uint64_t size() const { return size_; }
  uint8_t* host_base() const { return host_; }
  // The memfd behind shared memory (offset 0 is `base`); -1 for private memory.
  int shared_fd() const { return fd_.get(); }

  // The host bytes behind [address, address + length), or nothing when any part of it
  // lies outside guest RAM (or the sum overflows).
  std::optional<std::span<uint8_t>> slice(uint64_t address, uint64_t length) const;

  bool read(uint64_t address, std::span<uint8_t> out) const;
  bool write(uint64_t address, std::span<const uint8_t> data) const;

 private:
  GuestMemory(uint64_t base, uint64_t size, uint8_t* host, UniqueFd fd)
      : base_(base), size_(size), host_(host), fd_(std::move(fd)) {}
  void release();

  uint64_t base_ = 0;
  uint64_t size_ = 0;
  uint8_t* host_ = nullptr;
  UniqueFd fd_;
};

}  // namespace petrel
