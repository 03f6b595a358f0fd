#include "devices/virtio_block.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "tests/unit/scratch_dir.h"
#include "tests/unit/virtio_test_helpers.h"

namespace petrel::virtio {
namespace {

using namespace petrel::virtio::testing;
using Catch::Matchers::Contains;

constexpr uint32_t kIn = 0;
constexpr uint32_t kOut = 1;
constexpr uint32_t kFlush = 4;
constexpr uint32_t kGetId = 8;
constexpr uint32_t kDiscard = 11;
constexpr uint8_t kOk = 0;
constexpr uint8_t kIoError = 1;
constexpr uint8_t kUnsupported = 2;

constexpr uint64_t kFeatureReadOnly = 1ull << 5;
constexpr uint64_t kFeatureDiscard = 1ull << 13;

constexpr uint64_t kImageBytes = 64 * 1024;  // 128 sectors

// The byte at `offset` of a fresh test image.
uint8_t pattern(uint64_t offset) { return static_cast<uint8_t>(offset * 7 + offset / 256 + 3); }

std::string make_image(uint64_t bytes) {
  std::string image(bytes, '\0');
  for (uint64_t i = 0; i < bytes; ++i) image[i] = static_cast<char>(pattern(i));
  return image;
}

std::vector<uint8_t> header(uint32_t type, uint64_t sector) {
  std::vector<uint8_t> out(16, 0);
  std::memcpy(out.data(), &type, 4);
  std::memcpy(out.data() + 8, &sector, 8);
  return out;
}

std::vector<uint8_t> discard_segment(uint64_t sector, uint32_t count, uint32_t flags = 0) {
  std::vector<uint8_t> out(16, 0);
  std::memcpy(out.data(), &sector, 8);
  std::memcpy(out.data() + 8, &count, 4);
  std::memcpy(out.data() + 12, &flags, 4);
  return out;
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

virtio::DriveConfig drive(const std::filesystem::path& path, bool read_only = false,
                          std::string id = "") {
  virtio::DriveConfig d;
  d.path = path;
  d.read_only = read_only;
  d.id = std::move(id);
  return d;
}

// A block device over a scratch image, served straight from one virtqueue.
struct BlockRig {
  explicit BlockRig(bool read_only = false, std::string id = "petrel-test-disk",
                    uint64_t image_bytes = kImageBytes) {
    path = dir.write("disk.img", make_image(image_bytes));
    auto opened = BlockDevice::open(drive(path, read_only, std::move(id)), "vda");
    INFO((opened ? std::string() : opened.error().message));
    REQUIRE(opened);
    device = std::move(*opened);
    ring.configure(queue);
    REQUIRE(device->queue_count() == 1);
    REQUIRE(queue.activate(ram, kFeatureVersion1));
  }

  struct Response {
    uint8_t status = 0xff;
    UsedElement used;
    DriverQueue::Chain chain;
    // The guest's copy of buffer `i` after the request.
    std::vector<uint8_t> buffer(size_t i, size_t length) const {
      return ring->read(chain.addresses[i], length);
    }
    const DriverQueue* ring = nullptr;
  };

  // Makes `buffers` available, lets the device serve them, and returns the status byte
  // (the last byte of the last buffer) and the used element.
  Response submit(const std::vector<Buffer>& buffers) {
    Response r;
    r.ring = &ring;
    r.chain = ring.add(buffers);
    DirectAccess access(queue);
    device->serve(0, access);
    INFO(access.error.value_or(""));
    REQUIRE_FALSE(access.failed());
    REQUIRE(access.returned == 1);
    r.used = ring.last_used();
    CHECK(r.used.id == r.chain.head);
    const Buffer& last = buffers.back();
    REQUIRE(last.writable);
    r.status = ring.read(r.chain.addresses.back() + last.length - 1, 1)[0];
    return r;
  }

  uint64_t config(uint64_t offset, size_t width) const {
    std::vector<uint8_t> bytes(width, 0xee);
    device->read_config(offset, bytes);
    return load_le_any(bytes);
  }

  std::string file() const { return read_file(path); }

  petrel::testing::ScratchDir dir;
  std::filesystem::path path;
  GuardedMemory ram;
  DriverQueue ring{ram, 256};
  Virtqueue queue{256};
  std::unique_ptr<BlockDevice> device;
};

TEST_CASE("virtio-blk: identity, features and configuration", "[virtio_block]") {
  BlockRig rig;
  CHECK(rig.device->device_type() == 2);
  CHECK(rig.device->name() == "virtio-blk vda");
  CHECK(rig.device->capacity_sectors() == 128);
  CHECK((rig.device->features() & kFeatureReadOnly) == 0);
  CHECK((rig.device->features() & (1ull << 9)) != 0);  // FLUSH
  CHECK(rig.config(0, 8) == 128);                      // capacity
  CHECK(rig.config(0, 4) == 128);
  CHECK(rig.config(4, 4) == 0);
  CHECK(rig.config(12, 4) == 254);  // seg_max
  CHECK(rig.config(20, 4) == 512);  // blk_size
  CHECK(rig.config(34, 2) == 1);    // num_queues
  CHECK(rig.config(60, 4) == 0);    // past the structure
  CHECK(rig.config(0x1000, 8) == 0);
}

TEST_CASE("virtio-blk: capacity through the transport's configuration space",
          "[virtio_block][virtio_mmio]") {
  petrel::testing::ScratchDir dir;
  const auto path = dir / "big.img";
  { std::ofstream(path, std::ios::binary); }
  const uint64_t sectors = 0x1'2345'6789;  // about 2.3 TiB, sparse
  std::error_code error;
  std::filesystem::resize_file(path, sectors * 512 + 100, error);  // and a partial sector
  if (error) {
    WARN("cannot make a sparse file of 2.3 TiB here: " << error.message());
    return;
  }
  auto device = BlockDevice::open(drive(path), "vdb");
  REQUIRE(device);
  CHECK((*device)->capacity_sectors() == sectors);
  MmioRig rig(std::move(*device));
  CHECK(rig.read(reg::kDeviceId) == 2);
  CHECK(rig.read(reg::kConfig, 8) == sectors);
  CHECK(rig.read(reg::kConfig, 4) == 0x2345'6789);
  CHECK(rig.read(reg::kConfig + 4, 4) == 1);
  CHECK(rig.read(reg::kConfig + 1, 1) == 0x67);
  CHECK(rig.read(reg::kConfig + 3, 2) == 0x0123);
  CHECK(rig.read(reg::kConfig + 2, 4) == 0x0001'2345);
  CHECK(rig.read(reg::kConfig + 20, 4) == 512);
}

TEST_CASE("virtio-blk: a size that is not a multiple of 512 is rounded down", "[virtio_block]") {
  BlockRig rig(false, "", 1000);
  CHECK(rig.device->capacity_sectors() == 1);
  auto r = rig.submit({readable(header(kIn, 1)), writable(512), writable(1)});
  CHECK(r.status == kIoError);
}

TEST_CASE("virtio-blk: reads return the image's bytes", "[virtio_block]") {
  BlockRig rig;
  const std::string image = rig.file();

  SECTION("one data buffer") {
    auto r = rig.submit({readable(header(kIn, 2)), writable(1024), writable(1)});
    CHECK(r.status == kOk);
    CHECK(r.used.len == 1025);
    CHECK(text_of(r.buffer(1, 1024)) == image.substr(1024, 1024));
  }
  SECTION("scattered over buffers of odd sizes") {
    auto r = rig.submit(
        {readable(header(kIn, 127)), writable(100), writable(1), writable(411), writable(1)});
    CHECK(r.status == kOk);
    CHECK(r.used.len == 513);
    const std::string last = image.substr(127 * 512);
    CHECK(text_of(r.buffer(1, 100)) == last.substr(0, 100));
    CHECK(text_of(r.buffer(2, 1)) == last.substr(100, 1));
    CHECK(text_of(r.buffer(3, 411)) == last.substr(101, 411));
  }
  SECTION("data and status in one buffer") {
    auto r = rig.submit({readable(header(kIn, 0)), writable(513)});
    CHECK(r.status == kOk);
    CHECK(r.used.len == 513);
    CHECK(text_of(r.buffer(1, 512)) == image.substr(0, 512));
  }
  SECTION("through an indirect table") {
    const auto sent = rig.ring.add_indirect({readable(header(kIn, 5)), writable(512), writable(1)});
    DirectAccess access(rig.queue);
    rig.device->serve(0, access);
    REQUIRE(access.returned == 1);
    CHECK(rig.ring.last_used().id == sent.head);
    CHECK(rig.ring.read(sent.addresses[2], 1)[0] == kOk);
    CHECK(text_of(rig.ring.read(sent.addresses[1], 512)) == image.substr(5 * 512, 512));
  }
  CHECK(rig.file() == image);
}

TEST_CASE("virtio-blk: writes reach the file", "[virtio_block]") {
  BlockRig rig;
  std::string expected = rig.file();
  const std::string data(512, 'W');

  SECTION("one data buffer") {
    auto r = rig.submit({readable(header(kOut, 4)), readable(data), writable(1)});
    CHECK(r.status == kOk);
    CHECK(r.used.len == 1);  // nothing written into the guest's buffers but the status
    expected.replace(4 * 512, 512, data);
  }
  SECTION("header and data in one buffer, data over two") {
    const std::vector<uint8_t> first = concat(header(kOut, 127), std::vector<uint8_t>(300, 'x'));
    auto r = rig.submit({readable(first), readable(std::string(212, 'y')), writable(1)});
    CHECK(r.status == kOk);
    expected.replace(127 * 512, 300, std::string(300, 'x'));
    expected.replace(127 * 512 + 300, 212, std::string(212, 'y'));
  }
  SECTION("a write that ends exactly at the end of the disk") {
    auto r =
        rig.submit({readable(header(kOut, 126)), readable(std::string(1024, 'E')), writable(1)});
    CHECK(r.status == kOk);
    expected.replace(126 * 512, 1024, std::string(1024, 'E'));
  }
  CHECK(rig.file() == expected);
  CHECK(rig.file().size() == kImageBytes);

  // And a read sees it.
  auto r = rig.submit({readable(header(kIn, 0)), writable(kImageBytes), writable(1)});
  CHECK(r.status == kOk);
  CHECK(text_of(r.buffer(1, kImageBytes)) == expected);
}

TEST_CASE("virtio-blk: requests past the end fail and change nothing", "[virtio_block]") {
  BlockRig rig;
  const std::string image = rig.file();
  for (uint64_t sector : {uint64_t{128}, uint64_t{127}, uint64_t{1} << 55, uint64_t{1} << 63,
                          UINT64_MAX / 512 + 1, UINT64_MAX}) {
    INFO("sector " << sector);
    auto out =
        rig.submit({readable(header(kOut, sector)), readable(std::string(1024, 'Z')), writable(1)});
    CHECK(out.status == kIoError);
    auto in = rig.submit({readable(header(kIn, sector)), writable(1024, 0x55), writable(1)});
    CHECK(in.status == kIoError);
    CHECK(in.used.len == 1);
    CHECK(in.buffer(1, 1024) == std::vector<uint8_t>(1024, 0x55));
  }
  CHECK(rig.file() == image);
}

TEST_CASE("virtio-blk: a read-only image", "[virtio_block]") {
  BlockRig rig(true);
  const std::string image = rig.file();
  CHECK((rig.device->features() & kFeatureReadOnly) != 0);
  CHECK((rig.device->features() & kFeatureDiscard) == 0);

  auto out = rig.submit({readable(header(kOut, 0)), readable(std::string(512, 'W')), writable(1)});
  CHECK(out.status == kIoError);
  CHECK(rig.file() == image);

  auto discard =
      rig.submit({readable(header(kDiscard, 0)), readable(discard_segment(0, 8)), writable(1)});
  CHECK(discard.status == kUnsupported);
  CHECK(rig.file() == image);

  auto in = rig.submit({readable(header(kIn, 3)), writable(512), writable(1)});
  CHECK(in.status == kOk);
  CHECK(text_of(in.buffer(1, 512)) == image.substr(3 * 512, 512));

  auto flush = rig.submit({readable(header(kFlush, 0)), writable(1)});
  CHECK(flush.status == kOk);
}

TEST_CASE("virtio-blk: flush, get-id and unknown requests", "[virtio_block]") {
  SECTION("flush") {
    BlockRig rig;
    auto r = rig.submit({readable(header(kFlush, 0)), writable(1)});
    CHECK(r.status == kOk);
    CHECK(r.used.len == 1);
  }
  SECTION("get-id, shorter than 20 bytes: NUL padded") {
    BlockRig rig(false, "petrel-test-disk");
    auto r = rig.submit({readable(header(kGetId, 0)), writable(20), writable(1)});
    CHECK(r.status == kOk);
    CHECK(r.used.len == 21);
    std::string expected = "petrel-test-disk";
    expected.resize(20, '\0');
    CHECK(text_of(r.buffer(1, 20)) == expected);
  }
  SECTION("get-id of exactly 20 bytes: no NUL") {
    BlockRig rig(false, "0123456789abcdefghij");
    auto r = rig.submit({readable(header(kGetId, 0)), writable(20), writable(1)});
    CHECK(r.status == kOk);
    CHECK(text_of(r.buffer(1, 20)) == "0123456789abcdefghij");
  }
  SECTION("get-id into a short buffer, with the status in it") {
    BlockRig rig(false, "petrel-test-disk");
    auto r = rig.submit({readable(header(kGetId, 0)), writable(7)});
    CHECK(r.status == kOk);
    CHECK(r.used.len == 7);
    CHECK(text_of(r.buffer(1, 6)) == "petrel");
  }
  SECTION("get-id without an id") {
    BlockRig rig(false, "");
    auto r = rig.submit({readable(header(kGetId, 0)), writable(20, 0x77), writable(1)});
    CHECK(r.status == kOk);
    CHECK(r.buffer(1, 20) == std::vector<uint8_t>(20, 0));
  }
  SECTION("unknown types") {
    BlockRig rig;
    const std::string image = rig.file();
    for (uint32_t type : {2u, 3u, 5u, 7u, 13u, 99u, 0x8000'0000u, 0xffff'ffffu}) {
      INFO("type " << type);
      auto r = rig.submit({readable(header(type, 0)), readable(std::string(512, 'U')),
                           writable(16, 0x66), writable(1)});
      CHECK(r.status == kUnsupported);
      CHECK(r.used.len == 1);
      CHECK(r.buffer(2, 16) == std::vector<uint8_t>(16, 0x66));
    }
    CHECK(rig.file() == image);
  }
  SECTION("a header too short") {
    BlockRig rig;
    auto r = rig.submit({readable(std::vector<uint8_t>(8, 0)), writable(512), writable(1)});
    CHECK(r.status == kIoError);
    auto none = rig.submit({writable(512), writable(1)});
    CHECK(none.status == kIoError);
  }
}

TEST_CASE("virtio-blk: a request without a status byte breaks the device", "[virtio_block]") {
  BlockRig rig;
  rig.ring.add({readable(header(kIn, 0))});
  DirectAccess access(rig.queue);
  rig.device->serve(0, access);
  REQUIRE(access.failed());
  CHECK_THAT(*access.error, Contains("no status byte"));
  CHECK(access.returned == 0);
}

TEST_CASE("virtio-blk: many requests in one notification", "[virtio_block]") {
  BlockRig rig;
  const std::string image = rig.file();
  // 80 requests of 3 descriptors fit in the 256 of the queue.
  std::vector<DriverQueue::Chain> chains;
  for (uint64_t sector = 0; sector < 80; ++sector) {
    chains.push_back(rig.ring.add({readable(header(kIn, sector)), writable(512), writable(1)}));
  }
  DirectAccess access(rig.queue);
  rig.device->serve(0, access);
  REQUIRE(access.returned == 80);
  for (uint64_t sector = 0; sector < 80; ++sector) {
    INFO("sector " << sector);
    CHECK(rig.ring.used_element(static_cast<uint16_t>(sector)).id == chains[sector].head);
    CHECK(rig.ring.read(chains[sector].addresses[2], 1)[0] == kOk);
    CHECK(text_of(rig.ring.read(chains[sector].addresses[1], 512)) ==
          image.substr(sector * 512, 512));
  }
}

TEST_CASE("virtio-blk: discard punches holes", "[virtio_block]") {
  constexpr uint64_t kBytes = 1 << 20;
  BlockRig rig(false, "", kBytes);
  {
    // Make sure the image's blocks are allocated before they are counted.
    const int fd = ::open(rig.path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(::fsync(fd) == 0);
    ::close(fd);
  }
  const std::string image = rig.file();
  if ((rig.device->features() & kFeatureDiscard) == 0) {
    auto r =
        rig.submit({readable(header(kDiscard, 0)), readable(discard_segment(0, 8)), writable(1)});
    CHECK(r.status == kUnsupported);
    WARN("this file system cannot punch holes; discard is not offered");
    return;
  }
  struct stat before {};
  REQUIRE(::stat(rig.path.c_str(), &before) == 0);

  SECTION("one segment") {
    auto r = rig.submit(
        {readable(header(kDiscard, 0)), readable(discard_segment(0, 1024)), writable(1)});
    CHECK(r.status == kOk);
    const std::string after = rig.file();
    REQUIRE(after.size() == kBytes);  // KEEP_SIZE
    CHECK(after.substr(0, 512 * 1024) == std::string(512 * 1024, '\0'));
    CHECK(after.substr(512 * 1024) == image.substr(512 * 1024));
    struct stat punched {};
    REQUIRE(::stat(rig.path.c_str(), &punched) == 0);
    INFO("blocks before " << before.st_blocks << ", after " << punched.st_blocks);
    CHECK(punched.st_blocks < before.st_blocks);
  }
  SECTION("two segments, one request") {
    auto r = rig.submit({readable(header(kDiscard, 0)),
                         readable(concat(discard_segment(8, 8), discard_segment(2040, 8))),
                         writable(1)});
    CHECK(r.status == kOk);
    const std::string after = rig.file();
    CHECK(after.substr(0, 4096) == image.substr(0, 4096));
    CHECK(after.substr(4096, 4096) == std::string(4096, '\0'));
    CHECK(after.substr(8192, kBytes - 8192 - 4096) == image.substr(8192, kBytes - 8192 - 4096));
    CHECK(after.substr(kBytes - 4096) == std::string(4096, '\0'));
  }
  SECTION("malformed or out of range") {
    for (auto segments :
         {std::vector<uint8_t>{}, std::vector<uint8_t>(8, 0), std::vector<uint8_t>(24, 0),
          discard_segment(2048, 1), discard_segment(2047, 2), discard_segment(UINT64_MAX, 1),
          discard_segment(1, UINT32_MAX)}) {
      INFO("segment bytes " << segments.size());
      std::vector<Buffer> buffers = {readable(header(kDiscard, 0))};
      if (!segments.empty()) buffers.push_back(readable(segments));
      buffers.push_back(writable(1));
      CHECK(rig.submit(buffers).status == kIoError);
    }
    // More segments than the device said it takes (max_discard_seg in the config).
    const uint64_t max_segments = rig.config(40, 4);
    std::vector<uint8_t> many;
    for (uint64_t i = 0; i <= max_segments; ++i) many = concat(many, discard_segment(i * 8, 8));
    CHECK(rig.submit({readable(header(kDiscard, 0)), readable(many), writable(1)}).status ==
          kIoError);
    CHECK(rig.file() == image);
  }
}

TEST_CASE("virtio-blk: a writable image is locked", "[virtio_block]") {
  petrel::testing::ScratchDir dir;
  const auto path = dir.write("disk.img", make_image(kImageBytes));

  auto first = BlockDevice::open(drive(path), "vda");
  REQUIRE(first);

  auto second = BlockDevice::open(drive(path), "vdb");
  REQUIRE_FALSE(second);
  CHECK(exit_code_name(second.error().code) ==
        exit_code_name(ExitCode::kDeviceInitializationFailure));
  CHECK_THAT(second.error().message, Contains("in use by another process"));
  CHECK_THAT(second.error().message, Contains(path.string()));

  // Not even for reading: a reader would see the writer's blocks change under it.
  auto reader = BlockDevice::open(drive(path, true), "vdc");
  REQUIRE_FALSE(reader);
  CHECK(exit_code_name(reader.error().code) ==
        exit_code_name(ExitCode::kDeviceInitializationFailure));
  CHECK_THAT(reader.error().message, Contains("in use by another process"));

  // The lock goes with the device.
  *first = nullptr;
  auto again = BlockDevice::open(drive(path), "vda");
  CHECK(again);
}

TEST_CASE("virtio-blk: read-only images are shared", "[virtio_block]") {
  petrel::testing::ScratchDir dir;
  const auto path = dir.write("disk.img", make_image(kImageBytes));
  auto a = BlockDevice::open(drive(path, true), "vda");
  auto b = BlockDevice::open(drive(path, true), "vdb");
  REQUIRE(a);
  REQUIRE(b);
  // But no writer while they are open.
  auto writer = BlockDevice::open(drive(path), "vdc");
  REQUIRE_FALSE(writer);
  CHECK(exit_code_name(writer.error().code) ==
        exit_code_name(ExitCode::kDeviceInitializationFailure));
  CHECK_THAT(writer.error().message, Contains("in use by another process"));
}

TEST_CASE("virtio-blk: images that cannot be opened", "[virtio_block]") {
  petrel::testing::ScratchDir dir;
  auto missing = BlockDevice::open(drive(dir / "missing.img"), "vda");
  REQUIRE_FALSE(missing);
  CHECK(exit_code_name(missing.error().code) ==
        exit_code_name(ExitCode::kDeviceInitializationFailure));
  CHECK_THAT(missing.error().message, Contains("missing.img"));

  // A directory opens read-only, but is no disk.
  auto folder = BlockDevice::open(drive(dir.dir(), true), "vda");
  REQUIRE_FALSE(folder);
  CHECK(exit_code_name(folder.error().code) ==
        exit_code_name(ExitCode::kDeviceInitializationFailure));
  CHECK_THAT(folder.error().message, Contains("not a regular file or block device"));
}

TEST_CASE("virtio-blk: served through the transport", "[virtio_block][virtio_mmio]") {
  petrel::testing::ScratchDir dir;
  const auto path = dir.write("disk.img", make_image(kImageBytes));
  auto device = BlockDevice::open(drive(path), "vda");
  REQUIRE(device);
  MmioRig rig(std::move(*device));
  DriverQueue ring(rig.ram, 128);
  REQUIRE(rig.start(ring, kFeatureVersion1 | (1ull << 9) | kFeatureIndirectDesc));
  const auto out =
      ring.add({readable(header(kOut, 9)), readable(std::string(512, 'T')), writable(1, 0xff)});
  const auto in = ring.add({readable(header(kIn, 9)), writable(512), writable(1, 0xff)});
  rig.transport->serve_queue(0);
  REQUIRE(ring.used_idx() == 2);
  CHECK(ring.used_element(0).id == out.head);
  CHECK(ring.used_element(1).id == in.head);
  CHECK(ring.used_element(1).len == 513);
  CHECK(ring.read(out.addresses[2], 1)[0] == kOk);
  CHECK(ring.read(in.addresses[2], 1)[0] == kOk);
  CHECK(text_of(ring.read(in.addresses[1], 512)) == std::string(512, 'T'));
  CHECK(read_file(path).substr(9 * 512, 512) == std::string(512, 'T'));
  CHECK(*rig.interrupt_count == 1);
  CHECK(rig.read(reg::kInterruptStatus) == 1);

  // A request with nowhere to put its status: the device needs a reset.
  ring.add({readable(header(kIn, 0))});
  rig.transport->serve_queue(0);
  CHECK((rig.status() & kStatusNeedsReset) != 0);
  CHECK(ring.used_idx() == 2);
}

}  // namespace
}  // namespace petrel::virtio

namespace petrel::virtio {
namespace {

// A driver can chain buffers that add up to 4 GiB or more, the same guest pages twice; the
// used element's 32-bit length cannot report that many bytes plus the status byte. Before
// the fix, a read of exactly 4 GiB - 1 + 1 bytes wrapped the used length to 0.
TEST_CASE("virtio-blk: a request longer than a used length can report is an I/O error",
          "[virtio_block]") {
  constexpr uint64_t kBigRam = (2ull << 30) + (1 << 20);  // 2 GiB of data + 1 MiB for the rings
  GuardedMemory ram(kRamBase, kBigRam);
  DriverQueue ring(ram, 16);
  Virtqueue queue(16);
  petrel::testing::ScratchDir dir;
  const std::filesystem::path path = dir.write("disk.img", "");
  REQUIRE(truncate(path.c_str(), 8ll << 30) == 0);  // sparse: nothing is read anyway
  auto device = BlockDevice::open(drive(path), "vda");
  REQUIRE(device);
  ring.configure(queue);
  REQUIRE(queue.activate(ram, kFeatureVersion1));

  const uint64_t data = kRamBase + (1 << 20);
  const uint64_t header_at = kRamBase + kDataOffset;
  const uint64_t status_at = header_at + 64;
  ring.write(header_at, header(kIn, 0));
  ring.put<uint8_t>(status_at, 0xff);
  // Header, two 2 GiB - 1 buffers over the same pages and one more byte: 4 GiB - 1 of
  // data, which with the status byte is one more than 32 bits hold.
  const uint32_t half = (2u << 30) - 1;
  ring.set_desc(0, header_at, 16, kDescNext, 1);
  ring.set_desc(1, data, half, kDescWrite | kDescNext, 2);
  ring.set_desc(2, data, half, kDescWrite | kDescNext, 3);
  ring.set_desc(3, data, 1, kDescWrite | kDescNext, 4);
  ring.set_desc(4, status_at, 1, kDescWrite);
  ring.publish(0);

  DirectAccess access(queue);
  (*device)->serve(0, access);
  REQUIRE_FALSE(access.failed());
  REQUIRE(access.returned == 1);
  CHECK(ring.last_used().len == 1);  // the status byte alone
  CHECK(ring.read(status_at, 1)[0] == kIoError);
}

}  // namespace
}  // namespace petrel::virtio
