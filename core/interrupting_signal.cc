#include "core/interrupting_signal.h"

#include <signal.h>

namespace petrel {

void install_interrupting_handler(int signal) {
  struct sigaction action {};
  action.sa_handler = [](int) {};
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, nullptr);
}

}  // namespace petrel
