#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>

namespace petrel::vmm {

// petrel's stdin on its way to the guest's console UART, flow-controlled: it reads only
// as much as the UART has room for, so input that comes before the guest's driver listens
// (a piped script, an expect loop) waits in the pipe instead of being lost at the driver's
// FIFO reset. Ctrl-A x stops the VM, as in QEMU's -nographic, when stdin is a terminal;
// Ctrl-A Ctrl-A sends one Ctrl-A. From a terminal it reads ahead up to kTerminalReadAhead
// bytes whatever the room, so that the escape works while the guest does not listen.
//
// Not thread-safe: the loop that watches the fd calls both entry points.
class ConsoleInput {
 public:
  // How many bytes the UART takes now (ConsoleUart::input_room).
  using Room = std::function<size_t()>;
  // Offers bytes to the UART; returns how many it took (ConsoleUart::receive).
  using Deliver = std::function<size_t(std::span<const uint8_t>)>;
  using Stop = std::function<void()>;

  static constexpr size_t kTerminalReadAhead = 4096;

  // What the loop does with the fd after a call.
  enum class Next {
    kRead,         // watch it again: there is room for more
    kWaitForRoom,  // leave it unwatched until on_room()
    kStop,         // end of input, or the escape: stop watching it
  };

  ConsoleInput(int fd, Room room, Deliver deliver, Stop stop);

  // The fd is readable: passes on what waited, then reads what there is room for.
  Next on_readable();
  // The UART has room again: passes on what waited. Reads nothing (the fd may be empty).
  Next on_room();

  int fd() const { return fd_; }

 private:
  void pass_on();
  Next next() const;

  int fd_;
  Room room_;
  Deliver deliver_;
  Stop stop_;
  bool terminal_;
  bool escape_pending_ = false;
  bool end_of_input_ = false;
  // Read but not yet taken: from a terminal's read-ahead, or the one byte a Ctrl-A pair
  // can add beyond the room.
  std::deque<uint8_t> pending_;
};

}  // namespace petrel::vmm
