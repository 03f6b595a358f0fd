#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace petrel::vmm {

// petrel's stdin on its way to the guest's console UART. Ctrl-A x stops the VM, as in
// QEMU's -nographic, when stdin is a terminal; Ctrl-A Ctrl-A sends one Ctrl-A.
class ConsoleInput {
 public:
  using Deliver = std::function<void(std::span<const uint8_t>)>;
  using Stop = std::function<void()>;

  ConsoleInput(int fd, Deliver deliver, Stop stop)
      : fd_(fd), deliver_(std::move(deliver)), stop_(std::move(stop)) {}

  // An event loop handler for `fd`: reads what is there and passes it on. False at the
  // end of input or after the escape, when the loop should stop watching.
  bool forward();
  int fd() const { return fd_; }

 private:
  int fd_;
  Deliver deliver_;
  Stop stop_;
  bool escape_pending_ = false;
};

}  // namespace petrel::vmm
