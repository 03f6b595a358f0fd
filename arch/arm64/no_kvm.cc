#include "arch/arm64/describe.h"
#include "arch/machine.h"

// Built on hosts that are not arm64: config checking and `petrel dtb` work there, but
// running a guest needs arm64 KVM.
namespace petrel {

Result<std::unique_ptr<Machine>> arch::create_machine(const Config&, ConsoleSink&) {
  return fail(ExitCode::kGuestInitializationFailure,
              "this petrel was built for a host that is not arm64; running guests needs an "
              "arm64 host with KVM");
}

// No KVM to ask: the controller a current arm64 host's KVM gives.
arm64::GicVersion arm64::host_gic_version() { return GicVersion::kV3; }
bool arm64::host_has_pmu() { return true; }

}  // namespace petrel
