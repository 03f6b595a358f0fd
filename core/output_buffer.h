#pragma once

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <thread>

namespace petrel {

// Bytes on their way to a file descriptor that a slow or stopped reader may hold up (the
// guest console on petrel's stdout: a full pipe, a terminal paused with Ctrl-S). write()
// never blocks its caller, a vCPU: the bytes queue for a thread of the buffer's own that
// writes them; beyond `limit` queued bytes, new ones are dropped and counted. Once the
// reader reads again, output resumes with what came after the gap.
class OutputBuffer {
 public:
  static constexpr size_t kDefaultLimit = 1 << 20;
  // How long destruction waits for the reader to take what is queued before giving up on it.
  static constexpr std::chrono::milliseconds kFlushTimeout{2000};

  OutputBuffer(int fd, size_t limit = kDefaultLimit);
  // Writes what is queued, waiting at most kFlushTimeout for a stuck reader.
  ~OutputBuffer();
  OutputBuffer(const OutputBuffer&) = delete;
  OutputBuffer& operator=(const OutputBuffer&) = delete;

  void write(std::span<const uint8_t> bytes);
  uint64_t dropped() const;

 private:
  void drain();

  const int fd_;
  const size_t limit_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string queued_;
  size_t in_flight_ = 0;  // taken by the writer thread, not yet written: counts to the limit
  uint64_t dropped_ = 0;
  bool closing_ = false;    // destruction: write what is queued, then end
  bool abandoned_ = false;  // the reader did not take it in time: end now
  bool finished_ = false;
  bool broken_ = false;  // the fd took no more (closed stdout): bytes go nowhere, unsaid
  pthread_t writer_handle_{};
  std::thread writer_;
};

}  // namespace petrel
