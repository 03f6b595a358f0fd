#include "core/output_buffer.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>

#include "core/interrupting_signal.h"

namespace petrel {

namespace {
// Interrupts the writer's blocked write() when its reader is given up on.
constexpr int kWakeSignal = SIGUSR2;
}  // namespace

OutputBuffer::OutputBuffer(int fd, size_t limit) : fd_(fd), limit_(limit) {
  install_interrupting_handler(kWakeSignal);
  writer_ = std::thread([this] { drain(); });
  std::lock_guard lock(mutex_);
  writer_handle_ = writer_.native_handle();
}

OutputBuffer::~OutputBuffer() {
  std::unique_lock lock(mutex_);
  closing_ = true;
  changed_.notify_all();
  if (!changed_.wait_for(lock, kFlushTimeout, [this] { return finished_; })) {
    abandoned_ = true;
    // Signals until the writer has seen abandoned_; it is alive until finished_.
    while (!finished_) {
      pthread_kill(writer_handle_, kWakeSignal);
      changed_.wait_for(lock, std::chrono::milliseconds(10), [this] { return finished_; });
    }
  }
  lock.unlock();
  writer_.join();
  if (!broken_ && (dropped_ > 0 || !queued_.empty())) {
    spdlog::warn(
        "{} bytes of guest console output were not written to stdout: its reader did "
        "not keep up (a console log has all of it)",
        dropped_ + queued_.size());
  }
}

void OutputBuffer::write(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mutex_);
  if (broken_) return;
  const size_t held = queued_.size() + in_flight_;
  const size_t room = limit_ - std::min(limit_, held);
  const size_t taken = std::min(room, bytes.size());
  queued_.append(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(taken));
  if (taken < bytes.size()) {
    if (dropped_ == 0) {
      spdlog::warn("guest console output to stdout is being dropped: its reader is not reading");
    }
    dropped_ += bytes.size() - taken;
  }
  if (taken > 0) changed_.notify_all();
}

uint64_t OutputBuffer::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void OutputBuffer::drain() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return !queued_.empty() || closing_; });
    if (queued_.empty() || abandoned_) break;
    std::string chunk;
    chunk.swap(queued_);
    in_flight_ = chunk.size();
    lock.unlock();
    size_t done = 0;
    bool broken = false;
    while (done < chunk.size()) {
      const ssize_t n = ::write(fd_, chunk.data() + done, chunk.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        std::lock_guard check(mutex_);
        if (abandoned_) break;
      } else {
        broken_ = broken =
            true;  // a closed stdout: the guest's output goes nowhere, as with "none"
        break;
      }
    }
    lock.lock();
    in_flight_ = 0;
    if (done < chunk.size() && !broken) queued_.insert(0, chunk, done);
    if (abandoned_ || broken) break;
  }
  finished_ = true;
  changed_.notify_all();
}

}  // namespace petrel
