#include "cmd/terminal.h"

#include <unistd.h>

namespace petrel {

RawTerminal::RawTerminal() {
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_) != 0) return;
  termios raw = saved_;
  cfmakeraw(&raw);
  raw.c_oflag |= OPOST | ONLCR;  // keep our own stderr lines readable
  active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
}

RawTerminal::~RawTerminal() {
  if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
}

}  // namespace petrel
