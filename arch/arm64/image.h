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
  uint64_t image_size;  // memory the kernel occupies, bss included: at least the file size
  uint64_t file_size;
};

// Checks an Image header; `file_size` is the size of the whole file. Errors are
// KERNEL_LOAD_FAILURE and say what is wrong (not an arm64 Image, big-endian, ...).
Result<KernelImage> parse_image_header(std::span<const uint8_t> bytes, uint64_t file_size);

// Opens `path` and parses its header.
Result<KernelImage> inspect_kernel(const std::filesystem::path& path);

// Copies a whole file into guest RAM at `address`; KERNEL_LOAD_FAILURE when it cannot be
// read or does not fit in `limit` bytes (the room planned for it).
Result<uint64_t> load_file(const std::filesystem::path& path, const GuestMemory& memory,
                           uint64_t address, uint64_t limit);

}  // namespace petrel::arm64
