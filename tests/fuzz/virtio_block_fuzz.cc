// libFuzzer target for virtio-blk requests (devices/virtio_block.cc): the driver's
// requests, one chain at a time, as a hostile guest would shape them (any header, any split
// of header, data and status across buffers, any sector and length), against an image in a
// memfd (no file-system side effects: the device opens it through /proc/self/fd).
// Besides crashes and sanitizer reports, a finding is a status other than OK, IOERR or
// UNSUPP, a used length that is not the data written plus the status byte, or a request
// that succeeded with data other than the image's. See tests/fuzz/README.md.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "devices/virtio_block.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace petrel;
using namespace petrel::virtio;
using fuzz::Input;

constexpr uint64_t kRamSize = 256 * 1024;
constexpr uint16_t kQueueSize = 128;
constexpr uint64_t kDescTable = 0;
constexpr uint64_t kAvailRing = 0x1000;
constexpr uint64_t kUsedRing = 0x2000;
constexpr uint64_t kBuffers = 0x3000;
constexpr size_t kMaxBuffersPerChain = 8;
constexpr uint16_t kMaxBufferBytes = 8192;
constexpr size_t kIdBytes = 20;

constexpr uint32_t kRequestIn = 0;
constexpr uint32_t kRequestOut = 1;
constexpr uint32_t kRequestGetId = 8;
constexpr uint8_t kStatusOk = 0;
constexpr uint8_t kStatusUnsupported = 2;

const GuestMemory& ram() {
  static GuestMemory& memory = fuzz::guarded_ram(0, kRamSize);
  return memory;
}

int image_fd() {
  static const int fd = [] {
    const int made = memfd_create("virtio-blk-fuzz-image", MFD_CLOEXEC);
    if (made < 0) fuzz::finding("memfd_create failed");
    return made;
  }();
  return fd;
}

// The image's byte at `offset` before any request.
uint8_t pattern(uint64_t offset) { return static_cast<uint8_t>(offset * 7 + offset / 509 + 3); }

void reset_image(uint64_t bytes) {
  std::vector<uint8_t> contents(bytes);
  for (uint64_t i = 0; i < bytes; ++i) contents[i] = pattern(i);
  if (ftruncate(image_fd(), 0) != 0 || ftruncate(image_fd(), static_cast<off_t>(bytes)) != 0 ||
      pwrite(image_fd(), contents.data(), contents.size(), 0) != static_cast<ssize_t>(bytes)) {
    fuzz::finding("cannot write the image");
  }
}

std::vector<uint8_t> image_bytes(uint64_t offset, size_t length) {
  std::vector<uint8_t> out(length);
  if (pread(image_fd(), out.data(), length, static_cast<off_t>(offset)) !=
      static_cast<ssize_t>(length)) {
    fuzz::finding("cannot read back the image");
  }
  return out;
}

class Access final : public QueueAccess {
 public:
  explicit Access(Virtqueue& queue) : queue_(queue) {}
  std::optional<DescriptorChain> pop(size_t queue) override {
    PETREL_FUZZ_CHECK(queue == 0);
    if (failed) return std::nullopt;
    auto chain = queue_.pop();
    if (!chain) fuzz::finding("the harness built a malformed ring: " + chain.error().message);
    if (!*chain) return std::nullopt;
    return std::move(**chain);
  }
  void push_used(size_t queue, uint16_t head, uint32_t written) override {
    PETREL_FUZZ_CHECK(queue == 0);
    queue_.push_used(head, written);
    ++returned;
  }
  void device_failed(std::string_view) override { failed = true; }
  void interrupt_driver() override {}

  int returned = 0;
  bool failed = false;

 private:
  Virtqueue& queue_;
};

struct Buffer {
  uint64_t address;
  uint32_t length;
  bool writable;
};

// The request as the harness placed it: readable bytes (header and data) and writable spans.
struct Request {
  std::vector<Buffer> buffers;
  std::vector<uint8_t> readable;
  uint64_t writable_bytes = 0;
};

