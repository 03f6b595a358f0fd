#include "devices/mmio_bus.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace petrel {
namespace {

// A device that records the accesses it sees and answers reads with a fixed pattern.
class RecordingDevice final : public MmioDevice {
 public:
  RecordingDevice(std::string name, uint64_t base, uint64_t size)
      : name_(std::move(name)), range_{base, size} {}

  std::string_view name() const override { return name_; }
  AddressRange mmio_range() const override { return range_; }
  void mmio_read(uint64_t offset, std::span<uint8_t> data) override {
    ++reads;
    last_offset = offset;
    last_size = data.size();
    store_le_any(data, 0x8877665544332211ull);
  }
  void mmio_write(uint64_t offset, std::span<const uint8_t> data) override {
    ++writes;
    last_offset = offset;
    last_size = data.size();
    last_value = load_le_any(data);
  }
  DeviceResources resources() const override { return {.kind = name_, .mmio = range_}; }

  int reads = 0;
  int writes = 0;
  uint64_t last_offset = ~0ull;
  size_t last_size = 0;
  uint64_t last_value = 0;

 private:
  std::string name_;
  AddressRange range_;
};

std::shared_ptr<RecordingDevice> device(std::string name, uint64_t base, uint64_t size) {
  return std::make_shared<RecordingDevice>(std::move(name), base, size);
}

TEST_CASE("mmio bus: little-endian value helpers", "[mmio_bus]") {
  const uint8_t bytes[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
  CHECK(load_le_any(std::span<const uint8_t>(bytes, 1)) == 0x11);
  CHECK(load_le_any(std::span<const uint8_t>(bytes, 2)) == 0x2211);
  CHECK(load_le_any(std::span<const uint8_t>(bytes, 4)) == 0x44332211);
  CHECK(load_le_any(std::span<const uint8_t>(bytes, 8)) == 0x8877665544332211ull);

  uint8_t out[4] = {0xff, 0xff, 0xff, 0xff};
  store_le_any(std::span<uint8_t>(out, 4), 0xaabb);
  CHECK(out[0] == 0xbb);
  CHECK(out[1] == 0xaa);
  CHECK(out[2] == 0);
  CHECK(out[3] == 0);
  store_le_any(std::span<uint8_t>(out, 1), 0x1234);  // truncates to the access width
  CHECK(out[0] == 0x34);
  CHECK(out[1] == 0xaa);
}

TEST_CASE("mmio bus: accesses reach the device holding the address, at its offset", "[mmio_bus]") {
  MmioBus bus;
  auto a = device("a", 0x1000, 0x100);
  auto b = device("b", 0x2000, 0x100);
  REQUIRE(bus.add(a));
  REQUIRE(bus.add(b));

  uint8_t word[4] = {};
  CHECK(bus.read(0x2004, word));
  CHECK(b->reads == 1);
  CHECK(b->last_offset == 4);
  CHECK(b->last_size == 4);
  CHECK(a->reads == 0);
  CHECK(load_le_any(word) == 0x44332211);

  const uint8_t value[2] = {0x34, 0x12};
  CHECK(bus.write(0x1010, value));
  CHECK(a->writes == 1);
  CHECK(a->last_offset == 0x10);
  CHECK(a->last_size == 2);
  CHECK(a->last_value == 0x1234);
  CHECK(b->writes == 0);

  // First and last byte of a window.
  uint8_t byte[1] = {};
  CHECK(bus.read(0x1000, byte));
  CHECK(a->last_offset == 0);
  CHECK(bus.read(0x10ff, byte));
  CHECK(a->last_offset == 0xff);
}

TEST_CASE("mmio bus: unclaimed or straddling accesses are refused", "[mmio_bus]") {
  MmioBus bus;
  auto a = device("a", 0x1000, 0x100);
  auto b = device("b", 0x1100, 0x100);  // adjacent to a
  REQUIRE(bus.add(a));
  REQUIRE(bus.add(b));

  uint8_t word[4] = {};
  CHECK(bus.read(0x10fc, word));  // the last word of a
  CHECK(a->last_offset == 0xfc);
  const int a_reads = a->reads;

  // Straddles the end of a into b: no single device claims it.
  CHECK_FALSE(bus.read(0x10fe, word));
  CHECK_FALSE(bus.write(0x10fe, word));
  // Straddles the end of b into nothing, and before the start of a.
  CHECK_FALSE(bus.read(0x11fd, word));
  CHECK_FALSE(bus.read(0x0ffe, word));
  // Nothing there at all, including near the top of the address space.
  CHECK_FALSE(bus.read(0x3000, word));
  CHECK_FALSE(bus.write(0x0, word));
  CHECK_FALSE(bus.read(UINT64_MAX - 1, word));

  CHECK(a->reads == a_reads);
  CHECK(a->writes == 0);
  CHECK(b->reads == 0);
  CHECK(b->writes == 0);
}

TEST_CASE("mmio bus: an empty bus refuses everything", "[mmio_bus]") {
  MmioBus bus;
  uint8_t byte[1] = {};
  CHECK_FALSE(bus.read(0x1000, byte));
  CHECK_FALSE(bus.write(0x1000, byte));
  CHECK(bus.devices().empty());
}

TEST_CASE("mmio bus: overlapping devices are DEVICE_MEMORY_OVERLAP", "[mmio_bus]") {
  MmioBus bus;
  REQUIRE(bus.add(device("uart", 0x9000000, 0x1000)));

  struct Case {
    uint64_t base;
    uint64_t size;
  };
  for (Case c : {
           Case{0x9000800, 0x1000},    // tail of the new over the head of the old
           Case{0x8fff000, 0x1001},    // one byte into it from below
           Case{0x9000fff, 0x1},       // the old device's last byte
           Case{0x9000100, 0x10},      // inside it
           Case{0x8000000, 0x2000000}  // around it
       }) {
    INFO("base " << std::hex << c.base << " size " << c.size);
    auto result = bus.add(device("rtc", c.base, c.size));
    REQUIRE_FALSE(result);
    CHECK(result.error().code == ExitCode::kDeviceMemoryOverlap);
    CHECK_THAT(result.error().message, Catch::Contains("rtc") && Catch::Contains("uart"));
  }
  REQUIRE(bus.devices().size() == 1);
  CHECK(bus.devices()[0]->name() == "uart");

  // Touching but not overlapping is fine on both sides.
  CHECK(bus.add(device("below", 0x8fff000, 0x1000)));
  CHECK(bus.add(device("above", 0x9001000, 0x1000)));
  CHECK(bus.devices().size() == 3);
}

TEST_CASE("mmio bus: a device over a reserved range is refused, naming its owner", "[mmio_bus]") {
  MmioBus bus;
  bus.reserve({0x0800'0000, 0x1'0000}, "gic-distributor");
  bus.reserve({0x8000'0000, 0x4000'0000}, "guest RAM");

  auto result = bus.add(device("virtio-blk", 0x0800'fe00, 0x200));
  REQUIRE_FALSE(result);
  CHECK(result.error().code == ExitCode::kDeviceMemoryOverlap);
  CHECK_THAT(result.error().message,
             Catch::Contains("virtio-blk") && Catch::Contains("gic-distributor"));

  result = bus.add(device("virtio-net", 0x7fff'ff00, 0x200));
  REQUIRE_FALSE(result);
  CHECK(result.error().code == ExitCode::kDeviceMemoryOverlap);
  CHECK_THAT(result.error().message, Catch::Contains("virtio-net") && Catch::Contains("guest RAM"));

  CHECK(bus.devices().empty());
  // Reservations are not devices: nothing answers there.
  uint8_t byte[1] = {};
  CHECK_FALSE(bus.read(0x0800'0000, byte));
  CHECK(bus.add(device("uart", 0x0900'0000, 0x1000)));
}

TEST_CASE("mmio bus: devices() is sorted by address whatever the order of adding", "[mmio_bus]") {
  MmioBus bus;
  REQUIRE(bus.add(device("c", 0x3000, 0x100)));
  REQUIRE(bus.add(device("a", 0x1000, 0x100)));
  REQUIRE(bus.add(device("d", 0x4000, 0x100)));
  REQUIRE(bus.add(device("b", 0x2000, 0x100)));
  REQUIRE_FALSE(bus.add(device("x", 0x2080, 0x100)));

  const auto& devices = bus.devices();
  REQUIRE(devices.size() == 4);
  CHECK(devices[0]->name() == "a");
  CHECK(devices[1]->name() == "b");
  CHECK(devices[2]->name() == "c");
  CHECK(devices[3]->name() == "d");
  for (size_t i = 1; i < devices.size(); ++i) {
    CHECK(devices[i - 1]->mmio_range().base < devices[i]->mmio_range().base);
  }
}

}  // namespace
}  // namespace petrel
