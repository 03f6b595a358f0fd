#include "arch/arm64/fdt.h"

#include <libfdt.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "arch/arm64/layout.h"
#include "core/fdt_writer.h"
#include "devices/pl011.h"
#include "devices/pl031.h"
#include "devices/uart16550.h"

namespace petrel::arm64 {
namespace {

constexpr uint64_t kRamSize = 512ull << 20;
constexpr AddressRange kInitrd{0x9f00'0000, 0x12'3456};
constexpr const char* kCmdline = "console=ttyAMA0 earlycon=pl011,0x9000000 root=/dev/vda";

class NullIrq final : public InterruptLine {
 public:
  void set_level(bool) override {}
};

// A device tree blob and libfdt lookups into it; failures to find things are test failures.
class Tree {
 public:
  explicit Tree(std::vector<uint8_t> blob) : blob_(std::move(blob)) {}
  const void* fdt() const { return blob_.data(); }
  size_t size() const { return blob_.size(); }

  int node(const std::string& path) const {
    const int offset = fdt_path_offset(fdt(), path.c_str());
    INFO("node " << path);
    REQUIRE(offset >= 0);
    return offset;
  }
  bool has_node(const std::string& path) const { return fdt_path_offset(fdt(), path.c_str()) >= 0; }

  std::string_view raw(int node, const char* name) const {
    int length = 0;
    const void* value = fdt_getprop(fdt(), node, name, &length);
    INFO("property " << name);
    REQUIRE(value != nullptr);
    return {static_cast<const char*>(value), static_cast<size_t>(length)};
  }
  std::string_view raw(const std::string& path, const char* name) const {
    return raw(node(path), name);
  }
  bool has(const std::string& path, const char* name) const {
    return fdt_getprop(fdt(), node(path), name, nullptr) != nullptr;
  }
  std::vector<uint32_t> cells(const std::string& path, const char* name) const {
    return cells(node(path), name);
  }
  std::vector<uint32_t> cells(int node, const char* name) const {
    const std::string_view bytes = raw(node, name);
    REQUIRE(bytes.size() % 4 == 0);
    std::vector<uint32_t> out;
    for (size_t i = 0; i < bytes.size(); i += 4) {
      fdt32_t cell;
      std::memcpy(&cell, bytes.data() + i, 4);
      out.push_back(fdt32_to_cpu(cell));
    }
    return out;
  }
  uint32_t u32(const std::string& path, const char* name) const {
    const auto c = cells(path, name);
    REQUIRE(c.size() == 1);
    return c[0];
  }
  uint64_t u64(const std::string& path, const char* name) const {
    const std::string_view bytes = raw(path, name);
    REQUIRE(bytes.size() == 8);
    fdt64_t value;
    std::memcpy(&value, bytes.data(), 8);
    return fdt64_to_cpu(value);
  }
  // A single string property, without its terminating NUL.
  std::string string(int node, const char* name) const {
    const std::string_view bytes = raw(node, name);
    REQUIRE(!bytes.empty());
    REQUIRE(bytes.back() == '\0');
    REQUIRE(bytes.find('\0') == bytes.size() - 1);
    return std::string(bytes.substr(0, bytes.size() - 1));
  }
  std::string string(const std::string& path, const char* name) const {
    return string(node(path), name);
  }
  bool list_contains(const std::string& path, const char* name, const char* value) const {
    const std::string_view bytes = raw(path, name);
    return fdt_stringlist_contains(bytes.data(), static_cast<int>(bytes.size()), value) == 1;
  }

 private:
  std::vector<uint8_t> blob_;
};

struct Board {
  NullIrq irq;
  std::vector<uint64_t> mpidrs{default_mpidr(0), default_mpidr(1)};
  std::shared_ptr<Pl011> pl011 =
      std::make_shared<Pl011>(kPl011Base, kPl011Spi, irq, [](std::span<const uint8_t>) {});
  std::shared_ptr<Pl031> rtc = std::make_shared<Pl031>(kRtcBase, kRtcSpi, irq);
  std::shared_ptr<Uart16550> uart16550 = std::make_shared<Uart16550>(
      kUart16550Base, kUart16550Spi, irq, [](std::span<const uint8_t>) {});
  std::vector<std::shared_ptr<MmioDevice>> devices{pl011, rtc};
  const MmioDevice* console = pl011.get();

