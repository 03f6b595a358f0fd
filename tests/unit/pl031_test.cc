#include "devices/pl031.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <span>

namespace petrel {
namespace {

constexpr uint64_t kDr = 0x00;
constexpr uint64_t kMr = 0x04;
constexpr uint64_t kLr = 0x08;
constexpr uint64_t kCr = 0x0c;
constexpr uint64_t kImsc = 0x10;
constexpr uint64_t kRis = 0x14;
constexpr uint64_t kMis = 0x18;
constexpr uint64_t kIcr = 0x1c;

constexpr uint64_t kBase = 0x0901'0000;

// Records the level a device drives and how often it changed.
class FakeIrq final : public InterruptLine {
 public:
  void set_level(bool asserted) override {
    if (asserted != level) ++changes;
    level = asserted;
  }
  bool level = false;
  int changes = 0;
};

// Records what the device armed; the test decides when it fires.
class FakeTimer final : public WallClockTimer {
 public:
  void arm(TimePoint at, Expiry expiry) override {
    deadline = at;
    expiry_ = std::move(expiry);
    ++arms;
  }
  void cancel() override {
    deadline.reset();
    expiry_ = nullptr;
    ++cancels;
  }
  // The deadline in seconds since the epoch, as the device's clock counts them.
  std::optional<int64_t> deadline_seconds() const {
    if (!deadline) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::seconds>(deadline->time_since_epoch()).count();
  }
  // As a machine would: once, with no lock held; the expiry may arm again.
  void fire() {
    Expiry expiry = std::move(expiry_);
    expiry_ = nullptr;
    deadline.reset();
    if (expiry) expiry();
  }

  std::optional<TimePoint> deadline;
  int arms = 0;
  int cancels = 0;

