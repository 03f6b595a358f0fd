#include "vmm/console_input.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace petrel::vmm {

namespace {
constexpr uint8_t kConsoleEscape = 0x01;  // Ctrl-A
}

bool ConsoleInput::forward() {
  uint8_t buffer[256];
  const ssize_t got = ::read(fd_, buffer, sizeof(buffer));
  if (got < 0) return errno == EINTR || errno == EAGAIN;
  if (got == 0) return false;  // end of input
  std::vector<uint8_t> bytes;
  bytes.reserve(static_cast<size_t>(got));
  for (ssize_t i = 0; i < got; ++i) {
    const uint8_t byte = buffer[i];
    if (escape_pending_) {
      escape_pending_ = false;
      if (byte == 'x' || byte == 'X') {
        spdlog::info("console escape: stopping the VM");
        stop_();
        return false;
      }
      if (byte != kConsoleEscape) bytes.push_back(kConsoleEscape);
      bytes.push_back(byte);
    } else if (byte == kConsoleEscape && isatty(fd_)) {
      escape_pending_ = true;
    } else {
      bytes.push_back(byte);
    }
  }
  deliver_(bytes);
  return true;
}

}  // namespace petrel::vmm
