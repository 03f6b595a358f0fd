#pragma once

#include <memory>
#include <vector>

#include "core/config.h"
#include "core/console_sink.h"
#include "core/error.h"
#include "core/lifecycle.h"

// What the command line asks of the architecture petrel is built for, naming no arch.
// Each arch folder (arch/arm64/) implements these; CMake links the one for the target
// (arch/README.md says what a new arch provides).
namespace petrel::arch {

// The boot payloads as `run` would load them: the kernel is an image this arch boots
// (a gzip-compressed one decompressed whole) and kernel, initrd and device tree fit in
// RAM together. KERNEL_LOAD_FAILURE otherwise.
Result<> check_boot(const Config& config);

// The device tree `run` gives the guest, built without starting anything: the same
// devices, and the interrupt controller this host's KVM would give the guest (where
// there is no KVM, the arch's preferred one).
Result<std::vector<uint8_t>> describe_machine(const Config& config);

// The real machine factory for the lifecycle: builds the VM for `config` (memory,
// devices, device tree, kernel loaded; no vCPU running). On a host this arch cannot run
// guests on, GUEST_INITIALIZATION_FAILURE. The guest console writes to `console`, which
// must outlive the machine.
Result<std::unique_ptr<Machine>> create_machine(const Config& config, ConsoleSink& console);

}  // namespace petrel::arch
