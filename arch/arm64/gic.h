#pragma once

#include <cstdint>

#include "arch/arm64/fdt.h"
#include "arch/arm64/kvm.h"
#include "core/error.h"
#include "core/unique_fd.h"

namespace petrel::arm64 {

// The in-kernel interrupt controller: a GICv3 where KVM offers one, else a GICv2.
class Gic {
 public:
  // Creates the controller and places it; call before the vCPUs are created.
  static Result<Gic> create(const KvmVm& vm, uint32_t vcpus);

  // Sizes the SPI range and initialises the controller; call once every vCPU exists.
  Result<> finalize() const;

  GicVersion version() const { return version_; }

 private:
  Gic(UniqueFd device, GicVersion version) : device_(std::move(device)), version_(version) {}

  UniqueFd device_;
  GicVersion version_;
};

}  // namespace petrel::arm64
