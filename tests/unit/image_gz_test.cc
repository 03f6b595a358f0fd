// Gzip-compressed kernels (Image.gz): found by content, read through the decompressed
// stream, loaded into guest RAM within the planned room; broken ones are refused.
#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "arch/arm64/image.h"
#include "core/gunzip.h"
#include "scratch_dir.h"

namespace petrel::arm64 {
namespace {

using petrel::testing::ScratchDir;

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kRamSize = 4 << 20;
constexpr uint64_t kImageSize = 0x8'0000;  // 512 KiB, text and bss

// An Image of `file_size` bytes whose header claims `image_size`; the text compresses
// somewhat, as real code does.
std::vector<uint8_t> make_image(size_t file_size, uint64_t image_size = kImageSize) {
  std::vector<uint8_t> bytes(file_size);
  uint32_t state = 12345;
  for (size_t i = 0; i < bytes.size(); ++i) {
    state = state * 1103515245 + 12345;
    bytes[i] = static_cast<uint8_t>((state >> 16) % 16 + (i / 4096) % 8);
  }
  ImageHeader header{};
  header.code0 = 0x91005a4d;
  header.text_offset = 0;
  header.image_size = image_size;
  header.flags = 0xa;
  header.magic = kImageMagic;
  std::memcpy(bytes.data(), &header, sizeof(header));
  return bytes;
}

// `gzip -9`: deflate with a gzip wrapper (windowBits 16 + 15).
std::vector<uint8_t> gzip(const std::vector<uint8_t>& data) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<uint8_t> out(deflateBound(&stream, data.size()));
  stream.next_in = const_cast<uint8_t*>(data.data());
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::string_view text(const std::vector<uint8_t>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

struct Rig {
  ScratchDir scratch;
  GuestMemory memory = GuestMemory::allocate(kRamBase, kRamSize).value();
  std::filesystem::path write(const std::vector<uint8_t>& bytes) {
    return scratch.write("Image.gz", text(bytes));
  }
};

std::string message(const auto& result) {
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code == ExitCode::kKernelLoadFailure);
  return result.error().message;
}

TEST_CASE("image.gz: told by its content, its header read through the stream", "[image][gzip]") {
  Rig rig;
  const auto image = make_image(300'000);
  const auto gz = gzip(image);
  CHECK(is_gzip(gz));
  CHECK_FALSE(is_gzip(image));
  const auto path = rig.scratch.write("kernel", text(gz));  // no .gz in the name

  auto header = inspect_kernel(path);
  REQUIRE(header);
  CHECK(header->compressed);
  CHECK(header->image_size == kImageSize);
  CHECK(header->text_offset == 0);
  CHECK(header->file_size == 0);  // not decompressed whole

  auto whole = inspect_kernel(path, KernelCheck::kWhole);
  REQUIRE(whole);
  CHECK(whole->compressed);
  CHECK(whole->file_size == image.size());

  auto raw = inspect_kernel(rig.scratch.write("Image", text(image)), KernelCheck::kWhole);
  REQUIRE(raw);
  CHECK_FALSE(raw->compressed);
  CHECK(raw->file_size == image.size());
}

TEST_CASE("image.gz: decompressed into guest RAM at the load address", "[image][gzip]") {
  Rig rig;
  const auto image = make_image(300'000);
  const auto path = rig.write(gzip(image));
  const uint64_t address = kRamBase + 0x20'0000;

  auto loaded = load_kernel(path, rig.memory, address, kImageSize);
  REQUIRE(loaded);
  CHECK(*loaded == image.size());
  std::vector<uint8_t> back(image.size());
  REQUIRE(rig.memory.read(address, back));
  CHECK(back == image);
  uint8_t after[1] = {0xff};
  REQUIRE(rig.memory.read(address + image.size(), after));
  CHECK(after[0] == 0);

  // Exactly the decompressed size is room enough; a raw Image goes through load_kernel too.
  CHECK(load_kernel(path, rig.memory, address, image.size()));
  const auto raw = rig.scratch.write("Image", text(image));
  CHECK(load_kernel(raw, rig.memory, address, kImageSize).value_or(0) == image.size());
}

TEST_CASE("image.gz: a truncated stream is refused, by check and by load", "[image][gzip]") {
  Rig rig;
  const auto gz = gzip(make_image(300'000));
  // Cut in the middle, and cut just before the 8-byte CRC and size trailer.
  const size_t keep = GENERATE_COPY(gz.size() / 2, gz.size() - 8, gz.size() - 1);
  const auto path = rig.write(std::vector<uint8_t>(gz.begin(), gz.begin() + keep));

  CHECK(inspect_kernel(path));  // the header is intact; `run` finds the rest at load
  const std::string whole = message(inspect_kernel(path, KernelCheck::kWhole));
  CHECK_THAT(whole, Catch::StartsWith(path.string() + ": truncated gzip stream"));
  CHECK(whole.find('\n') == std::string::npos);
  CHECK_THAT(message(load_kernel(path, rig.memory, kRamBase, kImageSize)),
             Catch::StartsWith(path.string() + ": truncated gzip stream"));

  // Too short for even the decompressed header.
  const auto stub = rig.scratch.write("stub.gz", text({gz.begin(), gz.begin() + 12}));
  CHECK_THAT(message(inspect_kernel(stub)), Catch::Contains("truncated gzip stream"));
}

TEST_CASE("image.gz: corrupt data or a wrong CRC is refused", "[image][gzip]") {
  Rig rig;
  auto gz = gzip(make_image(300'000));
  SECTION("a flipped byte in the deflate data") { gz[gz.size() / 2] ^= 0x55; }
  SECTION("a wrong CRC in the trailer") { gz[gz.size() - 8] ^= 0x01; }
  SECTION("a wrong size in the trailer") { gz[gz.size() - 4] ^= 0x01; }
  const auto path = rig.write(gz);
  const std::string whole = message(inspect_kernel(path, KernelCheck::kWhole));
  CHECK_THAT(whole, Catch::StartsWith(path.string() + ": corrupt gzip data"));
  CHECK_THAT(message(load_kernel(path, rig.memory, kRamBase, kImageSize)),
             Catch::StartsWith(path.string() + ": corrupt gzip data"));
}

TEST_CASE("image.gz: a stream larger than image_size is refused", "[image][gzip]") {
  Rig rig;
  // The header claims 128 KiB but 300 KB follow: loading it would overrun the plan.
  const auto path = rig.write(gzip(make_image(300'000, 0x2'0000)));
  CHECK(inspect_kernel(path));
  CHECK_THAT(message(inspect_kernel(path, KernelCheck::kWhole)),
             Catch::Contains("decompresses to more than the 131072 bytes of its header's "
                             "image_size"));
  CHECK_THAT(message(load_kernel(path, rig.memory, kRamBase, 0x2'0000)),
             Catch::Contains("decompresses to more than the 131072 bytes planned for it"));
  // Nothing was written past the planned room.
  uint8_t after[16] = {};
  REQUIRE(rig.memory.read(kRamBase + 0x2'0000, after));
  CHECK(std::all_of(std::begin(after), std::end(after), [](uint8_t b) { return b == 0; }));
}

TEST_CASE("image.gz: zero padding after the stream is fine, other data is not", "[image][gzip]") {
  Rig rig;
  auto gz = gzip(make_image(100'000));
  const size_t end = gz.size();
  gz.resize(end + 4096, 0);
  CHECK(inspect_kernel(rig.write(gz), KernelCheck::kWhole));
  gz[end + 100] = 1;
  CHECK_THAT(message(inspect_kernel(rig.write(gz), KernelCheck::kWhole)),
             Catch::Contains("data after the end of the gzip stream"));
}

TEST_CASE("image.gz: what decompresses must be an arm64 Image with image_size", "[image][gzip]") {
  Rig rig;
  std::vector<uint8_t> elf(4096, 0);
  std::memcpy(elf.data(),
              "\x7f"
              "ELF",
              4);
  CHECK_THAT(message(inspect_kernel(rig.write(gzip(elf)))),
             Catch::Contains("gzip-compressed, but not an arm64 Image"));
  CHECK_THAT(message(inspect_kernel(rig.write(gzip(make_image(100'000, 0))))),
             Catch::Contains("without image_size"));
}

}  // namespace
}  // namespace petrel::arm64
