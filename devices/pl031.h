#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "devices/device.h"

namespace petrel {

// ARM PrimeCell PL031 real-time clock: the guest reads the host's wall-clock time in
// seconds. A guest may set it (the offset is kept) and program a match value: when the
// counter reaches it, the alarm interrupt is latched in RIS and drives the line while
// unmasked. A WallClockTimer tells the device when that moment comes; without one the
// alarm is noticed at the guest's next access to the device.
class Pl031 final : public MmioDevice {
 public:
  using Clock = std::function<int64_t()>;  // seconds since the epoch

  static constexpr uint64_t kWindowBytes = 0x1000;

  Pl031(uint64_t base, uint32_t spi, InterruptLine& irq, Clock clock = host_clock);
  // `timer` keeps time for the alarm; `clock` must count the seconds of the same wall clock.
  Pl031(uint64_t base, uint32_t spi, InterruptLine& irq, WallClockTimer& timer,
        Clock clock = host_clock);
  ~Pl031() override;
  Pl031(const Pl031&) = delete;
  Pl031& operator=(const Pl031&) = delete;

  std::string_view name() const override { return "rtc"; }
  AddressRange mmio_range() const override { return {base_, kWindowBytes}; }
  void mmio_read(uint64_t offset, std::span<uint8_t> data) override;
  void mmio_write(uint64_t offset, std::span<const uint8_t> data) override;
  DeviceResources resources() const override;

  static int64_t host_clock();

 private:
  uint32_t now() const;
  void arm_alarm();
  void check_alarm();
  void alarm_due();
  void update_interrupt();

  const uint64_t base_;
  const uint32_t spi_;
  InterruptLine& irq_;
  WallClockTimer* const timer_;  // none: alarms are checked on guest accesses only
  Clock clock_;

  std::mutex mutex_;
  int64_t offset_ = 0;  // guest time minus host time, after a guest write to LR
  uint32_t match_ = 0;
  uint32_t load_ = 0;
  bool interrupt_enabled_ = false;
  bool interrupt_raw_ = false;
  bool alarm_armed_ = false;
  int64_t alarm_host_time_ = 0;  // when armed: the host second at which the counter matches
};

}  // namespace petrel
