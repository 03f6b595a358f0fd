#include "arch/arm64/fdt.h"

#include <fmt/format.h>

#include <algorithm>

#include "arch/arm64/layout.h"
#include "core/fdt_writer.h"

namespace petrel::arm64 {

namespace {
// Interrupt specifier cells of the arm,gic bindings.
constexpr uint32_t kGicSpi = 0;
constexpr uint32_t kGicPpi = 1;
constexpr uint32_t kIrqEdgeRising = 1;
constexpr uint32_t kIrqLevelHigh = 4;
constexpr uint32_t kIrqLevelLow = 8;
constexpr uint64_t kMpidrAffinityMask = 0xff00ffffffull;
constexpr uint32_t kApbClockHz = 24'000'000;

// The architected timer's PPIs: secure physical, non-secure physical, virtual, hypervisor.
constexpr uint32_t kTimerPpis[] = {13, 14, 11, 10};

// A device's node from its resources, in one fixed order: compatible, reg, the binding's
// own values, interrupts, clocks, flags, and its phandle if other nodes refer to it. Device
// interrupt lines are GIC SPIs.
void describe_device(FdtWriter& fdt, const DeviceResources& device, uint32_t clock_phandle,
                     std::optional<uint32_t> phandle) {
  fdt.begin_node(device_node_name(device));
  std::vector<std::string_view> compatible(device.compatible.begin(), device.compatible.end());
  fdt.property_strings("compatible", compatible);
  fdt.property_reg(device.mmio.base, device.mmio.size);
  for (const auto& [name, value] : device.values) fdt.property_u32(name, value);
  if (device.interrupt) {
    using Trigger = DeviceResources::Interrupt::Trigger;
    const uint32_t flags =
        device.interrupt->trigger == Trigger::kEdgeRising ? kIrqEdgeRising : kIrqLevelHigh;
    fdt.property_cells("interrupts", {kGicSpi, device.interrupt->line, flags});
  }
  if (!device.clocks.empty()) {
    fdt.property_cells("clocks", std::vector<uint32_t>(device.clocks.size(), clock_phandle));
    std::vector<std::string_view> names(device.clocks.begin(), device.clocks.end());
    fdt.property_strings("clock-names", names);
  }
  for (const std::string& flag : device.flags) fdt.property_empty(flag);
  if (phandle) fdt.property_u32("phandle", *phandle);
  fdt.end_node();
}

bool refers_to_device(std::span<const DeviceResources::Companion> nodes) {
  return std::ranges::any_of(nodes, [](const DeviceResources::Companion& node) {
    return !node.references.empty() || refers_to_device(node.children);
  });
}

// A node that belongs with a device (gpio-keys), its references pointing at the device.
void describe_companion(FdtWriter& fdt, const DeviceResources::Companion& node,
                        uint32_t device_phandle) {
  fdt.begin_node(node.name);
  for (const auto& [name, value] : node.strings) fdt.property_string(name, value);
  for (const auto& [name, value] : node.values) fdt.property_u32(name, value);
  for (const auto& [name, cells] : node.references) {
    std::vector<uint32_t> value{device_phandle};
    value.insert(value.end(), cells.begin(), cells.end());
    fdt.property_cells(name, value);
  }
  for (const auto& child : node.children) describe_companion(fdt, child, device_phandle);
  fdt.end_node();
}

void describe_cpus(FdtWriter& fdt, std::span<const uint64_t> mpidrs) {
  fdt.begin_node("cpus");
  fdt.property_u32("#address-cells", 2);
  fdt.property_u32("#size-cells", 0);
  for (uint64_t mpidr : mpidrs) {
    const uint64_t affinity = mpidr & kMpidrAffinityMask;
    fdt.begin_node(fmt::format("cpu@{:x}", affinity));
    fdt.property_string("device_type", "cpu");
    fdt.property_string("compatible", "arm,arm-v8");
    fdt.property_string("enable-method", "psci");
    fdt.property_cells("reg",
                       {static_cast<uint32_t>(affinity >> 32), static_cast<uint32_t>(affinity)});
    fdt.end_node();
  }
  fdt.end_node();
}

void describe_memory(FdtWriter& fdt, AddressRange ram) {
  fdt.begin_node(fmt::format("memory@{:x}", ram.base));
  fdt.property_string("device_type", "memory");
  fdt.property_reg(ram.base, ram.size);
  fdt.end_node();
}

void describe_chosen(FdtWriter& fdt, const FdtDescription& description) {
  fdt.begin_node("chosen");
  fdt.property_string("bootargs", description.cmdline);
  if (description.initrd) {
    fdt.property_u64("linux,initrd-start", description.initrd->base);
    fdt.property_u64("linux,initrd-end", description.initrd->end());
  }
  if (description.console != nullptr) {
    fdt.property_string("stdout-path", "/" + device_node_name(description.console->resources()));
  }
  fdt.end_node();
}

void describe_gic(FdtWriter& fdt, const FdtDescription& description, uint32_t phandle) {
  fdt.begin_node(fmt::format("interrupt-controller@{:x}", kGicDistributorBase));
  if (description.gic == GicVersion::kV3) {
    const AddressRange redist =
        gic_redistributor_range(static_cast<uint32_t>(description.vcpu_mpidrs.size()));
    fdt.property_string("compatible", "arm,gic-v3");
    fdt.property_cells(
        "reg", {0, static_cast<uint32_t>(kGicDistributorBase), 0,
                static_cast<uint32_t>(kGicDistributorSize), 0, static_cast<uint32_t>(redist.base),
                0, static_cast<uint32_t>(redist.size)});
  } else {
    fdt.property_string("compatible", "arm,cortex-a15-gic");
    fdt.property_cells("reg", {0, static_cast<uint32_t>(kGicDistributorBase), 0,
                               static_cast<uint32_t>(kGicDistributorSize), 0,
                               static_cast<uint32_t>(kGicCpuInterfaceBase), 0,
                               static_cast<uint32_t>(kGicCpuInterfaceSize)});
  }
  fdt.property_u32("#interrupt-cells", 3);
  fdt.property_empty("interrupt-controller");
  fdt.property_u32("#address-cells", 2);
  fdt.property_u32("#size-cells", 2);
  fdt.property_u32("phandle", phandle);
  fdt.end_node();
}

// GICv2 PPIs name the CPUs they reach in bits 8..15 of the flags cell.
uint32_t ppi_cpu_mask(const FdtDescription& description) {
  if (description.gic != GicVersion::kV2) return 0;
  const size_t cpus = std::min<size_t>(description.vcpu_mpidrs.size(), 8);
  return static_cast<uint32_t>(((1u << cpus) - 1) << 8);
}

void describe_timer(FdtWriter& fdt, const FdtDescription& description) {
  // The timer is active-low on GICv2 hosts.
  const uint32_t flags = ppi_cpu_mask(description) |
                         (description.gic == GicVersion::kV2 ? kIrqLevelLow : kIrqLevelHigh);
  std::vector<uint32_t> cells;
  for (uint32_t ppi : kTimerPpis) cells.insert(cells.end(), {kGicPpi, ppi, flags});
  fdt.begin_node("timer");
  fdt.property_string("compatible", "arm,armv8-timer");
  fdt.property_empty("always-on");
  fdt.property_cells("interrupts", cells);
  fdt.end_node();
}

void describe_pmu(FdtWriter& fdt, const FdtDescription& description) {
  fdt.begin_node("pmu");
  fdt.property_string("compatible", "arm,armv8-pmuv3");
  fdt.property_cells("interrupts", {kGicPpi, kPmuPpi, ppi_cpu_mask(description) | kIrqLevelHigh});
  fdt.end_node();
}

void describe_apb_clock(FdtWriter& fdt, uint32_t phandle) {
  fdt.begin_node("apb-pclk");
  fdt.property_string("compatible", "fixed-clock");
  fdt.property_u32("#clock-cells", 0);
  fdt.property_u32("clock-frequency", kApbClockHz);
  fdt.property_string("clock-output-names", "clk24mhz");
  fdt.property_u32("phandle", phandle);
  fdt.end_node();
}

void describe_psci(FdtWriter& fdt) {
  fdt.begin_node("psci");
  // KVM implements PSCI 0.2 and later; 0.2 is what the guest needs for CPU_ON,
  // SYSTEM_OFF and SYSTEM_RESET with the standard function IDs.
  fdt.property_strings("compatible", {"arm,psci-0.2", "arm,psci"});
  fdt.property_string("method", "hvc");
  fdt.end_node();
}
}  // namespace

std::string device_node_name(const DeviceResources& device) {
  return fmt::format("{}@{:x}", device.kind, device.mmio.base);
}

uint64_t default_mpidr(uint32_t index) {
  return (1ull << 31) | (index & 0x0f) | (static_cast<uint64_t>((index >> 4) & 0xff) << 8) |
         (static_cast<uint64_t>((index >> 12) & 0xff) << 16);
}

Result<std::vector<uint8_t>> build_device_tree(const FdtDescription& description) {
  FdtWriter fdt;
  const uint32_t gic_phandle = fdt.allocate_phandle();
  const uint32_t clock_phandle = fdt.allocate_phandle();

  fdt.begin_node("");
  fdt.property_string("compatible", "linux,dummy-virt");
  fdt.property_u32("#address-cells", 2);
  fdt.property_u32("#size-cells", 2);
  fdt.property_u32("interrupt-parent", gic_phandle);

  describe_cpus(fdt, description.vcpu_mpidrs);
  describe_memory(fdt, description.ram);
  describe_chosen(fdt, description);
  describe_gic(fdt, description, gic_phandle);
  describe_timer(fdt, description);
  if (description.pmu) describe_pmu(fdt, description);
  describe_apb_clock(fdt, clock_phandle);
  describe_psci(fdt);

  for (const auto& device : description.devices) {
    const DeviceResources resources = device->resources();
    // Allocated only for a device something refers to, so that other trees stay as they were.
    std::optional<uint32_t> phandle;
    if (refers_to_device(resources.companions)) phandle = fdt.allocate_phandle();
    describe_device(fdt, resources, clock_phandle, phandle);
    for (const auto& companion : resources.companions) {
      describe_companion(fdt, companion, phandle.value_or(0));
    }
  }
  fdt.end_node();

  auto blob = fdt.finish();
  if (blob && blob->size() > kDeviceTreeMaxBytes) {
    return fail(ExitCode::kInternalError,
                "device tree exceeds the 2 MiB the arm64 boot protocol allows");
  }
  return blob;
}

}  // namespace petrel::arm64
