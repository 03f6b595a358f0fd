#pragma once

#include <string_view>

namespace petrel {

// Sends a state line ("READY=1", "STOPPING=1", ...) to systemd when petrel runs under a
// Type=notify unit ($NOTIFY_SOCKET set); does nothing otherwise. Failures are logged at
// debug level only: notification is a courtesy, never a reason to stop the guest.
void notify_systemd(std::string_view state);

}  // namespace petrel
