// libFuzzer target for the device tree (arch/arm64/fdt.cc over core/fdt_writer.cc): a
// board as a valid config can describe it (vCPUs, RAM, command line, initrd, GIC version,
// any count of each device kind) is built for description only (arch/arm64/board.cc, as
// `petrel dtb` does) and its tree written; optionally with one more device whose resources
// (kind, compatible strings, values, interrupt, clock, flags) the input makes up. Besides
// crashes and sanitizer reports, a finding is a tree libfdt's fdt_check_full() refuses, one
// that does not say what the description did, or an error for a board that any valid
// config can ask for. See tests/fuzz/README.md.

#include <libfdt.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "arch/arm64/board.h"
#include "arch/arm64/fdt.h"
#include "arch/arm64/layout.h"
#include "core/config.h"
#include "core/fdt_writer.h"
#include "devices/test_exit.h"
#include "devices/virtio_block.h"
#include "devices/virtio_fs.h"
#include "devices/virtio_net.h"
#include "devices/virtio_rng.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace petrel;
using namespace petrel::arm64;
using fuzz::Input;

// Node and property names from the characters device-tree names may hold.
std::string name_from(Input& in, size_t max) {
  static constexpr std::string_view kChars = "abcdefghijklmnopqrstuvwxyz0123456789,._+-";
  const size_t length = 1 + in.take<uint8_t>() % max;
  std::string name;
  for (size_t i = 0; i < length; ++i) name += kChars[in.take<uint8_t>() % kChars.size()];
  return name;
}