// The writable bytes of a request, in order, as the device left them.
std::vector<uint8_t> writable_contents(const Request& request) {
  std::vector<uint8_t> out;
  for (const Buffer& b : request.buffers) {
    if (!b.writable) continue;
    const auto span = ram().slice(b.address, b.length).value();
    out.insert(out.end(), span.begin(), span.end());
  }
  return out;
}

// What the device answered must make sense for what was asked.
void check_answer(const Request& request, uint32_t used_length, bool read_only,
                  const std::string& id) {
  std::vector<uint8_t> written = writable_contents(request);
  PETREL_FUZZ_CHECK(!written.empty());
  const uint8_t status = written.back();
  written.pop_back();
  PETREL_FUZZ_CHECK(status <= kStatusUnsupported);
  PETREL_FUZZ_CHECK(used_length >= 1 && used_length - 1 <= written.size());
  if (request.readable.size() < 16) {
    PETREL_FUZZ_CHECK(status != kStatusOk);
    return;
  }
  uint32_t type = 0;
  uint64_t sector = 0;
  std::memcpy(&type, request.readable.data(), 4);
  std::memcpy(&sector, request.readable.data() + 8, 8);
  if (status != kStatusOk) {
    PETREL_FUZZ_CHECK(used_length == 1);
    return;
  }
  switch (type) {
    case kRequestIn:
      PETREL_FUZZ_CHECK(used_length - 1 == written.size());
      PETREL_FUZZ_CHECK(written == image_bytes(sector * BlockDevice::kSectorBytes, written.size()));
      break;
    case kRequestOut: {
      PETREL_FUZZ_CHECK(!read_only);
      PETREL_FUZZ_CHECK(used_length == 1);
      const std::vector<uint8_t> data(request.readable.begin() + 16, request.readable.end());
      PETREL_FUZZ_CHECK(data == image_bytes(sector * BlockDevice::kSectorBytes, data.size()));
      break;
    }
    case kRequestGetId: {
      std::vector<uint8_t> expected(kIdBytes, 0);
      std::memcpy(expected.data(), id.data(), std::min(id.size(), kIdBytes));
      expected.resize(std::min(expected.size(), written.size()));
      PETREL_FUZZ_CHECK(used_length - 1 == expected.size());
      PETREL_FUZZ_CHECK(std::equal(expected.begin(), expected.end(), written.begin()));
      break;
    }
    default: PETREL_FUZZ_CHECK(used_length == 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

// Input: one byte of setup, then requests to the end. Setup: bit 0 read-only drive, bits
// 1-2 image size (0, 512 bytes, 8 KiB or 64 KiB), bit 3 plus 100 bytes (not a multiple of
// 512), bit 4 an empty serial (else one of exactly 20 bytes). A request: one byte, its
// buffer count (1 + the low 3 bits), then per buffer a flags byte (bit 0: device-writable)
// and a u16 length (at most 8 KiB), then the contents of the readable buffers, in order.
// Readable buffers go first in the chain, as the spec orders them.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const auto setup = in.take<uint8_t>();
  const bool read_only = (setup & 1) != 0;
  constexpr uint64_t kImageSizes[] = {0, 512, 8192, 65536};
  const uint64_t image_size = kImageSizes[(setup >> 1) & 3] + ((setup & 8) != 0 ? 100 : 0);
  const std::string id = (setup & 0x10) != 0 ? "" : "fuzz-disk-serial-20c";
  reset_image(image_size);

  virtio::DriveConfig drive;
  drive.path = "/proc/self/fd/" + std::to_string(image_fd());
  drive.read_only = read_only;
  drive.id = id;
  auto device = BlockDevice::open(drive, "vda");
  if (!device) fuzz::finding("cannot open the image: " + device.error().message);
  PETREL_FUZZ_CHECK((*device)->capacity_sectors() == image_size / BlockDevice::kSectorBytes);

  const GuestMemory& memory = ram();
  std::memset(memory.host_base(), 0, kRamSize);
  Virtqueue queue(kQueueSize);
  queue.desc_table = kDescTable;
  queue.avail_ring = kAvailRing;
  queue.used_ring = kUsedRing;
  queue.ready = true;
  if (!queue.activate(memory, kFeatureVersion1)) fuzz::finding("the harness's rings are refused");
  Access access(queue);

  uint16_t next_desc = 0;
  uint64_t next_buffer = kBuffers;
  for (uint16_t chains = 0; !in.empty() && !access.failed; ++chains) {
    const size_t count = (in.take<uint8_t>() & 7) + 1;
    Request request;
    for (size_t i = 0; i < count && i < kMaxBuffersPerChain; ++i) {
      const auto flags = in.take<uint8_t>();
      const auto length = static_cast<uint32_t>(in.take<uint16_t>() % (kMaxBufferBytes + 1));
      request.buffers.push_back({0, length, (flags & 1) != 0});
    }
    // Readable ones first, in input order (std::stable_partition warns of libstdc++ 12's
    // deprecated get_temporary_buffer with clang 19).
    std::vector<Buffer> ordered;
    for (const bool writable : {false, true}) {
      for (const Buffer& b : request.buffers) {
        if (b.writable == writable) ordered.push_back(b);
      }
    }
    request.buffers = std::move(ordered);
    if (next_desc + request.buffers.size() > kQueueSize) break;
    const uint16_t head = next_desc;
    bool room = true;
    for (size_t i = 0; i < request.buffers.size(); ++i) {
      Buffer& b = request.buffers[i];
      if (next_buffer + b.length > kRamSize) {
        room = false;
        break;
      }
      b.address = next_buffer;
      next_buffer += b.length;
      if (b.writable) {
        request.writable_bytes += b.length;
        // Stale bytes from a previous life of the buffer, which a read must overwrite.
        std::memset(memory.host_base() + b.address, 0xa5, b.length);
      } else {
        const auto contents = in.bytes(b.length);
        std::memcpy(memory.host_base() + b.address, contents.data(), contents.size());
        request.readable.insert(request.readable.end(), memory.host_base() + b.address,
                                memory.host_base() + b.address + b.length);
      }
      const uint16_t flags =
          (b.writable ? kDescWrite : 0) | (i + 1 < request.buffers.size() ? kDescNext : 0);
      const uint16_t next = static_cast<uint16_t>(next_desc + 1);
      uint8_t* desc = memory.host_base() + kDescTable + 16ull * next_desc;
      std::memcpy(desc, &b.address, 8);
      std::memcpy(desc + 8, &b.length, 4);
      std::memcpy(desc + 12, &flags, 2);
      std::memcpy(desc + 14, &next, 2);
      ++next_desc;
    }
    if (!room) break;

    // Offer the chain and let the device serve it.
    uint8_t* avail = memory.host_base() + kAvailRing;
    std::memcpy(avail + 4 + 2ull * chains, &head, 2);
    const uint16_t avail_idx = chains + 1;
    __atomic_store_n(reinterpret_cast<uint16_t*>(avail + 2), avail_idx, __ATOMIC_RELEASE);
    const int returned_before = access.returned;
    (*device)->serve(0, access);

    // Zero-length buffers are dropped from chains: only a chain without a writable byte
    // has no room for a status, and only that one fails the device.
    if (request.writable_bytes == 0) {
      PETREL_FUZZ_CHECK(access.failed && access.returned == returned_before);
      break;
    }
    PETREL_FUZZ_CHECK(!access.failed && access.returned == returned_before + 1);
    const uint8_t* used = memory.host_base() + kUsedRing;
    uint32_t used_id = 0;
    uint32_t used_length = 0;
    std::memcpy(&used_id, used + 4 + 8ull * chains, 4);
    std::memcpy(&used_length, used + 8 + 8ull * chains, 4);
    PETREL_FUZZ_CHECK(used_id == head);
    check_answer(request, used_length, read_only, id);
  }
  return 0;
}
