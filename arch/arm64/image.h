#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "core/error.h"
#include "core/guest_memory.h"

namespace petrel::arm64 {

// The 64-byte header at the start of an arm64 Linux `Image`
// (Documentation/arch/arm64/booting.rst), all fields little-endian.
struct ImageHeader {
  uint32_t code0;
  uint32_t code1;
  uint64_t text_offset;
  uint64_t image_size;
  uint64_t flags;
  uint64_t res2;
  uint64_t res3;
  uint64_t res4;
  uint32_t magic;
  uint32_t res5;
};
static_assert(sizeof(ImageHeader) == 64);
static_assert(offsetof(ImageHeader, magic) == 56);

inline constexpr uint32_t kImageMagic = 0x644d5241;  // "ARM\x64"

struct KernelImage {
  uint64_t text_offset;
  uint64_t image_size;      // memory the kernel occupies, bss included: at least the file size
  uint64_t file_size;       // of an Image.gz: its decompressed size, 0 when not decompressed yet
  bool compressed = false;  // gzip (`Image.gz`), told by its content, not its name
};

// How much of a kernel inspect_kernel reads. An Image.gz is decompressed whole only when
// asked (`petrel check`); `run` reads its header, and the load decompresses the rest
// straight into guest RAM, bounded by image_size.
enum class KernelCheck { kHeader, kWhole };

// Checks an Image header; `file_size` is the size of the whole file. Errors are
// KERNEL_LOAD_FAILURE and say what is wrong (not an arm64 Image, big-endian, ...).
Result<KernelImage> parse_image_header(std::span<const uint8_t> bytes, uint64_t file_size);

// Opens `path` and parses its header; of a gzip-compressed Image (gzip magic 1f 8b), the
// header of the decompressed stream. kWhole also decompresses all of an Image.gz, so a
// truncated or corrupt one, or one larger than its image_size, is found.
Result<KernelImage> inspect_kernel(const std::filesystem::path& path,
                                   KernelCheck check = KernelCheck::kHeader);

// Puts a kernel, an Image or an Image.gz, into guest RAM at `address`; at most `limit`
// bytes (the image_size planned for it). KERNEL_LOAD_FAILURE as load_file, and for a
// truncated or corrupt Image.gz or one that decompresses to more than `limit` bytes.
Result<uint64_t> load_kernel(const std::filesystem::path& path, const GuestMemory& memory,
                             uint64_t address, uint64_t limit);

// Copies a whole file into guest RAM at `address`; KERNEL_LOAD_FAILURE when it cannot be
// read or does not fit in `limit` bytes (the room planned for it).
Result<uint64_t> load_file(const std::filesystem::path& path, const GuestMemory& memory,
                           uint64_t address, uint64_t limit);

}  // namespace petrel::arm64
