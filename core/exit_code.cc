#include "core/exit_code.h"

namespace petrel {

std::string_view exit_code_name(ExitCode code) {
  switch (code) {
    case ExitCode::kPoweredOff: return "POWERED_OFF";
    case ExitCode::kInternalError: return "INTERNAL_ERROR";
    case ExitCode::kBadConfig: return "BAD_CONFIG";
    case ExitCode::kGuestInitializationFailure: return "GUEST_INITIALIZATION_FAILURE";
    case ExitCode::kDeviceInitializationFailure: return "DEVICE_INITIALIZATION_FAILURE";
    case ExitCode::kDeviceMemoryOverlap: return "DEVICE_MEMORY_OVERLAP";
    case ExitCode::kKernelLoadFailure: return "KERNEL_LOAD_FAILURE";
    case ExitCode::kVcpuStartFailure: return "VCPU_START_FAILURE";
    case ExitCode::kVcpuRuntimeFailure: return "VCPU_RUNTIME_FAILURE";
    case ExitCode::kNotCreated: return "NOT_CREATED";
    case ExitCode::kAlreadyRunning: return "ALREADY_RUNNING";
    case ExitCode::kControllerForcedHalt: return "CONTROLLER_FORCED_HALT";
    case ExitCode::kGuestReset: return "GUEST_RESET";
    case ExitCode::kTimeout: return "TIMEOUT";
  }
  return "UNKNOWN";
}

}  // namespace petrel
