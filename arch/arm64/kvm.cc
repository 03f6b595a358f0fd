#include "arch/arm64/kvm.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/kvm.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "arch/arm64/describe.h"

namespace petrel::arm64 {

namespace {
constexpr int kKvmApiVersion = 12;
constexpr uint32_t kDefaultIpaBits = 40;

std::unexpected<Error> guest_init_failure(std::string message) {
  return fail(ExitCode::kGuestInitializationFailure, std::move(message));
}
}  // namespace

Result<KvmVm> KvmVm::open(uint32_t ipa_bits) {
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm) {
    return guest_init_failure(
        fmt::format("/dev/kvm: {} (is KVM enabled on this arm64 host, and may "
                    "this user open /dev/kvm?)",
                    strerror(errno)));
  }
  if (ioctl(kvm.get(), KVM_GET_API_VERSION, 0) != kKvmApiVersion) {
    return guest_init_failure("/dev/kvm: unsupported KVM API version");
  }
  unsigned long type = 0;
  if (ipa_bits > kDefaultIpaBits) {
    const int host_ipa = ioctl(kvm.get(), KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);
    if (host_ipa < static_cast<int>(ipa_bits)) {
      return guest_init_failure(
          fmt::format("guest memory needs {}-bit guest physical addresses; this "
                      "host's KVM offers {}",
                      ipa_bits, host_ipa > 0 ? host_ipa : kDefaultIpaBits));
    }
    type = KVM_VM_TYPE_ARM_IPA_SIZE(ipa_bits);
  }
  int vm_fd;
  do {
    vm_fd = ioctl(kvm.get(), KVM_CREATE_VM, type);
  } while (vm_fd < 0 && errno == EINTR);
  if (vm_fd < 0) return guest_init_failure(fmt::format("KVM_CREATE_VM: {}", strerror(errno)));
  UniqueFd vm(vm_fd);
  fcntl(vm.get(), F_SETFD, FD_CLOEXEC);

  const int mmap_size = ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size <= 0)
    return guest_init_failure(fmt::format("KVM_GET_VCPU_MMAP_SIZE: {}", strerror(errno)));

  KvmVm result(std::move(kvm), std::move(vm), static_cast<size_t>(mmap_size));
  for (auto [capability, name] : {std::pair{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
                                  std::pair{KVM_CAP_ARM_PSCI_0_2, "KVM_CAP_ARM_PSCI_0_2"},
                                  std::pair{KVM_CAP_ONE_REG, "KVM_CAP_ONE_REG"},
                                  std::pair{KVM_CAP_DEVICE_CTRL, "KVM_CAP_DEVICE_CTRL"}}) {
    if (result.check_extension(capability) <= 0) {
      return guest_init_failure(fmt::format("KVM lacks {}, which petrel needs", name));
    }
  }
  // Lets an MMIO access KVM cannot decode (e.g. a load pair) reach us as an exit with
  // its address, for a precise error instead of a bare ENOSYS from KVM_RUN.
  if (result.check_extension(KVM_CAP_ARM_NISV_TO_USER) > 0) {
    kvm_enable_cap enable{};
    enable.cap = KVM_CAP_ARM_NISV_TO_USER;
    if (ioctl(result.vm_fd(), KVM_ENABLE_CAP, &enable) != 0) {
      spdlog::debug("KVM_CAP_ARM_NISV_TO_USER not enabled: {}", strerror(errno));
    }
  }
  return result;
}

int KvmVm::check_extension(long capability) const {
  return ioctl(vm_.get(), KVM_CHECK_EXTENSION, capability);
}

Result<> KvmVm::map_memory(uint32_t slot, uint64_t guest_address, uint64_t size, void* host) const {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = guest_address;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (ioctl(vm_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0) {
    return guest_init_failure(fmt::format("KVM_SET_USER_MEMORY_REGION ({} MiB at {:#x}): {}",
                                          size >> 20, guest_address, strerror(errno)));
  }
  return {};
}

void KvmVm::set_spi_level(uint32_t spi, bool asserted) const {
  kvm_irq_level level{};
  // SPIs are numbered from interrupt ID 32 in KVM_IRQ_LINE's irq field.
  level.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (32 + spi);
  level.level = asserted ? 1 : 0;
  if (ioctl(vm_.get(), KVM_IRQ_LINE, &level) != 0) {
    spdlog::warn("KVM_IRQ_LINE for SPI {}: {}", spi, strerror(errno));
  }
}

Result<> KvmVm::bind_irqfd(int eventfd, uint32_t spi) const {
  kvm_irqfd request{};
  request.fd = static_cast<uint32_t>(eventfd);
  request.gsi = spi;  // the vGIC's default routing maps GSI n to SPI n
  if (ioctl(vm_.get(), KVM_IRQFD, &request) != 0) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("KVM_IRQFD for SPI {}: {}", spi, strerror(errno)));
  }
  return {};
}

Result<> KvmVm::bind_ioeventfd(int eventfd, uint64_t address, uint32_t value) const {
  kvm_ioeventfd request{};
  request.datamatch = value;
  request.addr = address;
  request.len = 4;
  request.fd = eventfd;
  request.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
  if (ioctl(vm_.get(), KVM_IOEVENTFD, &request) != 0) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("KVM_IOEVENTFD at {:#x}: {}", address, strerror(errno)));
  }
  return {};
}

bool host_has_pmu() {
  auto vm = KvmVm::open(32);
  if (!vm) return true;  // as without KVM (no_kvm.cc)
  return vm->check_extension(KVM_CAP_ARM_PMU_V3) > 0;
}

}  // namespace petrel::arm64