// A device at an address no other device uses, whose resources are what the input says:
// any kind, compatible strings, values, interrupt, bus clock and flags. Property names are
// unique in a node, as a device's binding has them.
class ExtraDevice final : public MmioDevice {
 public:
  explicit ExtraDevice(Input& in) {
    resources_.kind = name_from(in, 31);
    resources_.mmio = {0x0903'0000, 0x1000};
    std::set<std::string> names = {"compatible", "reg", "interrupts", "clocks", "clock-names"};
    const auto counts = in.take<uint8_t>();
    for (int i = 0; i < (counts & 3); ++i) {
      const auto text = in.bytes(in.take<uint8_t>() % 64);
      std::string compatible(text.begin(), text.end());
      std::erase(compatible, '\0');  // a NUL would split the list
      resources_.compatible.push_back(std::move(compatible));
    }
    for (int i = 0; i < ((counts >> 2) & 7); ++i) {
      std::string name = name_from(in, 31);
      const auto value = in.take<uint32_t>();
      if (names.insert(name).second) resources_.values.emplace_back(std::move(name), value);
    }
    if ((counts & 0x20) != 0) {
      const auto line = in.take<uint8_t>();
      resources_.interrupt = DeviceResources::Interrupt{
          line, (line & 1) != 0 ? DeviceResources::Interrupt::Trigger::kEdgeRising
                                : DeviceResources::Interrupt::Trigger::kLevelHigh};
    }
    if ((counts & 0x40) != 0) resources_.clocks = {"apb_pclk"};
    const int flags = (counts & 0x80) != 0 ? 1 + in.take<uint8_t>() % 4 : 0;
    for (int i = 0; i < flags; ++i) {
      std::string name = name_from(in, 31);
      if (names.insert(name).second) resources_.flags.push_back(std::move(name));
    }
  }
  std::string_view name() const override { return "fuzz"; }
  AddressRange mmio_range() const override { return resources_.mmio; }
  void mmio_read(uint64_t, std::span<uint8_t>) override {}
  void mmio_write(uint64_t, std::span<const uint8_t>) override {}
  DeviceResources resources() const override { return resources_; }

 private:
  DeviceResources resources_;
};

struct UnconnectedLine final : InterruptLine {
  void set_level(bool) override {}
};

std::string property_string(const void* blob, const char* path, const char* name) {
  const int node = fdt_path_offset(blob, path);
  PETREL_FUZZ_CHECK(node >= 0);
  int length = 0;
  const auto* value = static_cast<const char*>(fdt_getprop(blob, node, name, &length));
  PETREL_FUZZ_CHECK(value != nullptr && length >= 1 && value[length - 1] == '\0');
  return std::string(value, static_cast<size_t>(length - 1));
}

uint64_t property_u64(const void* blob, const char* path, const char* name) {
  const int node = fdt_path_offset(blob, path);
  PETREL_FUZZ_CHECK(node >= 0);
  int length = 0;
  const void* value = fdt_getprop(blob, node, name, &length);
  PETREL_FUZZ_CHECK(value != nullptr && length == 8);
  fdt64_t big_endian;
  std::memcpy(&big_endian, value, 8);
  return fdt64_to_cpu(big_endian);
}

int subnode_count(const void* blob, int parent) {
  int count = 0;
  int node;
  fdt_for_each_subnode(node, blob, parent)++ count;
  return count;
}

// The device's node says what its resources do.
void check_node(const void* blob, const DeviceResources& device) {
  const std::string path = "/" + device_node_name(device);
  const int node = fdt_path_offset(blob, path.c_str());
  PETREL_FUZZ_CHECK(node >= 0);
  int length = 0;
  const auto* compatible = static_cast<const char*>(fdt_getprop(blob, node, "compatible", &length));
  PETREL_FUZZ_CHECK(compatible != nullptr);
  std::string joined;
  for (const std::string& c : device.compatible) joined += c + '\0';
  PETREL_FUZZ_CHECK(std::string_view(compatible, static_cast<size_t>(length)) == joined);
  for (const auto& [name, value] : device.values) {
    const void* bytes = fdt_getprop(blob, node, name.c_str(), &length);
    PETREL_FUZZ_CHECK(bytes != nullptr && length == 4);
    fdt32_t big_endian;
    std::memcpy(&big_endian, bytes, 4);
    PETREL_FUZZ_CHECK(fdt32_to_cpu(big_endian) == value);
  }
  PETREL_FUZZ_CHECK((fdt_getprop(blob, node, "interrupts", nullptr) != nullptr) ==
                    device.interrupt.has_value());
  PETREL_FUZZ_CHECK((fdt_getprop(blob, node, "clocks", nullptr) != nullptr) ==
                    !device.clocks.empty());
  for (const std::string& flag : device.flags) {
    PETREL_FUZZ_CHECK(fdt_getprop(blob, node, flag.c_str(), &length) != nullptr && length == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

// Input: flags (bit 0 GICv2, bit 1 an initrd, bit 2 [test_exit], bit 3 [rng], bit 4 the
// extra device), a u16 vCPU count (1 + it modulo 512), a u16 RAM size (64 MiB + it times
// 2 MiB), counts of drives, nets and shares (modulo the limit plus one), the kernel's u32
// text offset and image size and the initrd's u32 size, a u16 command line length (modulo
// 2048) and its bytes (a NUL ends it), then the extra device's resources: its kind (a
// length byte and a byte per character), a byte of counts (bits 0-1 compatible strings,
// bits 2-4 values, bit 5 an interrupt, bit 6 the bus clock, bit 7 flags), each compatible
// string (a length byte and its bytes), each value (a name as the kind, a u32), the
// interrupt line (a byte, its bit 0 edge-triggered), the flag count (a byte) and names.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const auto flags = in.take<uint8_t>();
  Config config;
  config.machine.vcpus = 1 + in.take<uint16_t>() % kMaxConfigVcpus;
  config.machine.memory_bytes = kMinMemoryBytes + in.take<uint16_t>() * (2ull << 20);
  // In the registry's order, as the loader lists them.
  const size_t drives = in.take<uint8_t>() % (virtio::kMaxDrives + 1);
  const size_t nets = in.take<uint8_t>() % (virtio::kMaxNets + 1);
  const size_t shares = in.take<uint8_t>() % (virtio::kMaxShares + 1);
  for (size_t i = 0; i < drives; ++i) {
    config.devices.push_back({&virtio::kDriveType.config, i, virtio::DriveConfig{}});
  }
  for (size_t i = 0; i < nets; ++i) {
    config.devices.push_back({&virtio::kNetType.config, i, virtio::NetConfig{}});
  }
  if ((flags & 8) != 0) config.devices.push_back({&virtio::kRngType.config, 0, {}});
  for (size_t i = 0; i < shares; ++i) {
    config.devices.push_back({&virtio::kShareType.config, i, virtio::ShareConfig{}});
  }
  if ((flags & 4) != 0) config.devices.push_back({&kTestExitType.config, 0, {}});
  const auto text_offset = in.take<uint32_t>();
  const auto image_size = in.take<uint32_t>();
  const auto initrd_size = in.take<uint32_t>();
  const auto cmdline = in.bytes(in.take<uint16_t>() % kMaxCmdlineBytes);
  config.boot.cmdline.assign(cmdline.begin(), cmdline.end());
  config.boot.cmdline.resize(std::min(config.boot.cmdline.find('\0'), config.boot.cmdline.size()));
  const GicVersion gic = (flags & 1) != 0 ? GicVersion::kV2 : GicVersion::kV3;

  auto layout =
      plan_boot_layout(ram_range(config), text_offset, image_size,
                       (flags & 2) != 0 ? std::optional<uint64_t>(initrd_size) : std::nullopt);
  if (!layout) return 0;  // a kernel or initrd that does not fit: `run` stops before the tree
  const BootPlan plan{KernelImage{text_offset, image_size, 0}, *layout};

  BoardWiring wiring;
  wiring.lines = [](uint32_t) { return std::make_unique<UnconnectedLine>(); };
  wiring.console_output = [](std::span<const uint8_t>) {};
  auto board = Board::build(config, std::move(wiring));
  if (!board) fuzz::finding("a valid config's board cannot be built: " + board.error().message);
  std::vector<uint64_t> mpidrs;
  for (uint32_t i = 0; i < config.machine.vcpus; ++i) mpidrs.push_back(default_mpidr(i));

  const bool extra = (flags & 0x10) != 0;
  Result<std::vector<uint8_t>> tree;
  std::vector<std::shared_ptr<MmioDevice>> devices = (*board)->bus().devices();
  if (!extra) {
    tree = (*board)->device_tree(config, plan, mpidrs, gic);
    if (!tree) fuzz::finding("a valid config's tree cannot be written: " + tree.error().message);
  } else {
    // In address order, as the bus keeps them.
    auto device = std::make_shared<ExtraDevice>(in);
    const auto at = std::ranges::find_if(devices, [&device](const auto& other) {
      return other->mmio_range().base > device->mmio_range().base;
    });
    devices.insert(at, std::move(device));
    FdtDescription description;
    description.vcpu_mpidrs = mpidrs;
    description.ram = ram_range(config);
    description.cmdline = config.boot.cmdline;
    description.initrd = plan.layout.initrd;
    description.gic = gic;
    description.devices = devices;
    description.console = &(*board)->console();
    tree = build_device_tree(description);
    if (!tree) {
      // Only the extra device's bulk may make it too large.
      PETREL_FUZZ_CHECK(tree.error().code == ExitCode::kInternalError);
      PETREL_FUZZ_CHECK(tree.error().message.find('\n') == std::string::npos);
      return 0;
    }
  }

  const void* blob = tree->data();
  PETREL_FUZZ_CHECK(fdt_check_full(blob, tree->size()) == 0);
  PETREL_FUZZ_CHECK(tree->size() <= kDeviceTreeMaxBytes);
  PETREL_FUZZ_CHECK(property_string(blob, "/chosen", "bootargs") == config.boot.cmdline);
  if (plan.layout.initrd) {
    PETREL_FUZZ_CHECK(property_u64(blob, "/chosen", "linux,initrd-start") ==
                      plan.layout.initrd->base);
    PETREL_FUZZ_CHECK(property_u64(blob, "/chosen", "linux,initrd-end") ==
                      plan.layout.initrd->end());
  }
  PETREL_FUZZ_CHECK(subnode_count(blob, fdt_path_offset(blob, "/cpus")) ==
                    static_cast<int>(config.machine.vcpus));
  // Root: cpus, memory, chosen, interrupt controller, timer, clock, psci, then the devices.
  PETREL_FUZZ_CHECK(subnode_count(blob, 0) == 7 + static_cast<int>(devices.size()));
  for (const auto& device : devices) {
    check_node(blob, device->resources());
  }
  return 0;
}
