#pragma once

#include <memory>

#include "core/config.h"
#include "core/console_sink.h"
#include "core/lifecycle.h"

namespace petrel::arm64 {

// The real machine factory: on an arm64 host with KVM it builds the VM for `config`;
// elsewhere it fails with GUEST_INITIALIZATION_FAILURE. The guest console writes to
// `console`, which must outlive the machine.
Result<std::unique_ptr<Machine>> create_machine(const Config& config, ConsoleSink& console);

}  // namespace petrel::arm64
