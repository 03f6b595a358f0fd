#include "devices/virtio_mmio.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "devices/virtio_rng.h"
#include "tests/unit/virtio_test_helpers.h"

namespace petrel::virtio {
namespace {

using namespace petrel::virtio::testing;

constexpr uint64_t kFeatureA = 1ull << 0;  // device-specific bits the test device offers
constexpr uint64_t kFeatureB = 1ull << 7;

// Copies each chain's readable bytes into its writable ones, on two queues. What the
// transport told it is left where the test can see it.
class LoopbackDevice final : public VirtioDevice {
 public:
  struct Log {
    int activations = 0;
    int resets = 0;
    uint64_t features = 0;
    std::vector<uint8_t> config_written;
    bool fail_activation = false;
    uint16_t queue_size = 16;
  };
  explicit LoopbackDevice(std::shared_ptr<Log> log) : log_(std::move(log)) {}

  uint32_t device_type() const override { return 42; }
  std::string_view name() const override { return "loopback"; }
  uint64_t features() const override { return kFeatureA | kFeatureB; }
  size_t queue_count() const override { return 2; }
  uint16_t queue_max_size(size_t) const override { return log_->queue_size; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override {
    const std::array<uint8_t, 8> config = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17};
    read_config_bytes(config, offset, data);
  }
  void write_config(uint64_t offset, std::span<const uint8_t> data) override {
    log_->config_written.push_back(static_cast<uint8_t>(offset));
    log_->config_written.insert(log_->config_written.end(), data.begin(), data.end());
  }
  Result<> activate(uint64_t features) override {
    ++log_->activations;
    log_->features = features;
    if (log_->fail_activation)
      return fail(ExitCode::kDeviceInitializationFailure, "the test said no");
    return {};
  }
  void reset() override { ++log_->resets; }
  void serve(size_t queue, QueueAccess& queues) override {
    while (auto chain = queues.pop(queue)) {
      ChainReader reader(*chain);
      std::vector<uint8_t> data(reader.remaining());
      reader.read(data);
      ChainWriter writer(*chain);
      queues.push_used(queue, chain->head, static_cast<uint32_t>(writer.write(data)));
    }
  }

