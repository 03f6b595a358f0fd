#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/error.h"

namespace petrel {

// True when `head` starts with the gzip magic bytes 1f 8b.
bool is_gzip(std::span<const uint8_t> head);

// Reads the decompressed bytes of a gzip file (one member, RFC 1952) from a file
// descriptor positioned at its start, in pieces of the caller's choosing, so the output
// can go straight to its destination (guest RAM). Errors are one-line messages without
// the file's name: a truncated stream, corrupt data (a bad CRC included), or data after
// the end of the stream other than zero padding.
class GzipReader {
 public:
  // The reader does not own `fd`; it must stay open while the reader reads.
  static Result<GzipReader> open(int fd);

  GzipReader(GzipReader&&) noexcept;
  GzipReader& operator=(GzipReader&&) noexcept;
  ~GzipReader();

  // Fills `out` and returns out.size(), or fewer bytes only when the stream ended.
  Result<size_t> read(std::span<uint8_t> out);

  uint64_t produced() const { return produced_; }  // decompressed bytes so far
  bool finished() const { return finished_; }      // the stream's end and CRC were seen

 private:
  GzipReader(int fd, std::unique_ptr<z_stream> stream);
  Result<> refill();
  Result<> check_trailer_padding();

  int fd_ = -1;
  std::unique_ptr<z_stream> stream_;
  std::unique_ptr<uint8_t[]> input_;
  uint64_t consumed_ = 0;  // compressed bytes read from the file
  uint64_t produced_ = 0;
  bool input_ended_ = false;
  bool finished_ = false;
};

}  // namespace petrel
