#include "core/guest_memory.h"

#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace petrel {

bool AddressRange::contains(uint64_t address, uint64_t length) const {
  if (address < base) return false;
  const uint64_t offset = address - base;
  return offset <= size && length <= size - offset;
}

bool AddressRange::overlaps(const AddressRange& other) const {
  if (size == 0 || other.size == 0) return false;
  // Written without base + size, which would wrap for a range ending at 2^64.
  return base >= other.base ? base - other.base < other.size : other.base - base < size;
}

Result<GuestMemory> GuestMemory::allocate(uint64_t base, uint64_t size, Sharing sharing) {
  if (size == 0 || base + size < base) {
    return fail(ExitCode::kGuestInitializationFailure, "guest RAM: invalid size");
  }
  // MAP_NORESERVE: pages are only committed when the guest touches them, which keeps
  // petrel's footprint to what the guest really uses (a memfd, too, allocates on first
  // touch). The mapping is placed on a 2 MiB boundary and marked for transparent huge pages
  // so KVM can back the guest with 2 MiB stage-2 blocks: with 4 KiB pages a Linux boot takes
  // several times more faults.
  constexpr uint64_t kHugePage = 2ull << 20;
  const uint64_t reserve = size + kHugePage;
  if (reserve < size) return fail(ExitCode::kGuestInitializationFailure, "guest RAM: invalid size");
  auto no_memory = [size](std::string_view what) {
    return fail(ExitCode::kGuestInitializationFailure,
                fmt::format("guest RAM: cannot {} {} MiB: {}", what, size >> 20, strerror(errno)));
  };
  UniqueFd fd;
  if (sharing == Sharing::kShared) {
    fd = UniqueFd(memfd_create("petrel-guest-ram", MFD_CLOEXEC));
    if (!fd) return no_memory("create a memfd of");
    if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return no_memory("size a memfd to");
  }
  void* mapped = mmap(nullptr, reserve, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapped == MAP_FAILED) return no_memory("map");
  const auto start = reinterpret_cast<uintptr_t>(mapped);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (fd) {
    // The memfd replaces the aligned part of the reservation in place.
    void* shared = mmap(reinterpret_cast<void*>(aligned), size, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd.get(), 0);
    if (shared == MAP_FAILED) {
      const int error = errno;
      munmap(mapped, reserve);
      errno = error;
      return no_memory("map");
    }
  }
  if (aligned > start) munmap(mapped, aligned - start);
  const uintptr_t tail = aligned + size;
  if (start + reserve > tail) munmap(reinterpret_cast<void*>(tail), start + reserve - tail);
  void* host = reinterpret_cast<void*>(aligned);
  // Advisory: without THP in the host kernel (or, for a memfd, with shmem_enabled=never)
  // the guest simply runs on 4 KiB pages.
  madvise(host, size, MADV_HUGEPAGE);
  return GuestMemory(base, size, static_cast<uint8_t*>(host), std::move(fd));
}

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : base_(other.base_), size_(other.size_), host_(other.host_), fd_(std::move(other.fd_)) {
  other.host_ = nullptr;
  other.size_ = 0;
}

GuestMemory& GuestMemory::operator=(GuestMemory&& other) noexcept {
  if (this != &other) {
    release();
    base_ = other.base_;
    size_ = other.size_;
    host_ = other.host_;
    fd_ = std::move(other.fd_);
    other.host_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

GuestMemory::~GuestMemory() { release(); }

void GuestMemory::release() {
  if (host_ != nullptr) munmap(host_, size_);
  host_ = nullptr;
  fd_.reset();
}

std::optional<std::span<uint8_t>> GuestMemory::slice(uint64_t address, uint64_t length) const {
  if (host_ == nullptr || !range().contains(address, length)) return std::nullopt;
  return std::span<uint8_t>(host_ + (address - base_), length);
}

bool GuestMemory::read(uint64_t address, std::span<uint8_t> out) const {
  auto bytes = slice(address, out.size());
  if (!bytes) return false;
  std::memcpy(out.data(), bytes->data(), out.size());
  return true;
}

bool GuestMemory::write(uint64_t address, std::span<const uint8_t> data) const {
  auto bytes = slice(address, data.size());
  if (!bytes) return false;
  std::memcpy(bytes->data(), data.data(), data.size());
  return true;
}

}  // namespace petrel
