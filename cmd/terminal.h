#pragma once

#include <termios.h>

namespace petrel {

// Puts a terminal on stdin into raw mode for the guest console and restores it when
// destroyed, so keystrokes (Ctrl-C included) reach the guest. Does nothing when stdin
// is not a terminal.
class RawTerminal {
 public:
  RawTerminal();
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  bool active_ = false;
  termios saved_{};
};

}  // namespace petrel
