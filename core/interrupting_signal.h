#pragma once

namespace petrel {

// Gives `signal` a handler that does nothing and no SA_RESTART, so that sending it to a
// thread interrupts the blocking call that thread is in (KVM_RUN, write) with EINTR rather
// than killing the process or being ignored. Idempotent: setting the same handler again is
// harmless, so every user installs it before its first thread may be signalled.
void install_interrupting_handler(int signal);

}  // namespace petrel
