// libFuzzer target for kernel inspection and loading (arch/arm64/image.cc) and gunzip
// (core/gunzip.cc): an arm64 Image or Image.gz of any content, as a file (a memfd, opened
// through /proc/self/fd: no file-system side effects). The harness can gzip the input
// itself, so the fuzzer reaches both the decompressor with any bytes and Image headers
// inside well-formed streams, cut short or followed by padding or junk. Besides crashes and
// sanitizer reports, a finding is an error that is not KERNEL_LOAD_FAILURE or not one line,
// an Image.gz judged differently from the same Image uncompressed, or a kernel loaded
// into guest RAM other than it is in the file. See tests/fuzz/README.md.

#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "arch/arm64/image.h"
#include "core/gunzip.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace petrel;
using namespace petrel::arm64;
using fuzz::Input;

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kRamSize = 1 << 20;

const GuestMemory& ram() {
  static GuestMemory& memory = fuzz::guarded_ram(kRamBase, kRamSize);
  return memory;
}

int file_fd() {
  static const int fd = [] {
    const int made = memfd_create("image-fuzz-kernel", MFD_CLOEXEC);
    if (made < 0) fuzz::finding("memfd_create failed");
    return made;
  }();
  return fd;
}

const std::string& file_path() {
  static const std::string path = "/proc/self/fd/" + std::to_string(file_fd());
  return path;
}

void write_file(const std::vector<uint8_t>& bytes) {
  if (ftruncate(file_fd(), 0) != 0 ||
      pwrite(file_fd(), bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    fuzz::finding("cannot write the kernel file");
  }
}

std::vector<uint8_t> gzip(std::span<const uint8_t> data) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    fuzz::finding("deflateInit2 failed");
  }
  std::vector<uint8_t> out(deflateBound(&stream, data.size()) + 32);
  stream.next_in = const_cast<uint8_t*>(data.data());
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  if (deflate(&stream, Z_FINISH) != Z_STREAM_END) fuzz::finding("deflate failed");
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

template <typename T>
void check_result(const Result<T>& result) {
  if (result) return;
  PETREL_FUZZ_CHECK(result.error().code == ExitCode::kKernelLoadFailure);
  PETREL_FUZZ_CHECK(result.error().message.find('\n') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  ram();
  return 0;
}

// Input: a mode byte, a u16 parameter, a u32 load limit and a u32 load offset into guest
// RAM, then the payload. Mode bits 0-1: 0 the payload is the file; 1 the file is the payload
// gzipped; 2 that, cut to the parameter's length; 3 that, followed by 8 * parameter bytes of
// padding (zeros, or the payload's first byte when it is not zero). Bit 2: check an Image.gz
// whole (`petrel check`); bit 3: also load the kernel into guest RAM.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const auto mode = in.take<uint8_t>();
  const auto parameter = in.take<uint16_t>();
  const auto limit = in.take<uint32_t>();
  const auto offset = in.take<uint32_t>();
  const std::span<const uint8_t> payload = in.rest();

  // The header parser alone, on the payload as an uncompressed Image.
  const auto raw = parse_image_header(payload, payload.size());
  check_result(raw);
  if (raw) {
    PETREL_FUZZ_CHECK(raw->text_offset % 4096 == 0 && raw->text_offset < (2u << 20));
    PETREL_FUZZ_CHECK(raw->file_size <= raw->image_size);
  }

  std::vector<uint8_t> file;
  const int kind = mode & 3;
  if (kind == 0) {
    file.assign(payload.begin(), payload.end());
  } else {
    file = gzip(payload);
    if (kind == 2) file.resize(std::min<size_t>(file.size(), parameter));
    if (kind == 3) file.resize(file.size() + 8ull * parameter, payload.empty() ? 0 : payload[0]);
  }
  write_file(file);
  // What an Image.gz the harness did not compress decompresses to is not known here.
  const bool raw_gzip = kind == 0 && is_gzip(file);

  const KernelCheck check = (mode & 4) != 0 ? KernelCheck::kWhole : KernelCheck::kHeader;
  const auto inspected = inspect_kernel(file_path(), check);
  check_result(inspected);
  const bool intact_gzip = kind == 1 || (kind == 3 && (payload.empty() || payload[0] == 0));
  if (intact_gzip && check == KernelCheck::kWhole) {
    // An Image.gz is judged as the same Image uncompressed, except that it must state its
    // image_size (which an uncompressed one may leave zero).
    uint64_t image_size = 0;
    if (payload.size() >= 24) std::memcpy(&image_size, payload.data() + 16, 8);
    PETREL_FUZZ_CHECK(inspected.has_value() == (raw.has_value() && image_size != 0));
    if (inspected) {
      PETREL_FUZZ_CHECK(inspected->compressed);
      PETREL_FUZZ_CHECK(inspected->file_size == payload.size());
      PETREL_FUZZ_CHECK(inspected->image_size == raw->image_size &&
                        inspected->text_offset == raw->text_offset);
    }
  }
  if (inspected && kind == 0 && !raw_gzip) {
    PETREL_FUZZ_CHECK(raw.has_value() && !inspected->compressed);
    PETREL_FUZZ_CHECK(inspected->image_size == raw->image_size);
  }

  if ((mode & 8) != 0) {
    const uint64_t address = kRamBase + offset % (kRamSize + 4096);
    const uint64_t room = limit % (kRamSize + 8192);
    const auto loaded = load_kernel(file_path(), ram(), address, room);
    check_result(loaded);
    if (loaded) {
      PETREL_FUZZ_CHECK(*loaded <= room && address - kRamBase + *loaded <= kRamSize);
      // A file cut to less than the gzip magic is loaded as it is.
      if (!raw_gzip) {
        const std::span<const uint8_t> expected =
            is_gzip(file) ? payload : std::span<const uint8_t>(file);
        PETREL_FUZZ_CHECK(*loaded == expected.size());
        PETREL_FUZZ_CHECK(expected.empty() || std::memcmp(ram().host_base() + (address - kRamBase),
                                                          expected.data(), expected.size()) == 0);
      }
    }
  }
  return 0;
}
