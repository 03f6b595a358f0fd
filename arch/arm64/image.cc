#include "arch/arm64/image.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "core/gunzip.h"
#include "core/unique_fd.h"

namespace petrel::arm64 {

namespace {
constexpr uint64_t kFlagBigEndian = 1u << 0;
// Kernels older than 3.17 leave image_size zero and always use this text offset.
constexpr uint64_t kLegacyTextOffset = 0x80000;

constexpr uint64_t kParallelLoadBytes = 8ull << 20;

// Reads bytes [from, to) of the file into the same offsets of `target`; an error message
// when the read fails or the file is shorter than it was.
std::optional<std::string> read_range(int fd, std::span<uint8_t> target, uint64_t from,
                                      uint64_t to) {
  while (from < to) {
    const ssize_t got = pread(fd, target.data() + from, to - from, static_cast<off_t>(from));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return std::string(strerror(errno));
    if (got == 0) return std::string("file shrank");
    from += static_cast<uint64_t>(got);
  }
  return std::nullopt;
}

Result<UniqueFd> open_for_reading(const std::filesystem::path& path, uint64_t& size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return fail(ExitCode::kKernelLoadFailure,
                fmt::format("{}: {}", path.string(), strerror(errno)));
  }
  struct stat info {};
  if (fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return fail(ExitCode::kKernelLoadFailure, fmt::format("{}: not a regular file", path.string()));
  }
  size = static_cast<uint64_t>(info.st_size);
  return fd;
}

Error load_error(const std::filesystem::path& path, std::string_view message) {
  return Error{ExitCode::kKernelLoadFailure, fmt::format("{}: {}", path.string(), message)};
}

// Reads up to `out.size()` bytes from the start of the file.
Result<size_t> read_head(int fd, const std::filesystem::path& path, std::span<uint8_t> out) {
  ssize_t got;
  do {
    got = pread(fd, out.data(), out.size(), 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return std::unexpected(load_error(path, strerror(errno)));
  return static_cast<size_t>(got);
}

// The header of an Image.gz, read through the decompressed stream; `reader` stays after it.
Result<KernelImage> read_compressed_header(GzipReader& reader, const std::filesystem::path& path) {
  uint8_t header[sizeof(ImageHeader)] = {};
  auto got = reader.read(header);
  if (!got) return std::unexpected(load_error(path, got.error().message));
  // The decompressed size is not known yet; a kernel without image_size (before Linux 3.17)
  // would need it for its layout.
  auto image = parse_image_header(std::span<const uint8_t>(header, *got), 0);
  if (!image) {
    return std::unexpected(load_error(path, "gzip-compressed, but " + image.error().message));
  }
  if (image->image_size == 0) {
    return std::unexpected(load_error(
        path, "gzip-compressed arm64 Image without image_size (Linux before 3.17): decompress it"));
  }
  image->compressed = true;
  return image;
}

// The rest of an Image.gz, decompressed and dropped: it must end cleanly within image_size.
Result<> check_compressed_rest(GzipReader& reader, KernelImage& image,
                               const std::filesystem::path& path) {
  std::vector<uint8_t> scratch(1 << 20);
  // Checked at least once: reading the header may have ended the stream already.
  do {
    auto got = reader.read(scratch);
    if (!got) return std::unexpected(load_error(path, got.error().message));
    if (reader.produced() > image.image_size) {
      return std::unexpected(load_error(
          path, fmt::format("decompresses to more than the {} bytes of its header's image_size",
                            image.image_size)));
    }
  } while (!reader.finished());
  image.file_size = reader.produced();
  return {};
}
}  // namespace

Result<KernelImage> parse_image_header(std::span<const uint8_t> bytes, uint64_t file_size) {
  if (bytes.size() < sizeof(ImageHeader)) {
    return fail(
        ExitCode::kKernelLoadFailure,
        fmt::format("not an arm64 Image: {} bytes is shorter than its header", bytes.size()));
  }
  ImageHeader header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  if (header.magic != kImageMagic) {
    return fail(ExitCode::kKernelLoadFailure,
                "not an arm64 Image (no \"ARM\\x64\" magic at offset 56; a vmlinux ELF, or a "
                "kernel compressed other than with gzip, must be turned into Image first)");
  }
  if (header.image_size == 0) {
    header.text_offset = kLegacyTextOffset;
    header.image_size = file_size;  // no bss size known; such kernels clear their own
  }
  if (header.flags & kFlagBigEndian) {
    return fail(ExitCode::kKernelLoadFailure,
                "arm64 Image is big-endian; KVM guests here are little-endian");
  }
  if (header.text_offset % 4096 != 0 || header.text_offset >= (2ull << 20)) {
    return fail(ExitCode::kKernelLoadFailure,
                fmt::format("arm64 Image has an invalid text_offset {:#x}", header.text_offset));
  }
  if (file_size > header.image_size) {
    return fail(ExitCode::kKernelLoadFailure,
                fmt::format("arm64 Image is {} bytes but its header says image_size {}", file_size,
                            header.image_size));
  }
  return KernelImage{header.text_offset, header.image_size, file_size};
}

Result<KernelImage> inspect_kernel(const std::filesystem::path& path, KernelCheck check) {
  uint64_t size = 0;
  auto fd = TRY(open_for_reading(path, size));
  uint8_t header[sizeof(ImageHeader)] = {};
  auto got = TRY(read_head(fd.get(), path, header));
  if (is_gzip(std::span<const uint8_t>(header, got))) {
    auto reader = GzipReader::open(fd.get());
    if (!reader) return std::unexpected(load_error(path, reader.error().message));
    auto image = read_compressed_header(*reader, path);
    if (image && check == KernelCheck::kWhole) {
      TRY(check_compressed_rest(*reader, *image, path));
    }
    return image;
  }
  auto image = parse_image_header(std::span<const uint8_t>(header, got), size);
  if (!image) {
    return fail(ExitCode::kKernelLoadFailure,
                fmt::format("{}: {}", path.string(), image.error().message));
  }
  return image;
}

Result<uint64_t> load_file(const std::filesystem::path& path, const GuestMemory& memory,
                           uint64_t address, uint64_t limit) {
  uint64_t size = 0;
  auto fd = TRY(open_for_reading(path, size));
  auto target = memory.slice(address, size);
  if (size > limit || !target) {
    return fail(
        ExitCode::kKernelLoadFailure,
        fmt::format("{}: {} bytes do not fit in guest RAM at {:#x}", path.string(), size, address));
  }
  // Large files (a distribution kernel is some 30 MB) are read by two threads, half each:
  // the copy and the first touch of fresh guest pages are most of petrel's time to the
  // first KVM_RUN, and they scale with cores.
  const uint64_t split = size >= kParallelLoadBytes ? (size / 2) & ~uint64_t{4095} : size;
  std::optional<std::string> second_error;
  std::thread second;
  uint64_t first_end = split;
  if (split < size) {
    try {
      second = std::thread([&] { second_error = read_range(fd.get(), *target, split, size); });
    } catch (const std::system_error&) {
      first_end = size;  // no thread to be had: read it all here
    }
  }
  std::optional<std::string> first_error = read_range(fd.get(), *target, 0, first_end);
  if (second.joinable()) second.join();
  if (first_error || second_error) {
    return fail(ExitCode::kKernelLoadFailure,
                fmt::format("{}: read failed: {}", path.string(),
                            first_error ? *first_error : *second_error));
  }
  return size;
}

Result<uint64_t> load_kernel(const std::filesystem::path& path, const GuestMemory& memory,
                             uint64_t address, uint64_t limit) {
  uint64_t size = 0;
  auto fd = TRY(open_for_reading(path, size));
  uint8_t magic[2] = {};
  auto got = TRY(read_head(fd.get(), path, magic));
  if (!is_gzip(std::span<const uint8_t>(magic, got)))
    return load_file(path, memory, address, limit);

  auto target = memory.slice(address, limit);
  if (!target) {
    return std::unexpected(
        load_error(path, fmt::format("{} bytes do not fit in guest RAM at {:#x}", limit, address)));
  }
  auto reader = GzipReader::open(fd.get());
  if (!reader) return std::unexpected(load_error(path, reader.error().message));
  auto loaded = reader->read(*target);
  if (!loaded) return std::unexpected(load_error(path, loaded.error().message));
  // Filled to the brim: the stream must end here, not spill past the planned room.
  uint8_t probe = 0;
  if (!reader->finished()) {
    auto more = reader->read(std::span<uint8_t>(&probe, 1));
    if (!more) return std::unexpected(load_error(path, more.error().message));
    if (*more != 0) {
      return std::unexpected(load_error(
          path, fmt::format("decompresses to more than the {} bytes planned for it", limit)));
    }
  }
  // The file may have changed since it was inspected: what landed must still be an Image.
  auto image = parse_image_header(target->first(*loaded), *loaded);
  if (!image)
    return std::unexpected(load_error(path, "gzip-compressed, but " + image.error().message));
  return *loaded;
}

}  // namespace petrel::arm64
