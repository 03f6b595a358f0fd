#include "arch/arm64/layout.h"

#include <fmt/format.h>

namespace petrel::arm64 {

namespace {
constexpr uint64_t kPageBytes = 4096;
uint64_t align_down(uint64_t value, uint64_t alignment) { return value & ~(alignment - 1); }
}  // namespace

AddressRange gic_redistributor_range(uint32_t vcpus) {
  const uint64_t size = kGicRedistributorSizePerVcpu * vcpus;
  return {kGicDistributorBase - size, size};
}

Result<BootLayout> plan_boot_layout(AddressRange ram, uint64_t kernel_text_offset,
                                    uint64_t kernel_image_size,
                                    std::optional<uint64_t> initrd_size) {
  if (ram.base % kSz2M != 0 || ram.size % kSz2M != 0 || ram.size < 2 * kSz2M) {
    return fail(ExitCode::kKernelLoadFailure, "guest RAM must be 2 MiB aligned and at least 4 MiB");
  }
  BootLayout layout;
  layout.device_tree = {ram.end() - kSz2M, kSz2M};
  const uint64_t kernel_base = ram.base + kernel_text_offset;
  if (kernel_text_offset >= layout.device_tree.base - ram.base ||
      kernel_image_size > layout.device_tree.base - kernel_base) {
    return fail(
        ExitCode::kKernelLoadFailure,
        fmt::format("kernel needs {} MiB at offset {:#x} but guest RAM is {} MiB",
                    (kernel_image_size + (1 << 20) - 1) >> 20, kernel_text_offset, ram.size >> 20));
  }
  layout.kernel = {kernel_base, kernel_image_size};
  if (initrd_size) {
    const uint64_t room = layout.device_tree.base - layout.kernel.end();
    if (*initrd_size > room) {
      return fail(ExitCode::kKernelLoadFailure,
                  fmt::format("initrd of {} MiB does not fit in guest RAM beside the kernel "
                              "({} MiB free)",
                              *initrd_size >> 20, room >> 20));
    }
    const uint64_t base = align_down(layout.device_tree.base - *initrd_size, kPageBytes);
    if (base < layout.kernel.end()) {
      return fail(ExitCode::kKernelLoadFailure,
                  "initrd does not fit in guest RAM beside the kernel");
    }
    layout.initrd = AddressRange{base, *initrd_size};
  }
  return layout;
}

std::optional<uint64_t> platform_device_base(std::string_view table) {
  if (table == "test_exit") return kTestExitBase;
  if (table == "power_button") return kPowerButtonBase;
  return std::nullopt;
}

std::optional<uint32_t> platform_device_spi(std::string_view table) {
  if (table == "power_button") return kPowerButtonSpi;
  return std::nullopt;
}

}  // namespace petrel::arm64
