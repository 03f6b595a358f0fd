// The arch-neutral interface's parts that need no VM: checking the boot payloads and
// describing the machine (`petrel check`, `petrel dtb`).
#include "arch/arm64/describe.h"

#include "arch/arm64/board.h"
#include "arch/machine.h"

namespace petrel {

Result<> arch::check_boot(const Config& config) {
  TRY(arm64::plan_boot(config, arm64::KernelCheck::kWhole));
  return {};
}

Result<std::vector<uint8_t>> arch::describe_machine(const Config& config) {
  const arm64::BootPlan plan = TRY(arm64::plan_boot(config));
  // Without KVM: interrupt lines that go nowhere, and the MPIDRs KVM would assign.
  struct UnconnectedLine final : InterruptLine {
    void set_level(bool) override {}
  };
  arm64::BoardWiring wiring;
  wiring.lines = [](uint32_t) { return std::make_unique<UnconnectedLine>(); };
  wiring.console_output = [](std::span<const uint8_t>) {};
  const auto board = TRY(arm64::Board::build(config, std::move(wiring)));
  std::vector<uint64_t> mpidrs;
  for (uint32_t i = 0; i < config.machine.vcpus; ++i) mpidrs.push_back(arm64::default_mpidr(i));
  return board->device_tree(config, plan, mpidrs, arm64::host_gic_version(),
                            arm64::guest_pmu(config, arm64::host_has_pmu()));
}

}  // namespace petrel
