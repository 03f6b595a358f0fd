#include "arch/arm64/gic.h"

#include <fmt/format.h>
#include <linux/kvm.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <span>

#include "arch/arm64/describe.h"
#include "arch/arm64/layout.h"

namespace petrel::arm64 {

namespace {
std::unexpected<Error> gic_failure(std::string what) {
  return fail(ExitCode::kGuestInitializationFailure, fmt::format("interrupt controller: {}", what));
}

Result<> set_attribute(int device, uint32_t group, uint64_t attribute, const void* value,
                       std::string_view what) {
  kvm_device_attr attr{};
  attr.group = group;
  attr.attr = attribute;
  attr.addr = reinterpret_cast<uint64_t>(value);
  if (ioctl(device, KVM_SET_DEVICE_ATTR, &attr) != 0) {
    return gic_failure(fmt::format("{}: {}", what, strerror(errno)));
  }
  return {};
}

int create_device(const KvmVm& vm, uint32_t type, uint32_t flags = 0) {
  kvm_create_device create{};
  create.type = type;
  create.flags = flags;
  if (ioctl(vm.vm_fd(), KVM_CREATE_DEVICE, &create) != 0) return -1;
  return static_cast<int>(create.fd);
}
}  // namespace

GicVersion host_gic_version() {
  // The smallest address space will do: the VM only answers whether it could have a GICv3.
  auto vm = KvmVm::open(32);
  if (!vm) {
    spdlog::debug("describing a GICv3: {}", vm.error().message);
    return GicVersion::kV3;
  }
  if (create_device(*vm, KVM_DEV_TYPE_ARM_VGIC_V3, KVM_CREATE_DEVICE_TEST) >= 0) {
    return GicVersion::kV3;
  }
  return GicVersion::kV2;
}

Result<Gic> Gic::create(const KvmVm& vm, uint32_t vcpus) {
  int fd = create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
  GicVersion version = GicVersion::kV3;
  if (fd < 0) {
    spdlog::info("no in-kernel GICv3 ({}), trying GICv2", strerror(errno));
    fd = create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V2);
    version = GicVersion::kV2;
  }
  if (fd < 0) return gic_failure(fmt::format("KVM_CREATE_DEVICE: {}", strerror(errno)));
  Gic gic(UniqueFd(fd), version);

  struct Placement {
    uint64_t type;
    uint64_t address;
    std::string_view what;
  };
  const Placement v3[] = {
      {KVM_VGIC_V3_ADDR_TYPE_DIST, kGicDistributorBase, "distributor address"},
      {KVM_VGIC_V3_ADDR_TYPE_REDIST, gic_redistributor_range(vcpus).base, "redistributor address"}};
  const Placement v2[] = {
      {KVM_VGIC_V2_ADDR_TYPE_DIST, kGicDistributorBase, "distributor address"},
      {KVM_VGIC_V2_ADDR_TYPE_CPU, kGicCpuInterfaceBase, "CPU interface address"}};
  for (const Placement& placement : version == GicVersion::kV3 ? std::span(v3) : std::span(v2)) {
    TRY(set_attribute(fd, KVM_DEV_ARM_VGIC_GRP_ADDR, placement.type, &placement.address,
                      placement.what));
  }
  return gic;
}

Result<> Gic::finalize() const {
  const uint32_t interrupts = 32 + kSpiCount;
  TRY(set_attribute(device_.get(), KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &interrupts,
                    "number of interrupts"));
  return set_attribute(device_.get(), KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT,
                       nullptr, "init");
}

}  // namespace petrel::arm64
