#include "devices/pl031.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace petrel {

namespace {
// Registers (PL031 TRM, ARM DDI 0224): 32-bit words, bit 0 only in the control and
// interrupt registers.
constexpr uint64_t kData = 0x00;
constexpr uint64_t kMatch = 0x04;
constexpr uint64_t kLoad = 0x08;
constexpr uint64_t kControl = 0x0c;
constexpr uint64_t kInterruptMask = 0x10;
constexpr uint64_t kRawInterrupt = 0x14;
constexpr uint64_t kMaskedInterrupt = 0x18;
constexpr uint64_t kInterruptClear = 0x1c;
// PrimeCell identification registers: the AMBA bus matches the driver by these.
constexpr uint64_t kIdBase = 0xfe0;
constexpr uint8_t kIdBytes[8] = {0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
}  // namespace

Pl031::Pl031(uint64_t base, uint32_t spi, InterruptLine& irq, Clock clock)
    : base_(base), spi_(spi), irq_(irq), timer_(nullptr), clock_(std::move(clock)) {}

Pl031::Pl031(uint64_t base, uint32_t spi, InterruptLine& irq, WallClockTimer& timer, Clock clock)
    : base_(base), spi_(spi), irq_(irq), timer_(&timer), clock_(std::move(clock)) {}

Pl031::~Pl031() {
  if (timer_ != nullptr) timer_->cancel();
}

int64_t Pl031::host_clock() { return static_cast<int64_t>(::time(nullptr)); }

uint32_t Pl031::now() const { return static_cast<uint32_t>(clock_() + offset_); }

void Pl031::mmio_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  // A timer that is late, or none at all: the guest sees the alarm as soon as the counter
  // it reads has matched.
  check_alarm();
  uint32_t value = 0;
  switch (offset) {
    case kData: value = now(); break;
    case kMatch: value = match_; break;
    case kLoad: value = load_; break;
    case kControl: value = 1; break;  // started, and a started RTC cannot be stopped
    case kInterruptMask: value = interrupt_enabled_; break;
    case kRawInterrupt: value = interrupt_raw_; break;
    case kMaskedInterrupt: value = interrupt_raw_ && interrupt_enabled_; break;
    default:
      if (offset >= kIdBase && offset < kIdBase + 4 * sizeof(kIdBytes) && offset % 4 == 0) {
        value = kIdBytes[(offset - kIdBase) / 4];
      }
      break;
  }
  store_le_any(data, value);
  update_interrupt();
}

void Pl031::mmio_write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  check_alarm();
  const auto value = static_cast<uint32_t>(load_le_any(data));
  switch (offset) {
    case kMatch:
      match_ = value;
      arm_alarm();
      break;
    case kLoad:
      load_ = value;
      offset_ = static_cast<int64_t>(value) - clock_();
      arm_alarm();  // the counter jumped: the match comes at another time
      break;
    case kInterruptMask: interrupt_enabled_ = value & 1; break;
    case kInterruptClear:
      if (value & 1) interrupt_raw_ = false;
      break;
    default: break;  // data, control, the status and the ID registers are read-only
  }
  update_interrupt();
}

// The match is a 32-bit comparator: the alarm fires when the counter equals the match
// value, which a value behind the counter reaches only after the counter wraps (2^32 s).
// A match equal to the counter fires at once.
void Pl031::arm_alarm() {
  const uint32_t seconds_to_match = match_ - now();
  alarm_armed_ = true;
  alarm_host_time_ = clock_() + seconds_to_match;
  if (seconds_to_match == 0) {
    check_alarm();
  } else if (timer_ != nullptr) {
    timer_->arm(WallClockTimer::TimePoint(std::chrono::seconds(alarm_host_time_)),
                [this] { alarm_due(); });
  }
}

void Pl031::check_alarm() {
  if (!alarm_armed_ || clock_() < alarm_host_time_) return;
  alarm_armed_ = false;
  interrupt_raw_ = true;
  if (timer_ != nullptr) timer_->cancel();
}

void Pl031::alarm_due() {
  std::lock_guard lock(mutex_);
  check_alarm();
  // Called early (the host clock was set back since): wait for the match again.
  if (alarm_armed_ && timer_ != nullptr) {
    timer_->arm(WallClockTimer::TimePoint(std::chrono::seconds(alarm_host_time_)),
                [this] { alarm_due(); });
  }
  update_interrupt();
}

void Pl031::update_interrupt() { irq_.set_level(interrupt_raw_ && interrupt_enabled_); }

DeviceResources Pl031::resources() const {
  return {.kind = "rtc",
          .mmio = mmio_range(),
          .compatible = {"arm,pl031", "arm,primecell"},
          .interrupt = {{spi_, DeviceResources::Interrupt::Trigger::kLevelHigh}},
          .clocks = {"apb_pclk"}};
}

}  // namespace petrel
