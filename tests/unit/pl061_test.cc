// The PL061 GPIO controller: its registers as the TRM gives them, the sequences Linux's
// gpio-pl061 driver and gpio-keys use, the power button, and the device-tree nodes.
#include "devices/pl061.h"

#include <libfdt.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "arch/arm64/board.h"
#include "arch/arm64/layout.h"
#include "core/config.h"
#include "devices/registry.h"
#include "tests/unit/scratch_dir.h"

namespace petrel {
namespace {

constexpr uint64_t kDir = 0x400;
constexpr uint64_t kIs = 0x404;
constexpr uint64_t kIbe = 0x408;
constexpr uint64_t kIev = 0x40c;
constexpr uint64_t kIe = 0x410;
constexpr uint64_t kRis = 0x414;
constexpr uint64_t kMis = 0x418;
constexpr uint64_t kIc = 0x41c;
constexpr uint64_t kAfsel = 0x420;

constexpr uint8_t kKey = 1u << Pl061::kPowerKeyLine;

class FakeIrq final : public InterruptLine {
 public:
  void set_level(bool asserted) override {
    if (asserted != level) ++changes;
    level = asserted;
  }
  bool level = false;
  int changes = 0;
};

struct Rig {
  FakeIrq irq;
  Pl061 gpio{arm64::kPowerButtonBase, arm64::kPowerButtonSpi, irq, true};

