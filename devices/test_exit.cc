#include "devices/test_exit.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace petrel {

namespace {

std::shared_ptr<MmioDevice> make_test_exit(const DeviceSetup& setup, uint64_t base) {
  return std::make_shared<TestExit>(base, setup.hooks.exit_with_status);
}

constexpr DeviceKey kTestExitKeys[] = {{"enabled", "boolean, default true"}};

}  // namespace

constexpr DeviceType kTestExitType = {
    .config = {.table = "test_exit",
               .keys = kTestExitKeys,
               .flag = {.form = DeviceFlag::Form::kSwitch,
                        .name = "test-exit",
                        .help = "test-exit device: the guest's status is petrel's exit code "
                                "([test_exit])"},
               .read = read_enabled_table},
    .make_platform = make_test_exit,
};

uint8_t TestExit::status_for(uint64_t value) {
  return value <= 255 ? static_cast<uint8_t>(value) : kOutOfRangeStatus;
}

void TestExit::mmio_read(uint64_t, std::span<uint8_t> data) { store_le_any(data, 0); }

void TestExit::mmio_write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset != kStatusOffset) return;  // the rest of the window is reserved and ignored
  const uint64_t value = load_le_any(data);
  const uint8_t status = status_for(value);
  if (value != status) {
    spdlog::warn("test-exit: the guest wrote {:#x}, outside 0..255; exiting with {}", value,
                 status);
  } else {
    spdlog::info("test-exit: the guest wrote exit status {}", status);
  }
  if (exit_) exit_(status);
}

DeviceResources TestExit::resources() const {
  return {.kind = "test-exit", .mmio = mmio_range(), .compatible = {"petrel,test-exit"}};
}

}  // namespace petrel
