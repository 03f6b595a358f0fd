#include "devices/pl031.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <ctime>
#include <memory>
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

struct RtcRig {
  FakeIrq irq;
  // Shared so the clock stays valid wherever the std::function is copied to.
  std::shared_ptr<int64_t> time = std::make_shared<int64_t>(1'700'000'000);
  Pl031 rtc{kBase, 2, irq, [t = time] { return *t; }};

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
