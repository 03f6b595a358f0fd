#include "core/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace petrel {
namespace {

constexpr uint64_t kBase = 0x8000'0000;
constexpr uint64_t kSize = 1 << 20;
constexpr uint64_t kEnd = kBase + kSize;

GuestMemory make_memory() {
  auto memory = GuestMemory::allocate(kBase, kSize);
  REQUIRE(memory);
  return std::move(*memory);
}

TEST_CASE("address range: contains and overlaps", "[guest_memory]") {
  const AddressRange r{0x1000, 0x100};
  CHECK(r.end() == 0x1100);
  CHECK(r.contains(0x1000, 0x100));
  CHECK(r.contains(0x10ff, 1));
  CHECK(r.contains(0x1100, 0));
  CHECK_FALSE(r.contains(0x10ff, 2));
  CHECK_FALSE(r.contains(0x1100, 1));
  CHECK_FALSE(r.contains(0x0fff, 1));
  CHECK_FALSE(r.contains(0x0fff, 0x102));
  CHECK_FALSE(r.contains(0x1001, UINT64_MAX));
  CHECK_FALSE(r.contains(UINT64_MAX, 2));

  CHECK(r.overlaps({0x10ff, 1}));
  CHECK(r.overlaps({0x0fff, 2}));
  CHECK(r.overlaps({0x0, 0x10000}));
  CHECK_FALSE(r.overlaps({0x1100, 0x100}));
  CHECK_FALSE(r.overlaps({0x0f00, 0x100}));
  CHECK_FALSE(r.overlaps({0x1000, 0}));  // empty ranges overlap nothing
}

TEST_CASE("guest memory: allocate describes the range and starts zeroed", "[guest_memory]") {
  GuestMemory memory = make_memory();
  CHECK(memory.base() == kBase);
  CHECK(memory.size() == kSize);
  CHECK(memory.range().base == kBase);
  CHECK(memory.range().size == kSize);
  REQUIRE(memory.host_base() != nullptr);
  CHECK(memory.host_base()[0] == 0);
  CHECK(memory.host_base()[kSize - 1] == 0);
}

TEST_CASE("guest memory: private memory has no fd; shared memory is a memfd another mapping sees",
          "[guest_memory]") {
  CHECK(make_memory().shared_fd() == -1);
  auto shared = GuestMemory::allocate(kBase, kSize, GuestMemory::Sharing::kShared);
  REQUIRE(shared);
  REQUIRE(shared->shared_fd() >= 0);
  CHECK(reinterpret_cast<uintptr_t>(shared->host_base()) % (2 << 20) == 0);
  CHECK(lseek(shared->shared_fd(), 0, SEEK_END) == static_cast<off_t>(kSize));
  // What a vhost-user backend does with the fd: map it and see the guest's bytes.
  void* other = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, shared->shared_fd(), 0);
  REQUIRE(other != MAP_FAILED);
  const uint8_t bytes[] = {1, 2, 3};
  REQUIRE(shared->write(kEnd - 3, bytes));
  CHECK(static_cast<uint8_t*>(other)[kSize - 2] == 2);
  static_cast<uint8_t*>(other)[0] = 9;
  uint8_t first = 0;
  REQUIRE(shared->read(kBase, std::span(&first, 1)));
  CHECK(first == 9);
  munmap(other, kSize);
  GuestMemory moved = std::move(*shared);
  CHECK(moved.shared_fd() >= 0);
  CHECK(shared->shared_fd() == -1);
}

TEST_CASE("guest memory: invalid sizes are refused", "[guest_memory]") {
  auto empty = GuestMemory::allocate(kBase, 0);
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == ExitCode::kGuestInitializationFailure);

  auto wraps = GuestMemory::allocate(UINT64_MAX - 0xfff, 0x2000);
  REQUIRE_FALSE(wraps);
  CHECK(wraps.error().code == ExitCode::kGuestInitializationFailure);
}

