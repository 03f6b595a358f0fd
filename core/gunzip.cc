#include "core/gunzip.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace petrel {

namespace {
constexpr size_t kInputBytes = 256 * 1024;
constexpr int kGzipOnly = 16 + MAX_WBITS;  // windowBits for a gzip wrapper, not zlib or raw
}  // namespace

bool is_gzip(std::span<const uint8_t> head) {
  return head.size() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
}

Result<GzipReader> GzipReader::open(int fd) {
  auto stream = std::make_unique<z_stream>();
  if (inflateInit2(stream.get(), kGzipOnly) != Z_OK) {
    return fail(ExitCode::kKernelLoadFailure, "cannot set up zlib's inflate (out of memory?)");
  }
  return GzipReader(fd, std::move(stream));
}

GzipReader::GzipReader(int fd, std::unique_ptr<z_stream> stream)
    : fd_(fd), stream_(std::move(stream)), input_(new uint8_t[kInputBytes]) {}

GzipReader::GzipReader(GzipReader&&) noexcept = default;
GzipReader& GzipReader::operator=(GzipReader&&) noexcept = default;

GzipReader::~GzipReader() {
  if (stream_) inflateEnd(stream_.get());
}

Result<> GzipReader::refill() {
  for (;;) {
    const ssize_t got = ::read(fd_, input_.get(), kInputBytes);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      return fail(ExitCode::kKernelLoadFailure, fmt::format("read failed: {}", strerror(errno)));
    if (got == 0) input_ended_ = true;
    stream_->next_in = input_.get();
    stream_->avail_in = static_cast<uInt>(got);
    consumed_ += static_cast<uint64_t>(got);
    return {};
  }
}

// gzip writers and image tools sometimes pad a file with zeros after the stream; anything
// else there (a second member, another file glued on) is refused rather than ignored.
Result<> GzipReader::check_trailer_padding() {
  for (;;) {
    const std::span<const uint8_t> rest(stream_->next_in, stream_->avail_in);
    if (std::ranges::any_of(rest, [](uint8_t byte) { return byte != 0; })) {
      return fail(ExitCode::kKernelLoadFailure, "data after the end of the gzip stream");
    }
    stream_->avail_in = 0;
    if (input_ended_) return {};
    TRY(refill());
  }
}

Result<size_t> GzipReader::read(std::span<uint8_t> out) {
  // avail_out is 32 bits: a large `out` is filled in turns.
  size_t filled = 0;
  while (filled < out.size() && !finished_) {
    const size_t turn = std::min<size_t>(out.size() - filled, 1u << 30);
    stream_->next_out = out.data() + filled;
    stream_->avail_out = static_cast<uInt>(turn);
    while (stream_->avail_out > 0) {
      if (stream_->avail_in == 0 && !input_ended_) {
        TRY(refill());
      }
      const uInt before = stream_->avail_out;
      const int status = inflate(stream_.get(), Z_NO_FLUSH);
      produced_ += before - stream_->avail_out;
      if (status == Z_STREAM_END) {
        finished_ = true;
        TRY(check_trailer_padding());
        break;
      }
      if (status == Z_OK) continue;
      if (status == Z_BUF_ERROR && stream_->avail_in == 0) {
        if (!input_ended_) continue;
        return fail(
            ExitCode::kKernelLoadFailure,
            fmt::format(
                "truncated gzip stream: it ends after {} compressed bytes, {} decompressed, "
                "without its end marker",
                consumed_, produced_));
      }
      if (status == Z_DATA_ERROR) {
        return fail(ExitCode::kKernelLoadFailure,
                    fmt::format("corrupt gzip data after {} decompressed bytes: {}", produced_,
                                stream_->msg != nullptr ? stream_->msg : "bad data"));
      }
      return fail(ExitCode::kKernelLoadFailure,
                  fmt::format("zlib inflate failed with status {}", status));
    }
    filled += turn - stream_->avail_out;
  }
  return filled;
}

}  // namespace petrel