 private:
  Expiry expiry_;
};

struct RtcRig {
  FakeIrq irq;
  // Shared so the clock stays valid wherever the std::function is copied to.
  std::shared_ptr<int64_t> time = std::make_shared<int64_t>(1'700'000'000);
  FakeTimer timer;
  Pl031 rtc{kBase, 2, irq, timer, [t = time] { return *t; }};

  uint32_t read(uint64_t offset) {
    uint8_t bytes[4] = {0xee, 0xee, 0xee, 0xee};
    rtc.mmio_read(offset, std::span<uint8_t>(bytes, 4));
    return static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
           static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
  }
  void write(uint64_t offset, uint32_t value) {
    const uint8_t bytes[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                              static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
    rtc.mmio_write(offset, std::span<const uint8_t>(bytes, 4));
  }
};

TEST_CASE("pl031: the data register reads the injected clock", "[pl031]") {
  RtcRig rig;
  CHECK(rig.read(kDr) == 1'700'000'000u);
  *rig.time += 42;
  CHECK(rig.read(kDr) == 1'700'000'042u);
  CHECK(rig.read(kCr) == 1);  // always running
}

TEST_CASE("pl031: the host clock is the wall clock", "[pl031]") {
  const int64_t before = static_cast<int64_t>(::time(nullptr));
  const int64_t now = Pl031::host_clock();
  CHECK(now >= before);
  CHECK(now <= before + 2);
}

TEST_CASE("pl031: writing LR sets the guest's time, which keeps running", "[pl031]") {
  RtcRig rig;
  rig.write(kLr, 1000);
  CHECK(rig.read(kLr) == 1000);
  CHECK(rig.read(kDr) == 1000);
  *rig.time += 10;
  CHECK(rig.read(kDr) == 1010);

  // A later load replaces the offset rather than adding to it.
  rig.write(kLr, 2'000'000'000);
  CHECK(rig.read(kDr) == 2'000'000'000u);
  *rig.time += 1;
  CHECK(rig.read(kDr) == 2'000'000'001u);
}

TEST_CASE("pl031: writes to DR and CR are ignored", "[pl031]") {
  RtcRig rig;
  rig.write(kDr, 123);
  CHECK(rig.read(kDr) == 1'700'000'000u);
  rig.write(kCr, 0);
  CHECK(rig.read(kCr) == 1);
  CHECK(rig.read(kDr) == 1'700'000'000u);
}

TEST_CASE("pl031: PrimeCell identification registers", "[pl031]") {
  RtcRig rig;
  constexpr uint32_t kExpected[8] = {0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
  for (uint64_t i = 0; i < 8; ++i) {
    INFO("offset " << std::hex << 0xfe0 + 4 * i);
    CHECK(rig.read(0xfe0 + 4 * i) == kExpected[i]);
  }
  // Peripheral ID 0x00141031 (part 0x031, ARM, revision 1), PrimeCell ID 0xb105f00d, read
  // byte by byte as Linux's AMBA bus does; rtc-pl031 matches 0x00041031 under mask 0x000fffff.
  uint32_t periph = 0;
  uint32_t cell = 0;
  for (uint64_t i = 0; i < 4; ++i) {
    periph |= (rig.read(0xfe0 + 4 * i) & 0xff) << (8 * i);
    cell |= (rig.read(0xff0 + 4 * i) & 0xff) << (8 * i);
  }
  CHECK(periph == 0x00141031u);
  CHECK((periph & 0x000fffffu) == 0x00041031u);
  CHECK(cell == 0xb105f00du);
  // Writes cannot change them; unaligned or unknown offsets read zero.
  rig.write(0xfe0, 0);
  CHECK(rig.read(0xfe0) == 0x31);
  CHECK(rig.read(0xfe1) == 0);
  CHECK(rig.read(0x20) == 0);
  CHECK(rig.read(0xfdc) == 0);
}

TEST_CASE("pl031: match, mask and clear drive the interrupt line", "[pl031]") {
  RtcRig rig;
  const uint32_t start = rig.read(kDr);
  rig.write(kMr, start + 5);
  CHECK(rig.read(kMr) == start + 5);
  rig.write(kImsc, 1);
  CHECK(rig.read(kImsc) == 1);

  CHECK(rig.read(kDr) == start);
  CHECK(rig.read(kRis) == 0);
  CHECK(rig.irq.level == false);

  *rig.time += 5;
  CHECK(rig.read(kDr) == start + 5);
  CHECK(rig.read(kRis) == 1);
  CHECK(rig.read(kMis) == 1);
  CHECK(rig.irq.level == true);
  CHECK(rig.irq.changes == 1);

  // Clearing with bit 0 clear does nothing; with bit 0 set it drops the line.
  rig.write(kIcr, 0);
  CHECK(rig.irq.level == true);
  rig.write(kIcr, 1);
  CHECK(rig.read(kRis) == 0);
  CHECK(rig.read(kMis) == 0);
  CHECK(rig.irq.level == false);
  CHECK(rig.irq.changes == 2);
}

TEST_CASE("pl031: a masked alarm is latched in RIS but keeps the line low", "[pl031]") {
  RtcRig rig;
  const uint32_t start = rig.read(kDr);
  rig.write(kMr, start + 1);
  *rig.time += 1;
  rig.read(kDr);
  CHECK(rig.read(kRis) == 1);
  CHECK(rig.read(kMis) == 0);
  CHECK(rig.irq.level == false);

  // Unmasking a pending alarm raises the line; masking it again lowers it.
  rig.write(kImsc, 1);
  CHECK(rig.read(kMis) == 1);
  CHECK(rig.irq.level == true);
  rig.write(kImsc, 0);
  CHECK(rig.irq.level == false);
  CHECK(rig.read(kRis) == 1);
  CHECK(rig.irq.changes == 2);
}

TEST_CASE("pl031: no alarm while the match register is zero", "[pl031]") {
  RtcRig rig;
  rig.write(kImsc, 1);
  rig.read(kDr);
  CHECK(rig.read(kRis) == 0);
  CHECK(rig.irq.level == false);
  CHECK(rig.irq.changes == 0);
}

TEST_CASE("pl031: a match value arms the timer for the second the counter reaches it", "[pl031]") {
  RtcRig rig;
  rig.write(kImsc, 1);
  rig.write(kMr, 1'700'000'060);
  REQUIRE(rig.timer.deadline_seconds() == 1'700'000'060);
  // The guest set its own time: the deadline is in host seconds all the same.
  rig.write(kLr, 1000);
  rig.write(kMr, 1030);
  REQUIRE(rig.timer.deadline_seconds() == 1'700'000'030);
  CHECK(rig.read(kRis) == 0);

  *rig.time += 30;
  rig.timer.fire();
  CHECK(rig.irq.level == true);
  CHECK(rig.read(kRis) == 1);
  CHECK(rig.read(kMis) == 1);
  CHECK(rig.read(kDr) == 1030);
  CHECK_FALSE(rig.timer.deadline.has_value());  // one alarm per match write
  rig.write(kIcr, 1);
  CHECK(rig.irq.level == false);
  *rig.time += 100;
  rig.read(kDr);
  CHECK(rig.read(kRis) == 0);
}

TEST_CASE("pl031: an early or stale timer call changes nothing", "[pl031]") {
  RtcRig rig;
  rig.write(kImsc, 1);
  rig.write(kMr, 1'700'000'010);
  // Early, as after the host clock was set back: the device waits for the match again.
  *rig.time += 5;
  rig.timer.fire();
  CHECK(rig.read(kRis) == 0);
  REQUIRE(rig.timer.deadline_seconds() == 1'700'000'010);
  // A deadline the guest replaced: the call for it finds the new one not yet reached.
  rig.write(kMr, 1'700'000'100);
  *rig.time += 5;
  rig.timer.fire();
  CHECK(rig.read(kRis) == 0);
  CHECK(rig.irq.changes == 0);
  *rig.time += 90;
  rig.timer.fire();
  CHECK(rig.read(kRis) == 1);
  // Fired and cleared: a further call raises nothing.
  rig.write(kIcr, 1);
  rig.timer.fire();
  CHECK(rig.read(kRis) == 0);
}

TEST_CASE("pl031: a late timer: the guest sees the alarm when it reads", "[pl031]") {
  RtcRig rig;
  rig.write(kMr, 1'700'000'002);
  *rig.time += 3;  // past the match, the timer has not fired yet
  CHECK(rig.read(kRis) == 1);
  CHECK(rig.timer.cancels >= 1);  // nothing left to wait for
  CHECK_FALSE(rig.timer.deadline.has_value());
}

TEST_CASE("pl031: a match equal to the counter fires at once", "[pl031]") {
  RtcRig rig;
  rig.write(kImsc, 1);
  rig.write(kMr, 1'700'000'000);
  CHECK(rig.irq.level == true);
  CHECK(rig.read(kRis) == 1);
  CHECK(rig.timer.arms == 0);
}

TEST_CASE("pl031: a match behind the counter waits for the counter to wrap", "[pl031]") {
  RtcRig rig;
  rig.write(kImsc, 1);
  rig.write(kMr, 1'699'999'999);
  REQUIRE(rig.timer.deadline_seconds() == 1'699'999'999 + (int64_t{1} << 32));
  *rig.time += 3600;
  rig.read(kDr);
  CHECK(rig.read(kRis) == 0);
  CHECK(rig.irq.changes == 0);
}

TEST_CASE("pl031: loading the counter moves the alarm", "[pl031]") {
  RtcRig rig;
  rig.write(kMr, 1'700'000'100);
  REQUIRE(rig.timer.deadline_seconds() == 1'700'000'100);
  rig.write(kLr, 1'700'000'090);  // ten seconds from the match now
  REQUIRE(rig.timer.deadline_seconds() == 1'700'000'010);
  rig.write(kLr, 1'700'000'100);  // at the match: fires at once
  CHECK(rig.read(kRis) == 1);
}

TEST_CASE("pl031: without a timer the alarm is seen at the next access", "[pl031]") {
  FakeIrq irq;
  int64_t time = 1'700'000'000;
  Pl031 rtc(kBase, 2, irq, [&time] { return time; });
  const auto write = [&](uint64_t offset, uint32_t value) {
    const uint8_t bytes[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                              static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
    rtc.mmio_write(offset, std::span<const uint8_t>(bytes, 4));
  };
  write(kImsc, 1);
  write(kMr, 1'700'000'005);
  time += 5;
  CHECK(irq.level == false);
  write(kImsc, 1);
  CHECK(irq.level == true);
}

TEST_CASE("pl031: the device cancels its timer when it goes", "[pl031]") {
  FakeIrq irq;
  FakeTimer timer;
  {
    Pl031 rtc(kBase, 2, irq, timer, [] { return int64_t{1'700'000'000}; });
    const uint8_t match[4] = {0x10, 0xf1, 0x53, 0x65};  // 0x6553f110, in the future
    rtc.mmio_write(kMr, std::span<const uint8_t>(match, 4));
    REQUIRE(timer.deadline.has_value());
  }
  CHECK_FALSE(timer.deadline.has_value());
}

TEST_CASE("pl031: registers against the TRM", "[pl031]") {
  RtcRig rig;
  // Reset: match and load zero, started, interrupt masked and clear.
  CHECK(rig.read(kMr) == 0);
  CHECK(rig.read(kLr) == 0);
  CHECK(rig.read(kCr) == 1);
  CHECK(rig.read(kImsc) == 0);
  CHECK(rig.read(kRis) == 0);
  CHECK(rig.read(kMis) == 0);
  CHECK(rig.read(kIcr) == 0);  // write-only
  // Only bit 0 of IMSC exists; RIS and MIS are read-only.
  rig.write(kImsc, 0xffff'ffff);
  CHECK(rig.read(kImsc) == 1);
  rig.write(kRis, 1);
  rig.write(kMis, 1);
  CHECK(rig.read(kRis) == 0);
  // MR and LR keep all 32 bits.
  rig.write(kMr, 0xffff'ffff);
  CHECK(rig.read(kMr) == 0xffff'ffffu);
  rig.write(kLr, 0x8000'0001);
  CHECK(rig.read(kLr) == 0x8000'0001u);
  CHECK(rig.read(kDr) == 0x8000'0001u);
  // Byte accesses at the register's own offset read its low byte; other offsets nothing.
  uint8_t byte = 0xee;
  rig.rtc.mmio_read(kDr, std::span<uint8_t>(&byte, 1));
  CHECK(byte == 0x01);
  rig.rtc.mmio_read(kDr + 1, std::span<uint8_t>(&byte, 1));
  CHECK(byte == 0);
  rig.write(kMr + 2, 0);
  CHECK(rig.read(kMr) == 0xffff'ffffu);
}

// What Linux's rtc-pl031 (drivers/rtc/rtc-pl031.c, the ARM variant) does for an alarm.
TEST_CASE("pl031: Linux's alarm: set, enable, interrupt, read back", "[pl031]") {
  RtcRig rig;
  const uint32_t now = rig.read(kDr);
  // pl031_set_alarm: MR, then pl031_alarm_irq_enable(1): clear a pending alarm, unmask.
  rig.write(kMr, now + 60);
  rig.write(kIcr, 1);
  rig.write(kImsc, rig.read(kImsc) | 1);
  // pl031_read_alarm.
  CHECK(rig.read(kMr) == now + 60);
  CHECK((rig.read(kRis) & 1) == 0);   // not pending
  CHECK((rig.read(kImsc) & 1) == 1);  // enabled
  CHECK(rig.irq.level == false);

  *rig.time += 60;
  rig.timer.fire();
  CHECK(rig.irq.level == true);
  // pl031_interrupt: MIS says it is the alarm; ICR acknowledges it.
  CHECK((rig.read(kMis) & 1) == 1);
  rig.write(kIcr, 1);
  CHECK(rig.irq.level == false);
  // pl031_alarm_irq_enable(0).
  rig.write(kImsc, rig.read(kImsc) & ~1u);
  CHECK(rig.irq.changes == 2);
}

TEST_CASE("pl031: device-tree node name and window", "[pl031]") {
  RtcRig rig;
  CHECK(rig.rtc.name() == "rtc");
  CHECK(rig.rtc.resources().kind == "rtc");
  CHECK(rig.rtc.resources().mmio.base == 0x9010000);
  CHECK(rig.rtc.mmio_range().base == kBase);
  CHECK(rig.rtc.mmio_range().size == 0x1000);
}

}  // namespace
}  // namespace petrel