 private:
  std::shared_ptr<LoopbackDevice::Log> log_;
};

struct LoopbackRig : MmioRig {
  explicit LoopbackRig(
      std::shared_ptr<LoopbackDevice::Log> l = std::make_shared<LoopbackDevice::Log>())
      : MmioRig(std::make_unique<LoopbackDevice>(l)), log(std::move(l)) {}
  std::shared_ptr<LoopbackDevice::Log> log;
};

constexpr uint32_t kNegotiated = kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk;
constexpr uint32_t kLive = kNegotiated | kStatusDriverOk;

// How many times `fd` (an eventfd) was signalled since the last look.
uint64_t drain(int fd) {
  uint64_t count = 0;
  if (::read(fd, &count, sizeof(count)) != sizeof(count)) return 0;
  return count;
}

TEST_CASE("virtio-mmio: identification registers", "[virtio_mmio]") {
  LoopbackRig rig;
  CHECK(rig.read(reg::kMagicValue) == 0x74726976);  // "virt"
  CHECK(rig.read(reg::kVersion) == 2);
  CHECK(rig.read(reg::kDeviceId) == 42);
  CHECK(rig.read(reg::kVendorId) == 0x4c525450);
  CHECK(rig.read(reg::kStatus) == 0);
  CHECK(rig.read(reg::kInterruptStatus) == 0);
  CHECK(rig.read(reg::kConfigGeneration) == 0);
  CHECK(rig.read(reg::kShmLenLow) == 0xffffffff);  // no shared memory regions
  CHECK(rig.read(reg::kShmLenHigh) == 0xffffffff);
  CHECK(rig.transport->device_type() == 42);
  CHECK(rig.transport->name() == "loopback");
  CHECK(rig.transport->mmio_range().base == MmioRig::kBase);
  CHECK(rig.transport->mmio_range().size == 0x200);
  CHECK(rig.transport->resources().kind == "virtio_mmio");
  CHECK(rig.transport->resources().mmio.base == 0xa000000);
  // An unknown register reads as zero.
  CHECK(rig.read(0x0f0) == 0);
}

TEST_CASE("virtio-mmio: registers are only accessed 32 bits wide and aligned", "[virtio_mmio]") {
  LoopbackRig rig;
  CHECK(rig.read(reg::kMagicValue, 2) == 0);
  CHECK(rig.read(reg::kMagicValue, 1) == 0);
  CHECK(rig.read(reg::kMagicValue, 8) == 0);
  CHECK(rig.read(reg::kMagicValue + 1, 4) == 0);
  CHECK(rig.read(reg::kMagicValue + 2, 2) == 0);

  rig.write(reg::kStatus, kStatusAcknowledge, 1);
  rig.write(reg::kStatus, kStatusAcknowledge, 2);
  rig.write(reg::kStatus, kStatusAcknowledge, 8);
  rig.write(reg::kStatus + 1, kStatusAcknowledge, 4);
  CHECK(rig.status() == 0);
  rig.write(reg::kStatus, kStatusAcknowledge, 4);
  CHECK(rig.status() == kStatusAcknowledge);
}

TEST_CASE("virtio-mmio: queue registers", "[virtio_mmio]") {
  LoopbackRig rig;
  rig.write(reg::kQueueSel, 0);
  CHECK(rig.read(reg::kQueueNumMax) == 16);
  CHECK(rig.read(reg::kQueueReady) == 0);
  rig.write(reg::kQueueSel, 1);
  CHECK(rig.read(reg::kQueueNumMax) == 16);
  // A queue that does not exist: zero, and writes go nowhere.
  rig.write(reg::kQueueSel, 2);
  CHECK(rig.read(reg::kQueueNumMax) == 0);
  rig.write(reg::kQueueDescLow, 0x1000);
  rig.write(reg::kQueueReady, 1);
  CHECK(rig.read(reg::kQueueDescLow) == 0);
  CHECK(rig.read(reg::kQueueReady) == 0);
  rig.write(reg::kQueueSel, 0xffffffff);
  CHECK(rig.read(reg::kQueueNumMax) == 0);

  rig.write(reg::kQueueSel, 1);
  rig.write(reg::kQueueDescLow, 0x8765'4320);
  rig.write(reg::kQueueDescHigh, 0x1);
  rig.write(reg::kQueueDriverLow, 0x1111'1110);
  rig.write(reg::kQueueDriverHigh, 0x2);
  rig.write(reg::kQueueDeviceLow, 0x3333'3330);
  rig.write(reg::kQueueDeviceHigh, 0x3);
  CHECK(rig.read(reg::kQueueDescLow) == 0x8765'4320);
  CHECK(rig.read(reg::kQueueDescHigh) == 1);
  CHECK(rig.read(reg::kQueueDriverLow) == 0x1111'1110);
  CHECK(rig.read(reg::kQueueDriverHigh) == 2);
  CHECK(rig.read(reg::kQueueDeviceLow) == 0x3333'3330);
  CHECK(rig.read(reg::kQueueDeviceHigh) == 3);
  rig.write(reg::kQueueSel, 0);
  CHECK(rig.read(reg::kQueueDescLow) == 0);  // per queue

  // Once ready, the addresses are fixed until the queue is disabled again.
  rig.write(reg::kQueueSel, 1);
  rig.write(reg::kQueueReady, 1);
  CHECK(rig.read(reg::kQueueReady) == 1);
  rig.write(reg::kQueueDescLow, 0x5000);
  CHECK(rig.read(reg::kQueueDescLow) == 0x8765'4320);
  rig.write(reg::kQueueReady, 0);
  rig.write(reg::kQueueDescLow, 0x5000);
  CHECK(rig.read(reg::kQueueDescLow) == 0x5000);
}

TEST_CASE("virtio-mmio: offered features", "[virtio_mmio]") {
  LoopbackRig rig;
  CHECK(rig.device_features() ==
        (kFeatureA | kFeatureB | kFeatureVersion1 | kFeatureIndirectDesc | kFeatureEventIdx));
  rig.write(reg::kDeviceFeaturesSel, 2);
  CHECK(rig.read(reg::kDeviceFeatures) == 0);
  rig.write(reg::kDeviceFeaturesSel, 0xffffffff);
  CHECK(rig.read(reg::kDeviceFeatures) == 0);
}

TEST_CASE("virtio-mmio: feature negotiation", "[virtio_mmio]") {
  LoopbackRig rig;
  SECTION("accepted: a subset of what is offered, with VERSION_1") {
    CHECK(rig.negotiate(kFeatureVersion1 | kFeatureA | kFeatureEventIdx));
    CHECK(rig.status() == kNegotiated);
  }
  SECTION("VERSION_1 alone is enough") { CHECK(rig.negotiate(kFeatureVersion1)); }
  SECTION("refused without VERSION_1 (a legacy driver)") {
    CHECK_FALSE(rig.negotiate(kFeatureA));
    CHECK(rig.status() == (kStatusAcknowledge | kStatusDriver));
    CHECK_FALSE(rig.negotiate(0));
  }
  SECTION("refused with a bit that is not offered") {
    CHECK_FALSE(rig.negotiate(kFeatureVersion1 | (1ull << 1)));
    CHECK(rig.status() == (kStatusAcknowledge | kStatusDriver));
    CHECK_FALSE(rig.negotiate(kFeatureVersion1 | (1ull << 34)));
    CHECK_FALSE(rig.negotiate(kFeatureVersion1 | (1ull << 63)));
    // The driver may try again with what was offered.
    CHECK(rig.negotiate(kFeatureVersion1 | kFeatureB));
  }
  SECTION("a features select beyond the second word writes nothing") {
    rig.write(reg::kStatus, kStatusAcknowledge | kStatusDriver);
    rig.set_driver_features(kFeatureVersion1);
    rig.write(reg::kDriverFeaturesSel, 2);
    rig.write(reg::kDriverFeatures, 0xffffffff);
    rig.write(reg::kStatus, kNegotiated);
    CHECK(rig.status() == kNegotiated);
  }
  SECTION("features are fixed once FEATURES_OK is accepted") {
    REQUIRE(rig.negotiate(kFeatureVersion1 | kFeatureA));
    rig.set_driver_features(kFeatureVersion1 | kFeatureB);
    DriverQueue ring(rig.ram, 8);
    rig.setup_queue(0, ring);
    rig.driver_ok();
    CHECK(rig.status() == kLive);
    CHECK(rig.log->activations == 1);
    CHECK(rig.log->features == (kFeatureVersion1 | kFeatureA));
  }
}

TEST_CASE("virtio-mmio: DRIVER_OK without FEATURES_OK needs a reset", "[virtio_mmio]") {
  LoopbackRig rig;
  rig.write(reg::kStatus, kStatusAcknowledge | kStatusDriver);
  rig.set_driver_features(kFeatureVersion1);
  DriverQueue ring(rig.ram, 8);
  rig.setup_queue(0, ring);
  rig.write(reg::kStatus, kStatusAcknowledge | kStatusDriver | kStatusDriverOk);
  CHECK((rig.status() & kStatusNeedsReset) != 0);
  CHECK((rig.read(reg::kInterruptStatus) & 2) != 0);
  CHECK(rig.log->activations == 0);
}

TEST_CASE("virtio-mmio: a notify is served and interrupts the driver", "[virtio_mmio]") {
  LoopbackRig rig;
  DriverQueue ring(rig.ram, 8);
  const auto notifiers = rig.transport->notifiers();
  REQUIRE(notifiers.size() == 2);
  CHECK(notifiers[0].address == MmioRig::kBase + 0x50);
  CHECK(notifiers[0].queue == 0);
  CHECK(notifiers[1].queue == 1);
  CHECK(notifiers[0].fd != notifiers[1].fd);

  // Before DRIVER_OK nothing is served.
  const auto early = ring.add({readable("early"), writable(8)});
  rig.transport->serve_queue(0);
  CHECK(ring.used_idx() == 0);

  REQUIRE(rig.start(ring));
  CHECK(rig.status() == kLive);
  CHECK(rig.log->activations == 1);
  // Going live pokes every queue, for chains made available before DRIVER_OK.
  CHECK(drain(notifiers[0].fd) >= 1);
  CHECK(drain(notifiers[1].fd) >= 1);
  rig.transport->serve_queue(0);
  CHECK(ring.used_idx() == 1);
  CHECK(ring.last_used().id == early.head);
  CHECK(*rig.interrupt_count == 1);
  rig.write(reg::kInterruptAck, 1);
  CHECK(rig.read(reg::kInterruptStatus) == 0);

  const auto sent = ring.add({readable("hello"), writable(3, 0), writable(8, 0)});
  rig.write(reg::kQueueNotify, 0);
  CHECK(drain(notifiers[0].fd) == 1);
  CHECK(drain(notifiers[1].fd) == 0);
  rig.write(reg::kQueueNotify, 7);  // no such queue: ignored
  CHECK(drain(notifiers[0].fd) == 0);

  rig.transport->serve_queue(0);
  CHECK(ring.used_idx() == 2);
  CHECK(ring.last_used().id == sent.head);
  CHECK(ring.last_used().len == 5);
  CHECK(text_of(ring.read(sent.addresses[1], 3)) == "hel");
  CHECK(text_of(ring.read(sent.addresses[2], 2)) == "lo");
  CHECK(*rig.interrupt_count == 2);
  CHECK(rig.read(reg::kInterruptStatus) == 1);
  CHECK(rig.transport->interrupt_status() == 1);
  rig.write(reg::kInterruptAck, 1);
  CHECK(rig.read(reg::kInterruptStatus) == 0);

  // Nothing new: no interrupt.
  rig.transport->serve_queue(0);
  CHECK(*rig.interrupt_count == 2);
  // A queue that is not ready, or does not exist, is not served.
  ring.add({readable("x"), writable(1)});
  rig.transport->serve_queue(1);
  rig.transport->serve_queue(5);
  CHECK(ring.used_idx() == 2);
  CHECK(*rig.interrupt_count == 2);
}

TEST_CASE("virtio-mmio: a turn serves a bounded number of chains, then comes back",
          "[virtio_mmio]") {
  auto log = std::make_shared<LoopbackDevice::Log>();
  log->queue_size = 256;
  LoopbackRig rig(log);
  DriverQueue ring(rig.ram, 256, kRamBase + 0x8000, kRamBase + 0x18000, kRamBase + 0x28000);
  REQUIRE(rig.start(ring));
  const int notify = rig.transport->notifiers()[0].fd;
  drain(notify);  // going live pokes every queue
  const size_t chains = MmioTransport::kChainsPerTurn + 36;
  for (size_t i = 0; i < chains; ++i) ring.add({readable("x"), writable(1)});

  rig.transport->serve_queue(0);
  CHECK(ring.used_idx() == MmioTransport::kChainsPerTurn);
  CHECK(*rig.interrupt_count == 1);
  CHECK(drain(notify) == 1);  // the loop is asked back for the rest
  rig.transport->serve_queue(0);
  CHECK(ring.used_idx() == chains);
  CHECK(drain(notify) == 0);  // done: nothing more to come back for
}

TEST_CASE("virtio-mmio: the driver can suppress interrupts", "[virtio_mmio]") {
  LoopbackRig rig;
  DriverQueue ring(rig.ram, 8);
  SECTION("NO_INTERRUPT") {
    REQUIRE(rig.start(ring));
    ring.set_avail_flags(1);
    ring.add({readable("a"), writable(1)});
    rig.transport->serve_queue(0);
    CHECK(ring.used_idx() == 1);
    CHECK(*rig.interrupt_count == 0);
    CHECK(rig.read(reg::kInterruptStatus) == 0);
  }
  SECTION("event-idx") {
    REQUIRE(rig.start(ring, kFeatureVersion1 | kFeatureEventIdx));
    ring.set_used_event(1);  // not before the second used entry
    ring.add({readable("a"), writable(1)});
    rig.transport->serve_queue(0);
    CHECK(ring.used_idx() == 1);
    CHECK(*rig.interrupt_count == 0);
    // The device asked to be notified for the next available entry.
    CHECK(ring.avail_event() == 1);
    ring.add({readable("b"), writable(1)});
    ring.add({readable("c"), writable(1)});
    rig.transport->serve_queue(0);
    CHECK(ring.used_idx() == 3);
    CHECK(*rig.interrupt_count == 1);
    CHECK(ring.avail_event() == 3);
  }
}

TEST_CASE("virtio-mmio: a malformed ring needs a reset, and a reset recovers", "[virtio_mmio]") {
  LoopbackRig rig;
  DriverQueue ring(rig.ram, 8);
  REQUIRE(rig.start(ring));
  rig.transport->serve_queue(0);  // the wake-up from going live
  CHECK(*rig.interrupt_count == 0);

  ring.publish(8);  // a head out of the table
  rig.transport->serve_queue(0);
  CHECK(rig.status() == (kLive | kStatusNeedsReset));
  CHECK(rig.read(reg::kInterruptStatus) == 2);  // a configuration change
  CHECK(*rig.interrupt_count == 1);
  CHECK(ring.used_idx() == 0);

  // A broken device serves nothing and says so once.
  ring.add({readable("x"), writable(1)});
  rig.transport->serve_queue(0);
  CHECK(ring.used_idx() == 0);
  CHECK(*rig.interrupt_count == 1);
  // NEEDS_RESET sticks whatever the driver writes, short of a reset.
  rig.write(reg::kStatus, kLive);
  CHECK((rig.status() & kStatusNeedsReset) != 0);

  rig.write(reg::kStatus, 0);
  CHECK(rig.status() == 0);
  CHECK(rig.read(reg::kInterruptStatus) == 0);
  CHECK(rig.log->resets == 1);
  for (uint32_t q : {0u, 1u}) {
    rig.write(reg::kQueueSel, q);
    CHECK(rig.read(reg::kQueueReady) == 0);
    CHECK(rig.read(reg::kQueueDescLow) == 0);
    CHECK(rig.read(reg::kQueueDriverLow) == 0);
    CHECK(rig.read(reg::kQueueDeviceLow) == 0);
  }
  rig.write(reg::kQueueSel, 0);
  rig.transport->serve_queue(0);
  CHECK(ring.used_idx() == 0);

  // A new handshake over fresh rings: the device works again.
  DriverQueue fresh(rig.ram, 4, kRamBase + 0x5'0000, kRamBase + 0x5'1000, kRamBase + 0x5'2000,
                    kRamBase + 0x6'0000);
  REQUIRE(rig.start(fresh));
  CHECK(rig.log->activations == 2);
  const auto sent = fresh.add({readable("again"), writable(8, 0)});
  rig.transport->serve_queue(0);
  CHECK(fresh.used_idx() == 1);
  CHECK(fresh.last_used().id == sent.head);
  CHECK(text_of(fresh.read(sent.addresses[1], 5)) == "again");
  CHECK(rig.read(reg::kInterruptStatus) == 1);
  CHECK(*rig.interrupt_count == 2);
}

TEST_CASE("virtio-mmio: bad rings at DRIVER_OK need a reset", "[virtio_mmio]") {
  LoopbackRig rig;
  REQUIRE(rig.negotiate(kFeatureVersion1));
  SECTION("misaligned") {
    DriverQueue ring(rig.ram, 8, kRamBase + 8);
    rig.setup_queue(0, ring);
  }
  SECTION("outside RAM") {
    DriverQueue ring(rig.ram, 8, kRamBase + kDescOffset, kRamBase + kAvailOffset, kRamEnd - 16);
    rig.setup_queue(0, ring);
  }
  SECTION("size not a power of two") {
    DriverQueue ring(rig.ram, 6);
    rig.setup_queue(0, ring);
  }
  SECTION("size above the maximum") {
    DriverQueue ring(rig.ram, 32);
    rig.setup_queue(0, ring);
  }
  SECTION("size beyond 16 bits") {
    DriverQueue ring(rig.ram, 8);
    rig.setup_queue(0, ring);
    rig.write(reg::kQueueReady, 0);
    rig.write(reg::kQueueNum, 0x10008);
    rig.write(reg::kQueueReady, 1);
  }
  rig.driver_ok();
  CHECK((rig.status() & kStatusNeedsReset) != 0);
  CHECK(rig.read(reg::kInterruptStatus) == 2);
  CHECK(*rig.interrupt_count == 1);
  CHECK(rig.log->activations == 0);
  rig.transport->serve_queue(0);  // nothing to serve, and no crash

  rig.write(reg::kStatus, 0);
  CHECK(rig.status() == 0);
  CHECK(rig.log->resets == 0);  // it never went live
  DriverQueue good(rig.ram, 8);
  CHECK(rig.start(good));
}

TEST_CASE("virtio-mmio: a device that refuses activation needs a reset", "[virtio_mmio]") {
  LoopbackRig rig;
  rig.log->fail_activation = true;
  DriverQueue ring(rig.ram, 8);
  CHECK_FALSE(rig.start(ring));
  CHECK((rig.status() & kStatusNeedsReset) != 0);
  ring.add({readable("x"), writable(1)});
  rig.transport->serve_queue(0);
  CHECK(ring.used_idx() == 0);
}

TEST_CASE("virtio-mmio: FAILED stops the handshake", "[virtio_mmio]") {
  LoopbackRig rig;
  REQUIRE(rig.negotiate(kFeatureVersion1));
  DriverQueue ring(rig.ram, 8);
  rig.setup_queue(0, ring);
  rig.write(reg::kStatus, kLive | kStatusFailed);
  CHECK(rig.log->activations == 0);
  ring.add({readable("x"), writable(1)});
  rig.transport->serve_queue(0);
  CHECK(ring.used_idx() == 0);
}

TEST_CASE("virtio-mmio: queue configuration is ignored after DRIVER_OK", "[virtio_mmio]") {
  LoopbackRig rig;
  DriverQueue ring(rig.ram, 8);
  REQUIRE(rig.start(ring));

  rig.write(reg::kQueueSel, 0);
  rig.write(reg::kQueueReady, 0);
  rig.write(reg::kQueueNum, 16);
  rig.write(reg::kQueueDescLow, static_cast<uint32_t>(kRamBase + 0x7'0000));
  rig.write(reg::kQueueDescHigh, 1);
  rig.write(reg::kQueueDriverLow, static_cast<uint32_t>(kRamBase + 0x7'1000));
  rig.write(reg::kQueueDeviceLow, static_cast<uint32_t>(kRamBase + 0x7'2000));
  CHECK(rig.read(reg::kQueueReady) == 1);
  CHECK(rig.read(reg::kQueueDescLow) == static_cast<uint32_t>(ring.desc()));
  CHECK(rig.read(reg::kQueueDescHigh) == 0);
  CHECK(rig.read(reg::kQueueDriverLow) == static_cast<uint32_t>(ring.avail()));
  CHECK(rig.read(reg::kQueueDeviceLow) == static_cast<uint32_t>(ring.used()));

  // A queue that was not set up cannot be set up late either.
  rig.write(reg::kQueueSel, 1);
  rig.write(reg::kQueueDescLow, static_cast<uint32_t>(kRamBase + 0x7'0000));
  rig.write(reg::kQueueReady, 1);
  CHECK(rig.read(reg::kQueueDescLow) == 0);
  CHECK(rig.read(reg::kQueueReady) == 0);

  // And the queue still works as it was set up.
  const auto sent = ring.add({readable("still"), writable(8, 0)});
  rig.transport->serve_queue(0);
  CHECK(ring.used_idx() == 1);
  CHECK(ring.last_used().id == sent.head);
  CHECK(rig.status() == kLive);
}

// The driver clears DRIVER_OK without a reset (which the spec forbids it to do), grows
// queue 0 from 8 to 16 entries and makes it ready again, then notifies. The rings were only
// checked for 8 entries at DRIVER_OK; the device must not read or write the 16-entry layout
// it was never given. (With a size of 256 and the used ring at the end of RAM, the same
// steps would write past the end of guest RAM.)
TEST_CASE("virtio-mmio: queue changes after clearing DRIVER_OK are not served unchecked",
          "[virtio_mmio][malicious]") {
  LoopbackRig rig;
  // Used ring for 8 entries without event-idx: 4 + 64 bytes, ending 8 * 8 bytes before the
  // end of RAM, so entries 8..15 of a 16-entry ring would be the last 64 bytes of RAM and
  // entry 16 (were the size 32) beyond it.
  DriverQueue ring(rig.ram, 8, kRamBase + kDescOffset, kRamBase + kAvailOffset, kRamEnd - 64 - 68);
  REQUIRE(rig.start(ring));
  rig.transport->serve_queue(0);
  const uint64_t sentinel_at = kRamEnd - 64;
  ring.put<uint64_t>(sentinel_at, 0x5e17'1e15'5e17'1e15);

  rig.write(reg::kStatus, kNegotiated);  // DRIVER_OK cleared, no reset
  rig.write(reg::kQueueSel, 0);
  rig.write(reg::kQueueReady, 0);
  rig.write(reg::kQueueNum, 16);
  rig.write(reg::kQueueReady, 1);
  // Fill 8 entries so that the device's next used entry would be slot 8.
  for (int i = 0; i < 8; ++i) ring.add({readable("x"), writable(1)});
  rig.transport->serve_queue(0);
  ring.add({readable("y"), writable(1)});
  rig.transport->serve_queue(0);
  // Either the device refused to go on (it needs a reset) or it stayed within the 8-entry
  // layout it validated; it never wrote past it.
  CHECK(ring.get<uint64_t>(sentinel_at) == 0x5e17'1e15'5e17'1e15);
}

TEST_CASE("virtio-mmio: configuration space at any offset and width", "[virtio_mmio]") {
  LoopbackRig rig;
  CHECK(rig.read(reg::kConfig, 4) == 0x13121110);
  CHECK(rig.read(reg::kConfig, 8) == 0x1716151413121110);
  CHECK(rig.read(reg::kConfig, 1) == 0x10);
  CHECK(rig.read(reg::kConfig + 1, 1) == 0x11);
  CHECK(rig.read(reg::kConfig + 1, 2) == 0x1211);
  CHECK(rig.read(reg::kConfig + 3, 4) == 0x16151413);
  CHECK(rig.read(reg::kConfig + 7, 1) == 0x17);
  // Partly or wholly past the end of the device's structure: zeros there.
  CHECK(rig.read(reg::kConfig + 7, 2) == 0x0017);
  CHECK(rig.read(reg::kConfig + 6, 4) == 0x00001716);
  CHECK(rig.read(reg::kConfig + 5, 8) == 0x171615);
  CHECK(rig.read(reg::kConfig + 8, 4) == 0);
  CHECK(rig.read(reg::kConfig + 0xfc, 4) == 0);
  CHECK(rig.read(reg::kConfig + 0xff, 1) == 0);

  rig.write(reg::kConfig + 3, 0xabcd, 2);
  CHECK(rig.log->config_written == std::vector<uint8_t>{3, 0xcd, 0xab});
  CHECK(rig.read(reg::kConfig, 4) == 0x13121110);  // the test device ignores writes
}

TEST_CASE("virtio-mmio: entropy fills what the driver offers", "[virtio_mmio][virtio_rng]") {
  MmioRig rig(std::make_unique<EntropyDevice>());
  CHECK(rig.read(reg::kDeviceId) == 4);
  CHECK(rig.device_features() == (kFeatureVersion1 | kFeatureIndirectDesc | kFeatureEventIdx));
  CHECK(rig.read(reg::kConfig, 4) == 0);
  rig.write(reg::kQueueSel, 0);
  CHECK(rig.read(reg::kQueueNumMax) == 64);

  DriverQueue ring(rig.ram, 64);
  REQUIRE(rig.start(ring, kFeatureVersion1 | kFeatureIndirectDesc));
  const auto sent = ring.add({writable(32, 0), writable(32, 0)});
  const auto only_readable = ring.add({readable("nothing to fill")});
  const auto indirect = ring.add_indirect({writable(16, 0)});
  rig.transport->serve_queue(0);
  REQUIRE(ring.used_idx() == 3);
  CHECK(ring.used_element(0).id == sent.head);
  CHECK(ring.used_element(0).len == 64);
  CHECK(ring.used_element(1).id == only_readable.head);
  CHECK(ring.used_element(1).len == 0);
  CHECK(ring.used_element(2).id == indirect.head);
  CHECK(ring.used_element(2).len == 16);
  const auto first = ring.read(sent.addresses[0], 32);
  const auto second = ring.read(sent.addresses[1], 32);
  // 2^-256 odds of a false alarm each.
  CHECK(std::ranges::any_of(first, [](uint8_t b) { return b != 0; }));
  CHECK(std::ranges::any_of(second, [](uint8_t b) { return b != 0; }));
  CHECK(first != second);
  CHECK(*rig.interrupt_count == 1);

  // A large buffer is filled up to the per-request cap, and no further.
  const auto big = ring.add({writable(96 * 1024, 0)});
  rig.transport->serve_queue(0);
  CHECK(ring.last_used().id == big.head);
  CHECK(ring.last_used().len == 64 * 1024);
}

}  // namespace
}  // namespace petrel::virtio