  uint32_t read(uint64_t offset, size_t width = 1) {
    uint8_t bytes[8] = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee};
    gpio.mmio_read(offset, std::span<uint8_t>(bytes, width));
    uint64_t value = 0;
    for (size_t i = 0; i < width; ++i) value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
    return static_cast<uint32_t>(value);
  }
  void write(uint64_t offset, uint32_t value, size_t width = 1) {
    uint8_t bytes[8] = {};
    for (size_t i = 0; i < width && i < 4; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
    gpio.mmio_write(offset, std::span<const uint8_t>(bytes, width));
  }
  // gpio-pl061.c, pl061_irq_type(), as its readb/writeb read-modify-write sequence.
  enum class Type { kEdgeRising, kEdgeFalling, kEdgeBoth, kLevelHigh, kLevelLow };
  void set_type(unsigned line, Type type) {
    const uint8_t bit = static_cast<uint8_t>(1u << line);
    uint8_t is = static_cast<uint8_t>(read(kIs));
    uint8_t ibe = static_cast<uint8_t>(read(kIbe));
    uint8_t iev = static_cast<uint8_t>(read(kIev));
    switch (type) {
      case Type::kLevelHigh:
        is |= bit;
        ibe &= ~bit;
        iev |= bit;
        break;
      case Type::kLevelLow:
        is |= bit;
        ibe &= ~bit;
        iev &= ~bit;
        break;
      case Type::kEdgeBoth:
        is &= ~bit;
        ibe |= bit;
        break;
      case Type::kEdgeRising:
        is &= ~bit;
        ibe &= ~bit;
        iev |= bit;
        break;
      case Type::kEdgeFalling:
        is &= ~bit;
        ibe &= ~bit;
        iev &= ~bit;
        break;
    }
    write(kIs, is);
    write(kIbe, ibe);
    write(kIev, iev);
  }
  // gpio-pl061.c: direction_input, unmask, ack.
  void direction_input(unsigned line) { write(kDir, read(kDir) & ~(1u << line)); }
  void unmask(unsigned line) { write(kIe, read(kIe) | (1u << line)); }
  void ack(unsigned line) { write(kIc, 1u << line); }
};

TEST_CASE("pl061: reset values and the PrimeCell IDs", "[pl061]") {
  Rig rig;
  for (uint64_t offset : {kDir, kIs, kIbe, kIev, kIe, kRis, kMis, kAfsel}) {
    INFO(offset);
    CHECK(rig.read(offset) == 0);
  }
  CHECK(rig.read(0x3fc) == 0);
  // The AMBA bus reads them as words: peripheral ID 0x00041061, PrimeCell ID 0xb105f00d.
  const uint32_t ids[] = {0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
  for (unsigned i = 0; i < 8; ++i) CHECK(rig.read(0xfe0 + 4 * i, 4) == ids[i]);
  CHECK(rig.gpio.mmio_range().base == 0x0903'0000);
  CHECK(rig.gpio.mmio_range().size == 0x1000);
}

TEST_CASE("pl061: GPIODATA address bits [9:2] mask the lines read and written", "[pl061]") {
  Rig rig;
  rig.write(kDir, 0x0f);   // lines 0..3 outputs, 4..7 inputs
  rig.write(0x3fc, 0xff);  // all lines: only outputs take it
  CHECK(rig.read(0x3fc) == 0x0f);
  rig.write(0x3fc, 0x00);
  rig.write(0x1u << 2, 0xff);  // line 0 only
  CHECK(rig.read(0x3fc) == 0x01);
  rig.write(0x6u << 2, 0xff);  // lines 1 and 2
  CHECK(rig.read(0x3fc) == 0x07);
  CHECK(rig.read(0x2u << 2) == 0x02);  // reads are masked too
  CHECK(rig.read(0x0) == 0);           // no line
  // Linux's set(): writeb(!!value << offset, base + BIT(offset + 2)).
  rig.write(1u << (3 + 2), 0);
  CHECK(rig.read(0x3fc) == 0x07);
  // Inputs read the level outside.
  rig.gpio.set_input(5, true);
  CHECK(rig.read(1u << (5 + 2)) == 0x20);
  CHECK(rig.read(0x3fc) == 0x27);
}

TEST_CASE("pl061: registers keep their 8 bits; read-only ones ignore writes", "[pl061]") {
  Rig rig;
  for (uint64_t offset : {kDir, kIs, kIbe, kIev, kIe, kAfsel}) {
    INFO(offset);
    rig.write(offset, 0x1a5, 4);
    CHECK(rig.read(offset, 4) == 0xa5);
    rig.write(offset, 0);
  }
  rig.write(kRis, 0xff);
  rig.write(kMis, 0xff);
  CHECK(rig.read(kRis) == 0);
  CHECK(rig.read(kMis) == 0);
  CHECK(rig.read(kIc) == 0);  // write-only
  rig.write(0xfe0, 0);
  CHECK(rig.read(0xfe0, 4) == 0x61);
}

TEST_CASE("pl061: unaligned and 8-byte accesses read 0 and write nothing", "[pl061]") {
  Rig rig;
  rig.write(kDir + 1, 0xff);
  rig.write(kDir, 0xff, 8);
  CHECK(rig.read(kDir) == 0);
  rig.write(kDir, 0x3);
  CHECK(rig.read(kDir + 1) == 0);
  CHECK(rig.read(kDir, 8) == 0);
  CHECK(rig.read(kDir + 2, 2) == 0);
  CHECK(rig.read(kDir, 2) == 0x3);
  CHECK(rig.read(0x800, 4) == 0);  // reserved
}

TEST_CASE("pl061: a rising-edge input latches, raises the line when unmasked, GPIOIC clears",
          "[pl061]") {
  Rig rig;
  rig.write(kIe, 0);  // the driver's probe masks everything
  rig.direction_input(3);
  rig.set_type(3, Rig::Type::kEdgeRising);
  rig.gpio.set_input(3, true);
  CHECK(rig.read(kRis) == kKey);
  CHECK(rig.read(kMis) == 0);
  CHECK_FALSE(rig.irq.level);
  rig.unmask(3);
  CHECK(rig.read(kMis) == kKey);
  CHECK(rig.irq.level);
  rig.ack(3);
  CHECK(rig.read(kRis) == 0);
  CHECK_FALSE(rig.irq.level);
  // Falling: no edge of this type.
  rig.gpio.set_input(3, false);
  CHECK(rig.read(kRis) == 0);
  CHECK(rig.irq.changes == 2);
}

TEST_CASE("pl061: a falling-edge line only sees falls", "[pl061]") {
  Rig rig;
  rig.set_type(2, Rig::Type::kEdgeFalling);
  rig.unmask(2);
  rig.gpio.set_input(2, true);
  CHECK(rig.read(kRis) == 0);
  rig.gpio.set_input(2, false);
  CHECK(rig.read(kRis) == 0x04);
  CHECK(rig.irq.level);
}

TEST_CASE("pl061: both edges (what gpio-keys asks for) latch a press and a release", "[pl061]") {
  Rig rig;
  rig.direction_input(3);
  rig.set_type(3, Rig::Type::kEdgeBoth);
  CHECK(rig.read(kIbe) == kKey);
  CHECK(rig.read(kIs) == 0);
  rig.unmask(3);
  rig.gpio.set_pressed(true);
  CHECK(rig.irq.level);
  CHECK(rig.read(0x3fc) == kKey);  // gpio-keys reads the line after its debounce
  rig.ack(3);
  CHECK_FALSE(rig.irq.level);
  rig.gpio.set_pressed(false);
  CHECK(rig.irq.level);
  CHECK(rig.read(1u << (3 + 2)) == 0);
  rig.ack(3);
  CHECK_FALSE(rig.irq.level);
  // Setting the same level again is no edge.
  rig.gpio.set_pressed(false);
  CHECK_FALSE(rig.irq.level);
}

TEST_CASE("pl061: a level-sensitive line interrupts while at its level; GPIOIC cannot clear it",
          "[pl061]") {
  Rig rig;
  rig.set_type(4, Rig::Type::kLevelHigh);
  rig.unmask(4);
  CHECK_FALSE(rig.irq.level);
  rig.gpio.set_input(4, true);
  CHECK(rig.irq.level);
  rig.ack(4);
  CHECK(rig.irq.level);
  CHECK(rig.read(kMis) == 0x10);
  rig.gpio.set_input(4, false);
  CHECK_FALSE(rig.irq.level);
  rig.set_type(4, Rig::Type::kLevelLow);
  CHECK(rig.irq.level);  // low now matches
  rig.write(kIe, 0);     // masking drops the line, RIS stays
  CHECK_FALSE(rig.irq.level);
  CHECK(rig.read(kRis) == 0x10);
}

TEST_CASE("pl061: an output drives its pin, and an input edge waits for the line to be input",
          "[pl061]") {
  Rig rig;
  rig.set_type(0, Rig::Type::kEdgeRising);
  rig.unmask(0);
  rig.write(kDir, 0x01);
  rig.write(1u << 2, 1);  // the guest drives line 0 high: its own rising edge
  CHECK(rig.irq.level);
  rig.ack(0);
  rig.gpio.set_input(1, true);  // line 1 is an input without interrupts
  CHECK_FALSE(rig.irq.level);
  CHECK(rig.read(0x3fc) == 0x03);
  // Out of range lines do nothing.
  rig.gpio.set_input(8, true);
  CHECK(rig.read(0x3fc) == 0x03);
}

TEST_CASE("pl061: without a power key, set_pressed does nothing and there is no gpio-keys",
          "[pl061]") {
  FakeIrq irq;
  Pl061 gpio(arm64::kPowerButtonBase, arm64::kPowerButtonSpi, irq, false);
  gpio.set_pressed(true);
  uint8_t byte = 0xee;
  gpio.mmio_read(0x3fc, std::span<uint8_t>(&byte, 1));
  CHECK(byte == 0);
  CHECK(gpio.resources().companions.empty());
}

// The board with and without [power_button], described as `petrel dtb` would.
std::vector<uint8_t> board_tree(bool enabled) {
  Config config;
  config.boot.cmdline = "console=ttyS0";
  if (enabled) config.devices.push_back({&kPowerButtonType.config, 0, {}});
  struct NoLine final : InterruptLine {
    void set_level(bool) override {}
  };
  arm64::BoardWiring wiring;
  wiring.lines = [](uint32_t) { return std::make_unique<NoLine>(); };
  wiring.console_output = [](std::span<const uint8_t>) {};
  auto board = arm64::Board::build(config, std::move(wiring));
  REQUIRE(board);
  CHECK(((*board)->power_button() != nullptr) == enabled);
  arm64::BootPlan plan{};
  const AddressRange ram = arm64::ram_range(config);
  plan.layout.kernel = {ram.base + 0x20'0000, 0x10'0000};
  plan.layout.device_tree = {ram.end() - arm64::kSz2M, arm64::kSz2M};
  const uint64_t mpidrs[] = {arm64::default_mpidr(0)};
  auto tree = (*board)->device_tree(config, plan, mpidrs, arm64::GicVersion::kV3);
  REQUIRE(tree);
  return *tree;
}

std::vector<uint32_t> cells(const std::vector<uint8_t>& tree, int node, const char* name) {
  int length = 0;
  const auto* value = static_cast<const fdt32_t*>(fdt_getprop(tree.data(), node, name, &length));
  INFO(name);
  REQUIRE(value != nullptr);
  std::vector<uint32_t> out;
  for (int i = 0; i < length / 4; ++i) out.push_back(fdt32_to_cpu(value[i]));
  return out;
}

TEST_CASE("pl061: the device tree has the controller and a gpio-keys power key on line 3",
          "[pl061][fdt]") {
  const std::vector<uint8_t> tree = board_tree(true);
  const void* fdt = tree.data();
  const int gpio = fdt_path_offset(fdt, "/gpio@9030000");
  REQUIRE(gpio >= 0);
  CHECK(fdt_node_check_compatible(fdt, gpio, "arm,pl061") == 0);
  CHECK(fdt_node_check_compatible(fdt, gpio, "arm,primecell") == 0);
  CHECK(cells(tree, gpio, "reg") == std::vector<uint32_t>{0, 0x0903'0000, 0, 0x1000});
  CHECK(cells(tree, gpio, "interrupts") == std::vector<uint32_t>{0, 7, 4});
  CHECK(cells(tree, gpio, "#gpio-cells") == std::vector<uint32_t>{2});
  CHECK(fdt_getprop(fdt, gpio, "gpio-controller", nullptr) != nullptr);
  CHECK(std::string(static_cast<const char*>(fdt_getprop(fdt, gpio, "clock-names", nullptr))) ==
        "apb_pclk");
  const uint32_t phandle = fdt_get_phandle(fdt, gpio);
  CHECK(phandle == 3);  // after the GIC's and the clock's

  const int keys = fdt_path_offset(fdt, "/gpio-keys");
  REQUIRE(keys >= 0);
  CHECK(fdt_node_check_compatible(fdt, keys, "gpio-keys") == 0);
  const int key = fdt_path_offset(fdt, "/gpio-keys/poweroff");
  REQUIRE(key >= 0);
  CHECK(cells(tree, key, "linux,code") == std::vector<uint32_t>{116});
  CHECK(cells(tree, key, "gpios") == std::vector<uint32_t>{phandle, 3, 0});
  CHECK(fdt_node_offset_by_phandle(fdt, phandle) == gpio);
}

TEST_CASE("pl061: without [power_button] the tree has neither node", "[pl061][fdt]") {
  const std::vector<uint8_t> tree = board_tree(false);
  CHECK(fdt_node_offset_by_compatible(tree.data(), -1, "arm,pl061") < 0);
  CHECK(fdt_path_offset(tree.data(), "/gpio-keys") < 0);
}

using testing::message_for;
using testing::ScratchDir;
const std::string kBoot = "[boot]\nkernel = \"Image\"\n";

TEST_CASE("pl061: [power_button] and machine.stop_grace in the config", "[pl061][config]") {
  ScratchDir scratch;
  scratch.write("Image", "");
  auto parse = [&](const std::string& text) {
    auto config = scratch.parse(text + kBoot);
    if (!config) FAIL(config.error().message);
    return *config;
  };
  CHECK_FALSE(parse("").has_device("power_button"));
  CHECK(parse("[power_button]\n").has_device("power_button"));
  CHECK_FALSE(parse("[power_button]\nenabled = false\n").has_device("power_button"));
  CHECK_FALSE(parse("").machine.stop_grace);

  const Config graceful = parse("[machine]\nstop_grace = \"10s\"\n[power_button]\n");
  REQUIRE(graceful.machine.stop_grace);
  CHECK(graceful.machine.stop_grace->count() == 10'000);
  CHECK(parse("[machine]\nstop_grace = \"1500ms\"\n[power_button]\n").machine.stop_grace->count() ==
        1500);

  CHECK(message_for(scratch, "[machine]\nstop_grace = \"10s\"\n" + kBoot) ==
        "<dir>/guest.toml:2:14: machine.stop_grace: a stop grace period needs a power button "
        "for the guest; add [power_button]");
  CHECK(message_for(scratch,
                    "[machine]\nstop_grace = \"10s\"\n[power_button]\nenabled = false\n" + kBoot) ==
        "<dir>/guest.toml:2:14: machine.stop_grace: a stop grace period needs a power button "
        "for the guest; add [power_button]");
  CHECK(message_for(scratch, "[machine]\nstop_grace = \"soon\"\n[power_button]\n" + kBoot) ==
        "<dir>/guest.toml:2:14: machine.stop_grace: \"soon\" is not a duration above 0 (e.g. "
        "\"10s\", \"500ms\", \"2m\")");
  CHECK(message_for(scratch, "[machine]\nstop_grace = \"0s\"\n[power_button]\n" + kBoot)
            .find("is not a duration above 0") != std::string::npos);
  CHECK(message_for(scratch, "[machine]\nstop_grace = 10\n[power_button]\n" + kBoot) ==
        "<dir>/guest.toml:2:14: machine.stop_grace: expected a duration string such as \"10s\", "
        "got integer");
}

}  // namespace
}  // namespace petrel
