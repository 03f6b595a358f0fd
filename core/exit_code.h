#pragma once

#include <string_view>

namespace petrel {

// The process exit status. Lifecycle errors carry the numbers of Fuchsia's
// fuchsia.virtualization.GuestError enum, so a caller that knows that protocol knows
// ours; 0, 32 and 124 describe how the guest ended. Codes 2, 6, 8 and 9 are reserved
// with their protocol meaning (DUPLICATE_PUBLIC_SERVICES, DEVICE_NOT_PRESENT,
// FAILED_SERVICE_CONNECT, GUEST_INITIALIZATION_FAILURE's neighbours) and never used.
enum class ExitCode : int {
  kPoweredOff = 0,
  kInternalError = 1,
  kBadConfig = 3,
  kGuestInitializationFailure = 4,
  kDeviceInitializationFailure = 5,
  kDeviceMemoryOverlap = 7,
  kKernelLoadFailure = 10,
  kVcpuStartFailure = 11,
  kVcpuRuntimeFailure = 12,
  kNotCreated = 13,
  kAlreadyRunning = 14,
  kControllerForcedHalt = 15,
  kGuestReset = 32,
  kTimeout = 124,
};

constexpr int to_int(ExitCode code) { return static_cast<int>(code); }

// The protocol name, e.g. "BAD_CONFIG", for messages and logs.
std::string_view exit_code_name(ExitCode code);

}  // namespace petrel
