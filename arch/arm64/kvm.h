#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/unique_fd.h"

namespace petrel::arm64 {

// /dev/kvm and one VM file descriptor. The narrow ioctl surface the rest of arch/arm64
// uses; each failure says which call failed and why.
class KvmVm {
 public:
  // GUEST_INITIALIZATION_FAILURE when /dev/kvm is missing or unusable, or a capability
  // petrel relies on is absent. `ipa_bits`: the guest physical address width needed.
  static Result<KvmVm> open(uint32_t ipa_bits);

  int vm_fd() const { return vm_.get(); }
  int kvm_fd() const { return kvm_.get(); }
  int check_extension(long capability) const;  // on the VM, as KVM recommends
  size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }

  Result<> map_memory(uint32_t slot, uint64_t guest_address, uint64_t size, void* host) const;
  // Drives a shared peripheral interrupt line of the in-kernel GIC.
  void set_spi_level(uint32_t spi, bool asserted) const;
  // Each write to `eventfd` becomes a rising edge on `spi`, injected by KVM.
  Result<> bind_irqfd(int eventfd, uint32_t spi) const;
  // A guest 32-bit write of `value` to `address` signals `eventfd` inside KVM, with no exit.
  Result<> bind_ioeventfd(int eventfd, uint64_t address, uint32_t value) const;

 private:
  KvmVm(UniqueFd kvm, UniqueFd vm, size_t mmap_size)
      : kvm_(std::move(kvm)), vm_(std::move(vm)), vcpu_mmap_size_(mmap_size) {}

  UniqueFd kvm_;
  UniqueFd vm_;
  size_t vcpu_mmap_size_ = 0;
};

}  // namespace petrel::arm64
