// The test-exit device: the status a guest writes, and the device-tree node it finds it by.
#include "devices/test_exit.h"

#include <libfdt.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "arch/arm64/board.h"
#include "arch/arm64/layout.h"

namespace petrel {
namespace {

struct Rig {
  std::vector<uint8_t> statuses;
  TestExit device{arm64::kTestExitBase, [this](uint8_t status) { statuses.push_back(status); }};

  void write(uint64_t offset, uint64_t value, size_t width = 4) {
    uint8_t bytes[8] = {};
    for (size_t i = 0; i < width; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
    device.mmio_write(offset, std::span<const uint8_t>(bytes, width));
  }
};

TEST_CASE("test-exit: a write to STATUS ends the run with that status", "[test_exit]") {
  Rig rig;
  const uint64_t value = GENERATE(0u, 1u, 7u, 255u);
  rig.write(TestExit::kStatusOffset, value);
  CHECK(rig.statuses == std::vector<uint8_t>{static_cast<uint8_t>(value)});
}

TEST_CASE("test-exit: values above 255 become 255, never a wrapped-around pass", "[test_exit]") {
  Rig rig;
  const uint64_t value = GENERATE(256u, 0x100u + 7u, 0xffff'ffffu);
  rig.write(TestExit::kStatusOffset, value);
  CHECK(rig.statuses == std::vector<uint8_t>{255});
  CHECK(TestExit::status_for(0x1'0000'0000ull) == 255);
  CHECK(TestExit::status_for(42) == 42);
}

TEST_CASE("test-exit: other widths at STATUS count, other offsets and reads do nothing",
          "[test_exit]") {
  Rig rig;
  rig.write(0x4, 3);
  rig.write(0xffc, 3);
  CHECK(rig.statuses.empty());
  rig.write(TestExit::kStatusOffset, 9, 1);
  rig.write(TestExit::kStatusOffset, 300, 2);
  rig.write(TestExit::kStatusOffset, 5, 8);
  CHECK(rig.statuses == std::vector<uint8_t>{9, 255, 5});
  uint8_t bytes[4] = {0xee, 0xee, 0xee, 0xee};
  rig.device.mmio_read(0, bytes);
  CHECK((bytes[0] | bytes[1] | bytes[2] | bytes[3]) == 0);
  CHECK(rig.device.mmio_range().base == 0x0902'0000);
  CHECK(rig.device.mmio_range().size == 0x1000);
}

// The board with and without [test_exit], described as `petrel dtb` would.
std::vector<uint8_t> board_tree(bool enabled) {
  Config config;
  config.boot.cmdline = "console=ttyS0";
  if (enabled) config.devices.push_back({&kTestExitType.config, 0, {}});
  struct NoLine final : InterruptLine {
    void set_level(bool) override {}
  };
  arm64::BoardWiring wiring;
  wiring.lines = [](uint32_t) { return std::make_unique<NoLine>(); };
  wiring.console_output = [](std::span<const uint8_t>) {};
  auto board = arm64::Board::build(config, std::move(wiring));
  REQUIRE(board);
  arm64::BootPlan plan{};
  const AddressRange ram = arm64::ram_range(config);
  plan.layout.kernel = {ram.base + 0x20'0000, 0x10'0000};
  plan.layout.device_tree = {ram.end() - arm64::kSz2M, arm64::kSz2M};
  const uint64_t mpidrs[] = {arm64::default_mpidr(0)};
  auto tree = (*board)->device_tree(config, plan, mpidrs, arm64::GicVersion::kV3);
  REQUIRE(tree);
  return *tree;
}

TEST_CASE("test-exit: the device tree names it, with its address, only when enabled",
          "[test_exit][fdt]") {
  const std::vector<uint8_t> with = board_tree(true);
  const int node = fdt_path_offset(with.data(), "/test-exit@9020000");
  REQUIRE(node >= 0);
  CHECK(fdt_node_offset_by_compatible(with.data(), -1, "petrel,test-exit") == node);
  int length = 0;
  const auto* reg = static_cast<const uint32_t*>(fdt_getprop(with.data(), node, "reg", &length));
  REQUIRE(length == 16);
  CHECK(fdt32_to_cpu(reg[1]) == 0x0902'0000);
  CHECK(fdt32_to_cpu(reg[3]) == 0x1000);

  const std::vector<uint8_t> without = board_tree(false);
  CHECK(fdt_node_offset_by_compatible(without.data(), -1, "petrel,test-exit") < 0);
}

}  // namespace
}  // namespace petrel