TEST_CASE("guest memory: write then read round-trips through the host mapping", "[guest_memory]") {
  GuestMemory memory = make_memory();
  const std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  REQUIRE(memory.write(kBase + 0x1234, data));
  CHECK(memory.host_base()[0x1234] == 1);
  CHECK(memory.host_base()[0x1234 + 8] == 9);

  std::vector<uint8_t> back(data.size());
  REQUIRE(memory.read(kBase + 0x1234, back));
  CHECK(back == data);

  // A slice aliases the same bytes.
  auto slice = memory.slice(kBase + 0x1235, 2);
  REQUIRE(slice);
  CHECK(slice->size() == 2);
  CHECK((*slice)[0] == 2);
  (*slice)[1] = 0x77;
  uint8_t byte = 0;
  REQUIRE(memory.read(kBase + 0x1236, std::span<uint8_t>(&byte, 1)));
  CHECK(byte == 0x77);
}

TEST_CASE("guest memory: the last bytes are reachable, one past is not", "[guest_memory]") {
  GuestMemory memory = make_memory();
  const uint8_t tail[4] = {0xde, 0xad, 0xbe, 0xef};
  CHECK(memory.write(kEnd - 4, tail));
  CHECK(memory.host_base()[kSize - 1] == 0xef);
  CHECK(memory.slice(kEnd - 1, 1));
  CHECK(memory.slice(kBase, kSize));
  auto at_end = memory.slice(kEnd, 0);
  REQUIRE(at_end);
  CHECK(at_end->empty());

  CHECK_FALSE(memory.slice(kEnd - 4, 5));
  CHECK_FALSE(memory.slice(kEnd, 1));
  CHECK_FALSE(memory.slice(kBase, kSize + 1));
  CHECK_FALSE(memory.slice(kEnd + 1, 0));
  uint8_t five[5] = {};
  CHECK_FALSE(memory.write(kEnd - 4, five));
  CHECK_FALSE(memory.read(kEnd - 4, five));
  CHECK(memory.host_base()[kSize - 4] == 0xde);  // the refused write wrote nothing
}

TEST_CASE("guest memory: addresses below the base are refused", "[guest_memory]") {
  GuestMemory memory = make_memory();
  CHECK_FALSE(memory.slice(kBase - 1, 1));
  CHECK_FALSE(memory.slice(kBase - 1, 2));
  CHECK_FALSE(memory.slice(0, 1));
  CHECK_FALSE(memory.slice(0, kBase + 1));
  uint8_t byte[1] = {0x55};
  CHECK_FALSE(memory.write(kBase - 1, byte));
  CHECK_FALSE(memory.read(kBase - 1, byte));
  CHECK(byte[0] == 0x55);
}

TEST_CASE("guest memory: huge and overflowing lengths are refused", "[guest_memory]") {
  GuestMemory memory = make_memory();
  CHECK_FALSE(memory.slice(kBase, UINT64_MAX));
  CHECK_FALSE(memory.slice(kBase + 1, UINT64_MAX));
  CHECK_FALSE(memory.slice(kEnd - 1, UINT64_MAX));
  // address + length wraps around to inside the range.
  CHECK_FALSE(memory.slice(kBase + 0x10, UINT64_MAX - 0x8));
  CHECK_FALSE(memory.slice(UINT64_MAX, 1));
  CHECK_FALSE(memory.slice(UINT64_MAX, UINT64_MAX));
  CHECK_FALSE(memory.slice(UINT64_MAX - 0x10, 0x20));
}

TEST_CASE("guest memory: moving transfers the mapping", "[guest_memory]") {
  GuestMemory first = make_memory();
  const uint8_t marker[1] = {0x42};
  REQUIRE(first.write(kBase + 8, marker));
  uint8_t* host = first.host_base();

  GuestMemory second(std::move(first));
  CHECK(second.host_base() == host);
  CHECK(second.size() == kSize);
  uint8_t byte[1] = {};
  REQUIRE(second.read(kBase + 8, byte));
  CHECK(byte[0] == 0x42);
  // The moved-from object no longer reaches the mapping.
  CHECK(first.host_base() == nullptr);  // NOLINT(bugprone-use-after-move)
  CHECK_FALSE(first.slice(kBase, 1));

  auto other = GuestMemory::allocate(0x4000'0000, 4096);
  REQUIRE(other);
  *other = std::move(second);
  CHECK(other->base() == kBase);
  CHECK(other->host_base() == host);
  REQUIRE(other->read(kBase + 8, byte));
  CHECK(byte[0] == 0x42);
  CHECK_FALSE(second.slice(kBase, 1));  // NOLINT(bugprone-use-after-move)
}

}  // namespace
}  // namespace petrel
