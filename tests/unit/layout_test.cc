#include "arch/arm64/layout.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <iterator>
#include <optional>

namespace petrel::arm64 {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kPage = 4096;

bool inside(AddressRange outer, AddressRange inner) {
  return outer.contains(inner.base, inner.size);
}

// The rules every successful plan obeys.
void check_invariants(AddressRange ram, const BootLayout& layout) {
  CHECK(inside(ram, layout.kernel));
  CHECK(inside(ram, layout.device_tree));
  CHECK(layout.device_tree.base == ram.end() - kSz2M);
  CHECK(layout.device_tree.size == kSz2M);
  CHECK(layout.device_tree.base % kSz2M == 0);
  CHECK_FALSE(layout.kernel.overlaps(layout.device_tree));
  CHECK(layout.kernel.end() <= layout.device_tree.base);
  if (layout.initrd) {
    CHECK(inside(ram, *layout.initrd));
    CHECK(layout.initrd->base % kPage == 0);
    CHECK(layout.initrd->end() <= layout.device_tree.base);
    CHECK(layout.device_tree.base - layout.initrd->end() < kPage);  // right below it
    CHECK(layout.initrd->base >= layout.kernel.end());
    CHECK_FALSE(layout.initrd->overlaps(layout.kernel));
    CHECK_FALSE(layout.initrd->overlaps(layout.device_tree));
  }
}

TEST_CASE("layout: kernel, initrd and device tree placement", "[layout]") {
  const AddressRange ram{kRamBase, 256 * kMiB};
  const uint64_t initrd_size = 5 * kMiB + 123;
  auto layout = plan_boot_layout(ram, 0, 20 * kMiB, initrd_size);
  REQUIRE(layout);
  CHECK(layout->kernel.base == ram.base);
  CHECK(layout->kernel.size == 20 * kMiB);
  CHECK(layout->device_tree.base == 0x8000'0000 + 254 * kMiB);
  REQUIRE(layout->initrd);
  CHECK(layout->initrd->size == initrd_size);
  // Page-aligned down from the device tree: 5 MiB + 123 B rounds to 5 MiB + 4 KiB.
  CHECK(layout->initrd->base == layout->device_tree.base - 5 * kMiB - kPage);
  check_invariants(ram, *layout);
}

TEST_CASE("layout: the kernel sits text_offset above the start of RAM", "[layout]") {
  const AddressRange ram{kRamBase, 64 * kMiB};
  for (uint64_t text_offset : {0ull, 0x80000ull, 0x1ff000ull}) {
    INFO("text_offset " << std::hex << text_offset);
    auto layout = plan_boot_layout(ram, text_offset, 8 * kMiB, std::nullopt);
    REQUIRE(layout);
    CHECK(layout->kernel.base == ram.base + text_offset);
    CHECK(layout->kernel.size == 8 * kMiB);
    CHECK_FALSE(layout->initrd);
    check_invariants(ram, *layout);
  }
}

TEST_CASE("layout: a page-sized initrd and an exactly fitting one", "[layout]") {
  const AddressRange ram{kRamBase, 16 * kMiB};
  auto layout = plan_boot_layout(ram, 0, 4 * kMiB, kPage);
  REQUIRE(layout);
  REQUIRE(layout->initrd);
  CHECK(layout->initrd->base == layout->device_tree.base - kPage);
  check_invariants(ram, *layout);

  // Kernel and initrd fill everything below the device tree.
  layout = plan_boot_layout(ram, 0, 4 * kMiB, 10 * kMiB);
  REQUIRE(layout);
  REQUIRE(layout->initrd);
  CHECK(layout->initrd->base == layout->kernel.end());
  check_invariants(ram, *layout);
}

TEST_CASE("layout: the smallest RAM holds a kernel up to the device tree", "[layout]") {
  const AddressRange ram{kRamBase, 2 * kSz2M};
  auto layout = plan_boot_layout(ram, 0, kSz2M, std::nullopt);
  REQUIRE(layout);
  CHECK(layout->kernel.end() == layout->device_tree.base);
  check_invariants(ram, *layout);
}

TEST_CASE("layout: a kernel too big for RAM is KERNEL_LOAD_FAILURE", "[layout]") {
  const AddressRange ram{kRamBase, 64 * kMiB};
  // It may reach the device tree but not into it.
  REQUIRE(plan_boot_layout(ram, 0, 62 * kMiB, std::nullopt));
  for (uint64_t size :
       std::initializer_list<uint64_t>{62 * kMiB + 1, 64 * kMiB, 1ull << 40, UINT64_MAX}) {
    INFO("image_size " << size);
    auto layout = plan_boot_layout(ram, 0, size, std::nullopt);
    REQUIRE_FALSE(layout);
    CHECK(layout.error().code == ExitCode::kKernelLoadFailure);
  }
  // With text_offset, the same size no longer fits.
  auto layout = plan_boot_layout(ram, 0x80000, 62 * kMiB, std::nullopt);
  REQUIRE_FALSE(layout);
  CHECK(layout.error().code == ExitCode::kKernelLoadFailure);
}

TEST_CASE("layout: a text_offset at or past the device tree is refused", "[layout]") {
  const AddressRange ram{kRamBase, 2 * kSz2M};
  for (uint64_t text_offset :
       std::initializer_list<uint64_t>{kSz2M, kSz2M + 0x1000, 2 * kSz2M, 1ull << 40}) {
    INFO("text_offset " << std::hex << text_offset);
    auto layout = plan_boot_layout(ram, text_offset, 0x1000, std::nullopt);
    REQUIRE_FALSE(layout);
    CHECK(layout.error().code == ExitCode::kKernelLoadFailure);
  }
}

TEST_CASE("layout: an initrd too big for what is left is KERNEL_LOAD_FAILURE", "[layout]") {
  const AddressRange ram{kRamBase, 64 * kMiB};
  for (uint64_t size : {32 * kMiB + 1, 64 * kMiB, UINT64_MAX}) {
    INFO("initrd " << size);
    auto layout = plan_boot_layout(ram, 0, 30 * kMiB, size);
    REQUIRE_FALSE(layout);
    CHECK(layout.error().code == ExitCode::kKernelLoadFailure);
  }
  // It fits by size, but page alignment would push it into an unaligned kernel end.
  const uint64_t kernel = 30 * kMiB + 1;
  auto layout = plan_boot_layout(ram, 0, kernel, 62 * kMiB - kernel);
  REQUIRE_FALSE(layout);
  CHECK(layout.error().code == ExitCode::kKernelLoadFailure);
  // A kernel filling RAM up to the device tree leaves no room for any initrd.
  layout = plan_boot_layout(ram, 0, 62 * kMiB, 1);
  REQUIRE_FALSE(layout);
  CHECK(layout.error().code == ExitCode::kKernelLoadFailure);
}

TEST_CASE("layout: RAM must be 2 MiB aligned and at least 4 MiB", "[layout]") {
  for (AddressRange ram :
       {AddressRange{kRamBase + 0x1000, 64 * kMiB}, AddressRange{kRamBase, 64 * kMiB + 0x1000},
        AddressRange{kRamBase, kSz2M}, AddressRange{kRamBase, 0}}) {
    INFO("ram " << std::hex << ram.base << "+" << ram.size);
    auto layout = plan_boot_layout(ram, 0, 0x1000, std::nullopt);
    REQUIRE_FALSE(layout);
    CHECK(layout.error().code == ExitCode::kKernelLoadFailure);
  }
}

TEST_CASE("layout: GICv3 redistributors end at the distributor", "[layout]") {
  for (uint32_t vcpus : {1u, 2u, 8u, 64u}) {
    INFO(vcpus << " vCPUs");
    const AddressRange redist = gic_redistributor_range(vcpus);
    CHECK(redist.size == vcpus * kGicRedistributorSizePerVcpu);
    CHECK(redist.end() == kGicDistributorBase);
    CHECK_FALSE(redist.overlaps({kGicDistributorBase, kGicDistributorSize}));
  }
  CHECK(gic_redistributor_range(2).base == 0x0800'0000 - 0x4'0000);
}

TEST_CASE("layout: the fixed map does not collide", "[layout]") {
  const AddressRange distributor{kGicDistributorBase, kGicDistributorSize};
  const AddressRange cpu_interface{kGicCpuInterfaceBase, kGicCpuInterfaceSize};
  const AddressRange pl011{kPl011Base, 0x1000};
  const AddressRange rtc{kRtcBase, 0x1000};
  const AddressRange test_exit{kTestExitBase, 0x1000};
  const AddressRange pl061{0x0903'0000, 0x1000};  // QEMU virt's GPIO slot, kept free for it
  const AddressRange uart16550{kUart16550Base, 0x1000};
  const AddressRange virtio{kVirtioBase, 32 * kVirtioStride};
  const AddressRange ram{kRamBase, 1ull << 30};
  const AddressRange all[] = {gic_redistributor_range(123),
                              distributor,
                              cpu_interface,
                              pl011,
                              rtc,
                              test_exit,
                              pl061,
                              uart16550,
                              virtio,
                              ram};
  for (size_t i = 0; i < std::size(all); ++i) {
    for (size_t j = i + 1; j < std::size(all); ++j) {
      INFO(i << " vs " << j);
      CHECK_FALSE(all[i].overlaps(all[j]));
    }
  }
  CHECK(kRamBase % kSz2M == 0);
  // QEMU virt's console, where kernel test loops' `earlycon=pl011,0x9000000` looks.
  CHECK(kPl011Base == 0x0900'0000);
  CHECK(kPl011Spi == 1);
  CHECK(kUart16550Spi != kPl011Spi);
  CHECK(kUart16550Spi != kRtcSpi);
  CHECK(kUart16550Spi < kVirtioFirstSpi);
}

}  // namespace
}  // namespace petrel::arm64
