#include "arch/arm64/image.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace petrel::arm64 {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kRamSize = 4 << 20;

// A header as `make Image` writes it, followed by `file_size - 64` bytes of "text".
std::vector<uint8_t> make_image(uint64_t file_size, uint64_t text_offset, uint64_t image_size,
                                uint64_t flags = 0xa, uint32_t magic = kImageMagic) {
  ImageHeader header{};
  header.code0 = 0x91005a4d;  // "MZ" + add x13, x18, #0x16
  header.code1 = 0x14000000;
  header.text_offset = text_offset;
  header.image_size = image_size;
  header.flags = flags;  // 0xa: 4K pages, physical placement anywhere
  header.magic = magic;
  std::vector<uint8_t> bytes(file_size);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 3);
  std::memcpy(bytes.data(), &header, std::min<size_t>(sizeof(header), bytes.size()));
  return bytes;
}

Result<KernelImage> parse(const std::vector<uint8_t>& bytes) {
  return parse_image_header(bytes, bytes.size());
}

// A file under the temp directory, unique to this process and test, removed at scope exit.
class TempFile {
 public:
  explicit TempFile(const std::vector<uint8_t>& bytes) {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("petrel-image-test-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(counter++) + ".bin");
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
  }
  ~TempFile() {
    std::error_code ignored;
    fs::remove(path_, ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST_CASE("image: a valid header parses", "[image]") {
  auto image = parse(make_image(0x1000, 0, 0x20000));
  REQUIRE(image);
  CHECK(image->text_offset == 0);
  CHECK(image->image_size == 0x20000);
  CHECK(image->file_size == 0x1000);

  // text_offset is honoured, and a file exactly image_size long is fine.
  image = parse(make_image(0x3000, 0x80000, 0x3000));
  REQUIRE(image);
  CHECK(image->text_offset == 0x80000);
  CHECK(image->image_size == 0x3000);
  CHECK(image->file_size == 0x3000);

  // Only the first 64 bytes are looked at: file_size comes from the caller.
  const auto big = make_image(64, 0, 64 << 20);
  image = parse_image_header(big, 20 << 20);
  REQUIRE(image);
  CHECK(image->file_size == (20u << 20));
}

TEST_CASE("image: a wrong magic is not an arm64 Image", "[image]") {
  for (uint32_t magic : {0u, 0x464c457fu /* ELF */, kImageMagic ^ 0x01000000u}) {
    auto image = parse(make_image(0x1000, 0, 0x20000, 0xa, magic));
    REQUIRE_FALSE(image);
    CHECK(image.error().code == ExitCode::kKernelLoadFailure);
    CHECK_THAT(image.error().message, Catch::Contains("not an arm64 Image"));
  }
  // The magic is exactly the bytes "ARM\x64" at offset 56.
  auto bytes = make_image(0x1000, 0, 0x20000);
  CHECK(std::memcmp(bytes.data() + 56, "ARM\x64", 4) == 0);
  bytes[59] = 0x65;
  CHECK_FALSE(parse(bytes));
}

TEST_CASE("image: a buffer shorter than the header is refused", "[image]") {
  const auto bytes = make_image(64, 0, 0x20000);
  for (size_t size : {size_t{0}, size_t{1}, size_t{56}, size_t{63}}) {
    auto image = parse_image_header(std::span<const uint8_t>(bytes.data(), size), size);
    REQUIRE_FALSE(image);
    CHECK(image.error().code == ExitCode::kKernelLoadFailure);
    CHECK_THAT(image.error().message, Catch::Contains("not an arm64 Image"));
  }
  CHECK(parse_image_header(bytes, 64));
}

TEST_CASE("image: a big-endian kernel is refused", "[image]") {
  auto image = parse(make_image(0x1000, 0, 0x20000, 0x1));
  REQUIRE_FALSE(image);
  CHECK(image.error().code == ExitCode::kKernelLoadFailure);
  CHECK_THAT(image.error().message, Catch::Contains("big-endian"));
  CHECK_FALSE(parse(make_image(0x1000, 0, 0x20000, 0xb)));
  CHECK(parse(make_image(0x1000, 0, 0x20000, 0xe)));  // other flag bits are fine
}

TEST_CASE("image: image_size zero is a pre-3.17 kernel at text_offset 0x80000", "[image]") {
  // Such kernels may have anything in text_offset as we read it (its endianness was
  // unspecified); the booting rules say 0x80000.
  for (uint64_t header_offset : {0ull, 0x80000ull, 0x0008000000000000ull}) {
    auto image = parse(make_image(0x5000, header_offset, 0));
    REQUIRE(image);
    CHECK(image->text_offset == 0x80000);
    CHECK(image->image_size == 0x5000);
    CHECK(image->file_size == 0x5000);
  }
}

TEST_CASE("image: a file larger than image_size is refused", "[image]") {
  auto image = parse(make_image(0x2001, 0, 0x2000));
  REQUIRE_FALSE(image);
  CHECK(image.error().code == ExitCode::kKernelLoadFailure);
  CHECK_THAT(image.error().message, Catch::Contains("image_size"));
}

TEST_CASE("image: text_offset must be page aligned and below 2 MiB", "[image]") {
  for (uint64_t text_offset : {0x1ull, 0x800ull, 0x80001ull, 0x200000ull, 0x1000000ull}) {
    INFO("text_offset " << std::hex << text_offset);
    auto image = parse(make_image(0x1000, text_offset, 0x20000));
    REQUIRE_FALSE(image);
    CHECK(image.error().code == ExitCode::kKernelLoadFailure);
    CHECK_THAT(image.error().message, Catch::Contains("text_offset"));
  }
  CHECK(parse(make_image(0x1000, 0x1ff000, 0x20000)));
}

TEST_CASE("image: inspect_kernel reads the header of a file", "[image]") {
  TempFile file(make_image(0x3000, 0, 0x10000));
  auto image = inspect_kernel(file.path());
  REQUIRE(image);
  CHECK(image->text_offset == 0);
  CHECK(image->image_size == 0x10000);
  CHECK(image->file_size == 0x3000);
}

TEST_CASE("image: inspect_kernel errors name the path", "[image]") {
  const fs::path missing =
      fs::temp_directory_path() / ("petrel-image-test-missing-" + std::to_string(::getpid()));
  auto image = inspect_kernel(missing);
  REQUIRE_FALSE(image);
  CHECK(image.error().code == ExitCode::kKernelLoadFailure);
  CHECK_THAT(image.error().message, Catch::Contains(missing.string()));

  TempFile elf(make_image(0x1000, 0, 0x20000, 0xa, 0x464c457f));
  image = inspect_kernel(elf.path());
  REQUIRE_FALSE(image);
  CHECK(image.error().code == ExitCode::kKernelLoadFailure);
  CHECK_THAT(image.error().message,
             Catch::Contains(elf.path().string()) && Catch::Contains("not an arm64 Image"));

  TempFile tiny(std::vector<uint8_t>(10, 0));
  image = inspect_kernel(tiny.path());
  REQUIRE_FALSE(image);
  CHECK_THAT(image.error().message, Catch::Contains(tiny.path().string()));

  image = inspect_kernel(fs::temp_directory_path());
  REQUIRE_FALSE(image);
  CHECK(image.error().code == ExitCode::kKernelLoadFailure);
  CHECK_THAT(image.error().message, Catch::Contains("not a regular file"));
}

TEST_CASE("image: load_file copies the whole file into guest RAM", "[image]") {
  auto memory = GuestMemory::allocate(kRamBase, kRamSize);
  REQUIRE(memory);
  const auto bytes = make_image(100'000, 0, 0x20000);
  TempFile file(bytes);
  const uint64_t address = kRamBase + 0x1000;

  auto loaded = load_file(file.path(), *memory, address, 1 << 20);
  REQUIRE(loaded);
  CHECK(*loaded == bytes.size());
  std::vector<uint8_t> back(bytes.size());
  REQUIRE(memory->read(address, back));
  CHECK(back == bytes);
  // Nothing beyond the file was touched.
  uint8_t after[1] = {0xff};
  REQUIRE(memory->read(address + bytes.size(), after));
  CHECK(after[0] == 0);

  // A limit exactly the file size is enough; the last byte of RAM is reachable.
  CHECK(load_file(file.path(), *memory, kRamBase, bytes.size()));
  CHECK(load_file(file.path(), *memory, kRamBase + kRamSize - bytes.size(), bytes.size()));
}

TEST_CASE("image: load_file reads a large file in two halves, byte for byte", "[image]") {
  constexpr uint64_t kBigRam = 32ull << 20;
  auto memory = GuestMemory::allocate(kRamBase, kBigRam);
  REQUIRE(memory);
  // Over the size that is read by two threads, and not a multiple of the page size.
  std::vector<uint8_t> bytes((9ull << 20) + 4099);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  TempFile file(bytes);
  const uint64_t address = kRamBase + 0x20'0000;

  auto loaded = load_file(file.path(), *memory, address, bytes.size());
  REQUIRE(loaded);
  CHECK(*loaded == bytes.size());
  std::vector<uint8_t> back(bytes.size());
  REQUIRE(memory->read(address, back));
  CHECK(back == bytes);
  uint8_t around[1] = {0xff};
  REQUIRE(memory->read(address + bytes.size(), around));
  CHECK(around[0] == 0);
  REQUIRE(memory->read(address - 1, around));
  CHECK(around[0] == 0);
}

TEST_CASE("image: load_file refuses what does not fit", "[image]") {
  auto memory = GuestMemory::allocate(kRamBase, kRamSize);
  REQUIRE(memory);
  const auto bytes = make_image(5000, 0, 0x20000);
  TempFile file(bytes);

  auto loaded = load_file(file.path(), *memory, kRamBase, bytes.size() - 1);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code == ExitCode::kKernelLoadFailure);
  CHECK_THAT(loaded.error().message, Catch::Contains(file.path().string()));
  uint8_t first[1] = {0xff};
  REQUIRE(memory->read(kRamBase, first));
  CHECK(first[0] == 0);  // nothing was copied

  // Past the end of RAM, below it, and at an address that wraps.
  CHECK_FALSE(load_file(file.path(), *memory, kRamBase + kRamSize - bytes.size() + 1, 1 << 20));
  CHECK_FALSE(load_file(file.path(), *memory, kRamBase - 1, 1 << 20));
  CHECK_FALSE(load_file(file.path(), *memory, UINT64_MAX - 10, 1 << 20));

  const fs::path missing =
      fs::temp_directory_path() / ("petrel-image-test-gone-" + std::to_string(::getpid()));
  loaded = load_file(missing, *memory, kRamBase, 1 << 20);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code == ExitCode::kKernelLoadFailure);
  CHECK_THAT(loaded.error().message, Catch::Contains(missing.string()));
}

TEST_CASE("image: load_file of an empty file loads nothing", "[image]") {
  auto memory = GuestMemory::allocate(kRamBase, kRamSize);
  REQUIRE(memory);
  TempFile empty(std::vector<uint8_t>{});
  auto loaded = load_file(empty.path(), *memory, kRamBase, 0);
  REQUIRE(loaded);
  CHECK(*loaded == 0);
}

}  // namespace
}  // namespace petrel::arm64
