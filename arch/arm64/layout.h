#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "core/guest_memory.h"

namespace petrel::arm64 {

// The guest physical address map, on one screen. Below 2 GiB: interrupt controller and
// devices; RAM from 2 GiB up (the kvmtool and Firecracker choice, which leaves 32-bit
// device space free and keeps RAM 2 MiB aligned as the arm64 booting rules want). The
// console and platform devices sit where QEMU's virt machine has them (hw/arm/virt.c), so
// a kernel command line written for QEMU (`earlycon=pl011,0x9000000`) works unchanged.
//
//   0x0000_0000 .. 0x0800_0000  GICv3 redistributors, 128 KiB per vCPU, ending at the GICD
//   0x0800_0000 +  64 KiB       GIC distributor
//   0x0801_0000 +   8 KiB       GICv2 CPU interface (GICv2 hosts only)
//   0x0900_0000 +   4 KiB       PL011 UART (console, uart = "pl011")        SPI 1
//   0x0901_0000 +   4 KiB       PL031 RTC                                   SPI 2
//   0x0902_0000 +   4 KiB       test-exit device ([test_exit] only)         no interrupt
//   0x0903_0000 +   4 KiB       PL061 GPIO, power button ([power_button])   SPI 7
//   0x0904_0000 +   4 KiB       16550A UART (console, uart = "16550")       SPI 3
//   0x0a00_0000 + 512 B each    virtio-mmio transports                      SPI 16..
//   0x8000_0000 ..              RAM
inline constexpr uint64_t kGicDistributorBase = 0x0800'0000;
inline constexpr uint64_t kGicDistributorSize = 0x1'0000;
inline constexpr uint64_t kGicRedistributorSizePerVcpu = 0x2'0000;
inline constexpr uint64_t kGicCpuInterfaceBase = 0x0801'0000;
inline constexpr uint64_t kGicCpuInterfaceSize = 0x2000;
inline constexpr uint64_t kPl011Base = 0x0900'0000;
inline constexpr uint64_t kUart16550Base = 0x0904'0000;
inline constexpr uint64_t kRtcBase = 0x0901'0000;
inline constexpr uint64_t kTestExitBase = 0x0902'0000;
inline constexpr uint64_t kPowerButtonBase = 0x0903'0000;  // QEMU virt's PL061 address
inline constexpr uint64_t kVirtioBase = 0x0a00'0000;
inline constexpr uint64_t kVirtioStride = 0x200;
inline constexpr uint64_t kRamBase = 0x8000'0000;

inline constexpr uint32_t kPl011Spi = 1;
inline constexpr uint32_t kUart16550Spi = 3;
inline constexpr uint32_t kRtcSpi = 2;
inline constexpr uint32_t kPowerButtonSpi = 7;  // QEMU virt's PL061 SPI
inline constexpr uint32_t kVirtioFirstSpi = 16;
// Transports from kVirtioBase up, one SPI each, within the SPIs the GIC has.
inline constexpr uint32_t kVirtioMaxDevices = 64;
// SPIs the interrupt controller is given (KVM wants a multiple of 32 on top of the 32
// private interrupts).
inline constexpr uint32_t kSpiCount = 96;

inline constexpr uint64_t kSz2M = 2ull << 20;

// Where a platform device kind (devices/registry.h) goes, by its config table: one window
// each; none for a kind this map has no place for.
std::optional<uint64_t> platform_device_base(std::string_view table);
// Its interrupt, for a kind whose window has one.
std::optional<uint32_t> platform_device_spi(std::string_view table);

// Redistributors sit directly below the distributor, one frame pair per vCPU.
AddressRange gic_redistributor_range(uint32_t vcpus);

// Where the boot payloads go in RAM (Documentation/arch/arm64/booting.rst):
//  - the kernel at a 2 MiB aligned base plus its text_offset;
//  - the device tree on an 8-byte boundary, at most 2 MiB, in a 2 MiB block of its own:
//    we use the last 2 MiB of RAM;
//  - the initrd right below the device tree, page aligned.
struct BootLayout {
  AddressRange kernel;  // load address and image_size (text, data and bss)
  std::optional<AddressRange> initrd;
  AddressRange device_tree;  // the 2 MiB block reserved for it
};

inline constexpr uint64_t kDeviceTreeMaxBytes = kSz2M;

// KERNEL_LOAD_FAILURE when the payloads do not fit in RAM together.
Result<BootLayout> plan_boot_layout(AddressRange ram, uint64_t kernel_text_offset,
                                    uint64_t kernel_image_size,
                                    std::optional<uint64_t> initrd_size);

}  // namespace petrel::arm64
