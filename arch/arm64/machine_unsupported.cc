#include "arch/arm64/machine.h"

namespace petrel::arm64 {

// Built on hosts that are not arm64: config checking and `petrel dtb` work there, but
// running a guest needs arm64 KVM.
Result<std::unique_ptr<Machine>> create_machine(const Config&, ConsoleSink&) {
  return fail(ExitCode::kGuestInitializationFailure,
              "this petrel was built for a host that is not arm64; running guests needs an "
              "arm64 host with KVM");
}

}  // namespace petrel::arm64
