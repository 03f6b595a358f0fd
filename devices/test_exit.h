#pragma once

#include <cstdint>
#include <functional>

#include "devices/device.h"
#include "devices/device_type.h"

namespace petrel {

// [test_exit]: the table alone asks for the device; `enabled = false` keeps it in the file but
// off.
extern const DeviceType kTestExitType;

// petrel's test-exit device: a 4 KiB window whose first 32-bit register, STATUS, ends the
// run when the guest writes it. petrel then exits with the value written: 0..255 as they
// are, anything larger as 255 (a status that wrapped around to 0 would pass a failed test).
// Reads return 0. The device tree names it `compatible = "petrel,test-exit"`, so a guest
// script finds its address under /proc/device-tree and writes it with busybox devmem.
class TestExit final : public MmioDevice {
 public:
  // Called on the writing vCPU's thread with the exit status; may be called again if
  // several vCPUs write (the machine keeps the first).
  using Exit = std::function<void(uint8_t status)>;

  static constexpr uint64_t kWindowBytes = 0x1000;
  static constexpr uint64_t kStatusOffset = 0x0;
  static constexpr uint8_t kOutOfRangeStatus = 255;

  TestExit(uint64_t base, Exit exit) : base_(base), exit_(std::move(exit)) {}

  std::string_view name() const override { return "test-exit"; }
  AddressRange mmio_range() const override { return {base_, kWindowBytes}; }
  void mmio_read(uint64_t offset, std::span<uint8_t> data) override;
  void mmio_write(uint64_t offset, std::span<const uint8_t> data) override;
  DeviceResources resources() const override;

  // The exit status for a value written to STATUS.
  static uint8_t status_for(uint64_t value);

 private:
  const uint64_t base_;
  Exit exit_;
};

}  // namespace petrel
