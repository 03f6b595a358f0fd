#include "vmm/console_input.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace petrel::vmm {

namespace {
constexpr uint8_t kConsoleEscape = 0x01;  // Ctrl-A
constexpr size_t kReadChunk = 256;
}  // namespace

ConsoleInput::ConsoleInput(int fd, Room room, Deliver deliver, Stop stop)
    : fd_(fd),
      room_(std::move(room)),
      deliver_(std::move(deliver)),
      stop_(std::move(stop)),
      terminal_(isatty(fd) == 1) {}

// Offers no more than the room: a UART may take more than its driver is ready for (the
// 16550 model queues beyond its FIFO).
void ConsoleInput::pass_on() {
  const size_t room = pending_.empty() ? 0 : room_();
  if (room == 0) return;
  const auto count = static_cast<std::ptrdiff_t>(std::min(room, pending_.size()));
  const std::vector<uint8_t> bytes(pending_.begin(), pending_.begin() + count);
  const size_t taken = std::min(deliver_(bytes), bytes.size());
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(taken));
}

ConsoleInput::Next ConsoleInput::next() const {
  // After the end of input, one more read sees it again and ends the watch.
  if (end_of_input_) return pending_.empty() ? Next::kRead : Next::kWaitForRoom;
  if (terminal_ && pending_.size() < kTerminalReadAhead) return Next::kRead;
  return pending_.empty() && room_() > 0 ? Next::kRead : Next::kWaitForRoom;
}

ConsoleInput::Next ConsoleInput::on_room() {
  pass_on();
  return next();
}

ConsoleInput::Next ConsoleInput::on_readable() {
  pass_on();
  if (end_of_input_) return pending_.empty() ? Next::kStop : Next::kWaitForRoom;
  size_t want = pending_.empty() ? room_() : 0;
  if (terminal_)
    want = std::max(want, kTerminalReadAhead - std::min(pending_.size(), kTerminalReadAhead));
  want = std::min(want, kReadChunk);
  if (want == 0) return Next::kWaitForRoom;

  uint8_t buffer[kReadChunk];
  const ssize_t got = ::read(fd_, buffer, want);
  if (got < 0) return errno == EINTR || errno == EAGAIN ? next() : Next::kStop;
  if (got == 0) {
    end_of_input_ = true;
    return pending_.empty() ? Next::kStop : Next::kWaitForRoom;
  }
  for (ssize_t i = 0; i < got; ++i) {
    const uint8_t byte = buffer[i];
    if (escape_pending_) {
      escape_pending_ = false;
      if (byte == 'x' || byte == 'X') {
        spdlog::info("console escape: stopping the VM");
        stop_();
        return Next::kStop;
      }
      if (byte != kConsoleEscape) pending_.push_back(kConsoleEscape);
      pending_.push_back(byte);
    } else if (byte == kConsoleEscape && terminal_) {
      escape_pending_ = true;
    } else {
      pending_.push_back(byte);
    }
  }
  pass_on();
  return next();
}

}  // namespace petrel::vmm