  Tree build(GicVersion gic, bool with_initrd = true, bool with_console = true,
             bool pmu = false) const {
    FdtDescription description;
    description.vcpu_mpidrs = mpidrs;
    description.ram = {kRamBase, kRamSize};
    description.cmdline = kCmdline;
    if (with_initrd) description.initrd = kInitrd;
    description.gic = gic;
    description.pmu = pmu;
    description.devices = devices;
    description.console = with_console ? console : nullptr;
    auto blob = build_device_tree(description);
    REQUIRE(blob);
    REQUIRE(fdt_check_header(blob->data()) == 0);
    REQUIRE(fdt_totalsize(blob->data()) == blob->size());
    REQUIRE(fdt_check_full(blob->data(), blob->size()) == 0);
    return Tree(std::move(*blob));
  }
};

const std::string kGicPath = "/interrupt-controller@8000000";

TEST_CASE("fdt: default MPIDRs follow KVM's affinity assignment", "[fdt]") {
  CHECK(default_mpidr(0) == 0x8000'0000u);
  CHECK(default_mpidr(1) == 0x8000'0001u);
  CHECK(default_mpidr(15) == 0x8000'000fu);
  CHECK(default_mpidr(16) == 0x8000'0100u);
  CHECK(default_mpidr(17) == 0x8000'0101u);
  CHECK(default_mpidr(0x1234) == 0x8001'2304u);
}

TEST_CASE("fdt: root, cpus, memory and chosen", "[fdt]") {
  Board board;
  const Tree tree = board.build(GicVersion::kV3);

  CHECK(tree.string("/", "compatible") == "linux,dummy-virt");
  CHECK(tree.u32("/", "#address-cells") == 2);
  CHECK(tree.u32("/", "#size-cells") == 2);

  CHECK(tree.u32("/cpus", "#address-cells") == 2);
  CHECK(tree.u32("/cpus", "#size-cells") == 0);
  int cpus = 0;
  int child = 0;
  fdt_for_each_subnode(child, tree.fdt(), tree.node("/cpus")) {
    INFO("cpu " << cpus);
    REQUIRE(cpus < 2);
    CHECK(tree.string(child, "device_type") == "cpu");
    CHECK(tree.string(child, "enable-method") == "psci");
    const uint64_t affinity = board.mpidrs[cpus] & 0xff00ffffffull;
    CHECK(tree.cells(child, "reg") == std::vector<uint32_t>{static_cast<uint32_t>(affinity >> 32),
                                                            static_cast<uint32_t>(affinity)});
    CHECK(std::string(fdt_get_name(tree.fdt(), child, nullptr)) == "cpu@" + std::to_string(cpus));
    ++cpus;
  }
  CHECK(cpus == 2);
  CHECK(tree.cells("/cpus/cpu@1", "reg") == std::vector<uint32_t>{0, 1});

  const std::string memory = "/memory@80000000";
  CHECK(tree.string(memory, "device_type") == "memory");
  CHECK(tree.cells(memory, "reg") == std::vector<uint32_t>{0, 0x8000'0000, 0, 0x2000'0000});

  CHECK(tree.string("/chosen", "bootargs") == kCmdline);
  CHECK(tree.u64("/chosen", "linux,initrd-start") == kInitrd.base);
  CHECK(tree.u64("/chosen", "linux,initrd-end") == kInitrd.base + kInitrd.size);
  CHECK(tree.string("/chosen", "stdout-path") == "/serial@9000000");
  CHECK(tree.has_node(tree.string("/chosen", "stdout-path")));
}

TEST_CASE("fdt: chosen without initrd or console", "[fdt]") {
  Board board;
  const Tree tree = board.build(GicVersion::kV3, false, false);
  CHECK(tree.string("/chosen", "bootargs") == kCmdline);
  CHECK_FALSE(tree.has("/chosen", "linux,initrd-start"));
  CHECK_FALSE(tree.has("/chosen", "linux,initrd-end"));
  CHECK_FALSE(tree.has("/chosen", "stdout-path"));
}

TEST_CASE("fdt: GICv3, timer and psci", "[fdt]") {
  Board board;
  const Tree tree = board.build(GicVersion::kV3);

  CHECK(tree.string(kGicPath, "compatible") == "arm,gic-v3");
  CHECK(tree.cells(kGicPath, "reg") ==
        std::vector<uint32_t>{0, 0x0800'0000, 0, 0x1'0000,    // distributor
                              0, 0x07fc'0000, 0, 0x4'0000});  // 2 x 128 KiB redistributors
  CHECK(tree.u32(kGicPath, "#interrupt-cells") == 3);
  CHECK(tree.raw(kGicPath, "interrupt-controller").empty());
  const uint32_t phandle = tree.u32(kGicPath, "phandle");
  CHECK(phandle != 0);
  CHECK(tree.u32("/", "interrupt-parent") == phandle);
  CHECK(fdt_node_offset_by_phandle(tree.fdt(), phandle) == tree.node(kGicPath));

  CHECK(tree.string("/timer", "compatible") == "arm,armv8-timer");
  CHECK(tree.cells("/timer", "interrupts") ==
        std::vector<uint32_t>{1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4});

  CHECK(tree.string("/psci", "method") == "hvc");
  CHECK(tree.list_contains("/psci", "compatible", "arm,psci-0.2"));
}

TEST_CASE("fdt: the UART and RTC describe themselves", "[fdt]") {
  Board board;
  const Tree tree = board.build(GicVersion::kV3);

  // The PL011 as Linux's binding (serial/pl011.yaml) and QEMU's virt machine have it.
  const std::string serial = "/serial@9000000";
  CHECK(tree.list_contains(serial, "compatible", "arm,pl011"));
  CHECK(tree.list_contains(serial, "compatible", "arm,primecell"));
  CHECK(tree.cells(serial, "reg") == std::vector<uint32_t>{0, 0x0900'0000, 0, 0x1000});
  CHECK(tree.cells(serial, "interrupts") == std::vector<uint32_t>{0, 1, 4});
  const uint32_t clock = tree.u32("/apb-pclk", "phandle");
  CHECK(tree.cells(serial, "clocks") == std::vector<uint32_t>{clock, clock});
  CHECK(tree.list_contains(serial, "clock-names", "uartclk"));
  CHECK(tree.list_contains(serial, "clock-names", "apb_pclk"));
  const std::string_view names = tree.raw(serial, "clock-names");
  CHECK(std::string(names.data(), names.size()) == std::string("uartclk\0apb_pclk\0", 17));

  const std::string rtc = "/rtc@9010000";
  CHECK(tree.list_contains(rtc, "compatible", "arm,pl031"));
  CHECK(tree.list_contains(rtc, "compatible", "arm,primecell"));
  CHECK(tree.cells(rtc, "reg") == std::vector<uint32_t>{0, 0x0901'0000, 0, 0x1000});
  CHECK(tree.cells(rtc, "interrupts") == std::vector<uint32_t>{0, 2, 4});
  CHECK(tree.string(rtc, "clock-names") == "apb_pclk");
  CHECK(tree.u32(rtc, "clocks") == clock);
  CHECK(clock != tree.u32(kGicPath, "phandle"));
  CHECK(fdt_node_offset_by_phandle(tree.fdt(), clock) == tree.node("/apb-pclk"));
  CHECK(tree.string("/apb-pclk", "compatible") == "fixed-clock");
  CHECK(tree.u32("/apb-pclk", "#clock-cells") == 0);
  CHECK(tree.u32("/apb-pclk", "clock-frequency") == 24'000'000);

  // Devices follow the fixed nodes, in address order.
  CHECK(fdt_node_offset_by_compatible(tree.fdt(), -1, "arm,pl011") == tree.node(serial));
  CHECK(tree.node("/psci") < tree.node(serial));
  CHECK(tree.node(serial) < tree.node(rtc));
}

TEST_CASE("fdt: a 16550 console in its own slot, stdout-path following it", "[fdt]") {
  Board board;
  board.devices = {board.rtc, board.uart16550};
  board.console = board.uart16550.get();
  const Tree tree = board.build(GicVersion::kV3);
  const std::string serial = "/serial@9040000";
  CHECK(tree.string(serial, "compatible") == "ns16550a");
  CHECK(tree.cells(serial, "reg") == std::vector<uint32_t>{0, 0x0904'0000, 0, 0x1000});
  CHECK(tree.cells(serial, "interrupts") == std::vector<uint32_t>{0, 3, 4});
  CHECK(tree.u32(serial, "clock-frequency") == 1'843'200);
  CHECK_FALSE(tree.has(serial, "clocks"));
  CHECK(tree.string("/chosen", "stdout-path") == serial);
  CHECK_FALSE(tree.has_node("/serial@9000000"));
}

TEST_CASE("fdt: the GICv2 variant", "[fdt]") {
  Board board;
  const Tree tree = board.build(GicVersion::kV2);
  CHECK(tree.string(kGicPath, "compatible") == "arm,cortex-a15-gic");
  CHECK(tree.cells(kGicPath, "reg") ==
        std::vector<uint32_t>{0, 0x0800'0000, 0, 0x1'0000,  // distributor
                              0, 0x0801'0000, 0, 0x2000});  // CPU interface
  const uint32_t phandle = tree.u32(kGicPath, "phandle");
  CHECK(tree.u32("/", "interrupt-parent") == phandle);
  CHECK(tree.u32(kGicPath, "#interrupt-cells") == 3);
  // PPIs carry a CPU mask (two CPUs: 0b11 << 8), level-low.
  CHECK(tree.cells("/timer", "interrupts") ==
        std::vector<uint32_t>{1, 13, 0x308, 1, 14, 0x308, 1, 11, 0x308, 1, 10, 0x308});
  // SPIs are the same under either controller.
  CHECK(tree.cells("/serial@9000000", "interrupts") == std::vector<uint32_t>{0, 1, 4});
}

TEST_CASE("fdt: a PMU node where the vCPUs have one, its interrupt on PPI 7", "[fdt]") {
  Board board;
  const Tree without = board.build(GicVersion::kV3);
  CHECK(fdt_path_offset(without.fdt(), "/pmu") < 0);
  const Tree v3 = board.build(GicVersion::kV3, true, true, true);
  CHECK(v3.string("/pmu", "compatible") == "arm,armv8-pmuv3");
  CHECK(v3.cells("/pmu", "interrupts") == std::vector<uint32_t>{1, 7, 4});
  // On a GICv2 the PPI names its CPUs (two: 0b11 << 8), level-high as QEMU has it.
  const Tree v2 = board.build(GicVersion::kV2, true, true, true);
  CHECK(v2.cells("/pmu", "interrupts") == std::vector<uint32_t>{1, 7, 0x304});
}

TEST_CASE("fdt: the GICv3 redistributor region grows with the vCPUs", "[fdt]") {
  Board board;
  board.mpidrs.clear();
  for (uint32_t i = 0; i < 20; ++i) board.mpidrs.push_back(default_mpidr(i));
  const Tree tree = board.build(GicVersion::kV3);
  const auto reg = tree.cells(kGicPath, "reg");
  REQUIRE(reg.size() == 8);
  CHECK(reg[5] == 0x0800'0000 - 20 * 0x2'0000);
  CHECK(reg[7] == 20 * 0x2'0000);
  CHECK(reg[5] + reg[7] == 0x0800'0000);
  CHECK(tree.cells("/cpus/cpu@100", "reg") == std::vector<uint32_t>{0, 0x100});
  CHECK(tree.cells("/cpus/cpu@103", "reg") == std::vector<uint32_t>{0, 0x103});
}

TEST_CASE("fdt writer: the first error sticks and finish reports it", "[fdt]") {
  FdtWriter fdt;
  fdt.begin_node("");
  fdt.property_u32("early", 1);
  // Larger than the writer's whole buffer: libfdt runs out of space.
  const std::vector<uint8_t> huge(1 << 20, 0xab);
  fdt.property("huge-blob", huge);
  fdt.property_u32("late", 2);  // would fit, but the tree is already broken
  fdt.end_node();
  auto blob = fdt.finish();
  REQUIRE_FALSE(blob);
  CHECK(blob.error().code == ExitCode::kInternalError);
  CHECK_THAT(blob.error().message, Catch::Contains("huge-blob"));
  CHECK_THAT(blob.error().message, Catch::Contains(fdt_strerror(-FDT_ERR_NOSPACE)));
}

TEST_CASE("fdt writer: properties are big-endian and string lists NUL-separated", "[fdt]") {
  FdtWriter fdt;
  CHECK(fdt.allocate_phandle() == 1);
  CHECK(fdt.allocate_phandle() == 2);
  fdt.begin_node("");
  fdt.property_u64("big", 0x0102'0304'0506'0708ull);
  fdt.property_reg(0x1'2345'6789ull, 0x10);
  fdt.property_strings("list", {"a", "bc"});
  fdt.property_empty("flag");
  fdt.end_node();
  auto blob = fdt.finish();
  REQUIRE(blob);
  const Tree tree(std::move(*blob));
  REQUIRE(fdt_check_full(tree.fdt(), tree.size()) == 0);
  CHECK(tree.u64("/", "big") == 0x0102'0304'0506'0708ull);
  CHECK(tree.cells("/", "reg") == std::vector<uint32_t>{1, 0x2345'6789, 0, 0x10});
  CHECK(tree.raw("/", "list") == std::string_view("a\0bc\0", 5));
  CHECK(tree.raw("/", "flag").empty());
}

}  // namespace
}  // namespace petrel::arm64
