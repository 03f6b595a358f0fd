#include "devices/uart16550.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace petrel {
namespace {

// Register offsets, reg-shift 0.
constexpr uint64_t kRbrThr = 0;
constexpr uint64_t kIer = 1;
constexpr uint64_t kIirFcr = 2;
constexpr uint64_t kLcr = 3;
constexpr uint64_t kMcr = 4;
constexpr uint64_t kLsr = 5;
constexpr uint64_t kMsr = 6;
constexpr uint64_t kScr = 7;

constexpr uint64_t kBase = 0x0900'0000;
constexpr uint32_t kSpi = 1;

// Records the level a device drives and how often it changed.
class FakeIrq final : public InterruptLine {
 public:
  void set_level(bool asserted) override {
    if (asserted != level) ++changes;
    level = asserted;
    ++calls;
  }
  bool level = false;
  int changes = 0;
  int calls = 0;
};

struct UartRig {
  FakeIrq irq;
  std::string output;
  int ready_calls = 0;
  Uart16550 uart{
      kBase, kSpi, irq,
      [this](std::span<const uint8_t> bytes) { output.append(bytes.begin(), bytes.end()); },
      [this] { ++ready_calls; }};

  uint8_t read(uint64_t offset) {
    uint8_t byte = 0xee;
    uart.mmio_read(offset, std::span<uint8_t>(&byte, 1));
    return byte;
  }
  void write(uint64_t offset, uint8_t value) {
    uart.mmio_write(offset, std::span<const uint8_t>(&value, 1));
  }
  size_t receive(std::string_view text) {
    return uart.receive(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
};

TEST_CASE("uart: bytes written to THR go to the output", "[uart]") {
  UartRig rig;
  rig.write(kRbrThr, 'h');
  rig.write(kRbrThr, 'i');
  CHECK(rig.output == "hi");
  // Transmit is instantaneous: holding register and shift register always empty.
  CHECK(rig.read(kLsr) == 0x60);
  // Nothing was received; no interrupt was enabled.
  CHECK(rig.irq.level == false);
  CHECK(rig.irq.changes == 0);
}

TEST_CASE("uart: only the low byte of a wide THR write is sent", "[uart]") {
  UartRig rig;
  const uint8_t word[4] = {'A', 'B', 'C', 'D'};
  rig.uart.mmio_write(kRbrThr, std::span<const uint8_t>(word, 4));
  CHECK(rig.output == "A");
}

TEST_CASE("uart: a wide register read is zero-extended", "[uart]") {
  UartRig rig;
  uint8_t word[4] = {0xff, 0xff, 0xff, 0xff};
  rig.uart.mmio_read(kLsr, std::span<uint8_t>(word, 4));
  CHECK(word[0] == 0x60);
  CHECK(word[1] == 0);
  CHECK(word[2] == 0);
  CHECK(word[3] == 0);
}

TEST_CASE("uart: in loopback THR feeds the receiver, not the output", "[uart]") {
  UartRig rig;
  rig.write(kMcr, 0x10);
  CHECK(rig.read(kMcr) == 0x10);
  rig.write(kRbrThr, 'x');
  rig.write(kRbrThr, 'y');
  CHECK(rig.output.empty());
  CHECK((rig.read(kLsr) & 0x01) == 0x01);
  CHECK(rig.read(kRbrThr) == 'x');
  CHECK(rig.read(kRbrThr) == 'y');
  CHECK((rig.read(kLsr) & 0x01) == 0);

  // Leaving loopback sends to the output again.
  rig.write(kMcr, 0x00);
  rig.write(kRbrThr, 'z');
  CHECK(rig.output == "z");
}

TEST_CASE("uart: MSR reports a cable, and the modem outputs in loopback", "[uart]") {
  UartRig rig;
  CHECK(rig.read(kMsr) == 0xb0);  // DCD, DSR, CTS
  rig.write(kMcr, 0x10 | 0x01);   // loopback + DTR -> DSR
  CHECK(rig.read(kMsr) == 0x20);
  rig.write(kMcr, 0x10 | 0x02);  // RTS -> CTS
  CHECK(rig.read(kMsr) == 0x10);
  rig.write(kMcr, 0x10 | 0x04);  // OUT1 -> RI
  CHECK(rig.read(kMsr) == 0x40);
  rig.write(kMcr, 0x10 | 0x08);  // OUT2 -> DCD
  CHECK(rig.read(kMsr) == 0x80);
  rig.write(kMcr, 0x1f);
  CHECK(rig.read(kMsr) == 0xf0);
}

TEST_CASE("uart: received bytes set DR and are read in order", "[uart]") {
  UartRig rig;
  CHECK((rig.read(kLsr) & 0x01) == 0);
  CHECK(rig.receive("abc") == 3);
  CHECK((rig.read(kLsr) & 0x01) == 0x01);
  // Receive interrupt not enabled: the line stays low and IIR says "none".
  CHECK(rig.irq.level == false);
  CHECK(rig.irq.changes == 0);
  CHECK(rig.read(kIirFcr) == 0x01);

  CHECK(rig.read(kRbrThr) == 'a');
  CHECK(rig.read(kRbrThr) == 'b');
  CHECK((rig.read(kLsr) & 0x01) == 0x01);
  CHECK(rig.read(kRbrThr) == 'c');
  CHECK((rig.read(kLsr) & 0x01) == 0);
  CHECK(rig.read(kRbrThr) == 0);  // empty receiver reads zero
}

TEST_CASE("uart: the receive interrupt follows IER.ERBFI and drops when drained", "[uart]") {
  UartRig rig;
  rig.write(kIer, 0x01);
  CHECK(rig.read(kIer) == 0x01);
  CHECK(rig.irq.level == false);  // nothing received yet

  CHECK(rig.receive("xy") == 2);
  CHECK(rig.irq.level == true);
  CHECK(rig.irq.changes == 1);
  CHECK(rig.read(kIirFcr) == 0x04);
  CHECK(rig.read(kIirFcr) == 0x04);  // reading IIR does not acknowledge received data
  CHECK(rig.irq.level == true);

  CHECK(rig.read(kRbrThr) == 'x');
  CHECK(rig.irq.level == true);
  CHECK(rig.read(kRbrThr) == 'y');
  CHECK(rig.irq.level == false);
  CHECK(rig.irq.changes == 2);
  CHECK(rig.read(kIirFcr) == 0x01);
}

TEST_CASE("uart: enabling ERBFI with data waiting raises the line at once", "[uart]") {
  UartRig rig;
  rig.receive("q");
  CHECK(rig.irq.level == false);
  rig.write(kIer, 0x01);
  CHECK(rig.irq.level == true);
  rig.write(kIer, 0x00);
  CHECK(rig.irq.level == false);
  CHECK(rig.irq.changes == 2);
}

TEST_CASE("uart: THRE interrupt on ETBEI, reported by IIR and acknowledged by reading it",
          "[uart]") {
  UartRig rig;
  rig.write(kIer, 0x02);
  CHECK(rig.irq.level == true);
  CHECK(rig.read(kIirFcr) == 0x02);
  CHECK(rig.irq.level == false);
  CHECK(rig.read(kIirFcr) == 0x01);

  // Every byte sent empties the holding register again and re-raises it.
  rig.write(kRbrThr, '!');
  CHECK(rig.output == "!");
  CHECK(rig.irq.level == true);
  CHECK(rig.read(kIirFcr) == 0x02);
  CHECK(rig.irq.level == false);

  // Re-writing IER with ETBEI already set does not raise it again.
  rig.write(kIer, 0x02);
  CHECK(rig.irq.level == false);
  CHECK(rig.irq.changes == 4);
}

TEST_CASE("uart: THRE stays low without ETBEI", "[uart]") {
  UartRig rig;
  rig.write(kRbrThr, 'a');
  CHECK(rig.irq.level == false);
  CHECK(rig.read(kIirFcr) == 0x01);
}

TEST_CASE("uart: received data outranks THRE and does not consume it", "[uart]") {
  UartRig rig;
  rig.write(kIer, 0x03);
  rig.receive("r");
  CHECK(rig.read(kIirFcr) == 0x04);
  CHECK(rig.read(kRbrThr) == 'r');
  // The THRE interrupt was hidden behind received data, not acknowledged.
  CHECK(rig.irq.level == true);
  CHECK(rig.read(kIirFcr) == 0x02);
  CHECK(rig.irq.level == false);
}

TEST_CASE("uart: FIFO enable shows in IIR and FCR bit 1 clears the receiver", "[uart]") {
  UartRig rig;
  CHECK((rig.read(kIirFcr) & 0xc0) == 0);
  rig.write(kIirFcr, 0x01);
  CHECK(rig.read(kIirFcr) == 0xc1);

  rig.write(kIer, 0x01);
  rig.receive("abc");
  CHECK(rig.read(kIirFcr) == 0xc4);
  CHECK(rig.irq.level == true);
  rig.write(kIirFcr, 0x03);  // keep FIFOs on, reset the receive FIFO
  CHECK((rig.read(kLsr) & 0x01) == 0);
  CHECK(rig.irq.level == false);
  CHECK(rig.read(kIirFcr) == 0xc1);

  rig.write(kIirFcr, 0x00);
  CHECK(rig.read(kIirFcr) == 0x01);
}

TEST_CASE("uart: the divisor latch redirects offsets 0 and 1", "[uart]") {
  UartRig rig;
  CHECK(rig.read(kLcr) == 0x03);
  rig.write(kIer, 0x05);
  rig.write(kLcr, 0x83);
  CHECK(rig.read(kLcr) == 0x83);
  CHECK(rig.read(kRbrThr) == 0x0c);  // reset divisor: 9600 baud from 1.8432 MHz
  CHECK(rig.read(kIer) == 0x00);
  rig.write(kRbrThr, 0x01);
  rig.write(kIer, 0x02);
  CHECK(rig.output.empty());
  CHECK(rig.read(kRbrThr) == 0x01);
  CHECK(rig.read(kIer) == 0x02);
  // The DLM write did not reach IER: no THRE interrupt was armed.
  CHECK(rig.irq.level == false);

  rig.write(kLcr, 0x03);
  CHECK(rig.read(kIer) == 0x05);
  CHECK((rig.read(kLsr) & 0x01) == 0);  // the DLL write was not looped into the receiver
  rig.write(kRbrThr, 'k');
  CHECK(rig.output == "k");

  rig.write(kLcr, 0x80);
  CHECK(rig.read(kRbrThr) == 0x01);  // the divisor survived
  CHECK(rig.read(kIer) == 0x02);
}

TEST_CASE("uart: a received byte is not consumed through the divisor latch", "[uart]") {
  UartRig rig;
  rig.receive("d");
  rig.write(kLcr, 0x80);
  CHECK(rig.read(kRbrThr) == 0x0c);
  rig.write(kLcr, 0x03);
  CHECK(rig.read(kRbrThr) == 'd');
}

TEST_CASE("uart: the scratch register round-trips", "[uart]") {
  UartRig rig;
  CHECK(rig.read(kScr) == 0);
  rig.write(kScr, 0x5a);
  CHECK(rig.read(kScr) == 0x5a);
  rig.write(kScr, 0xa5);
  CHECK(rig.read(kScr) == 0xa5);
  CHECK(rig.output.empty());
}

TEST_CASE("uart: LSR and MSR ignore writes", "[uart]") {
  UartRig rig;
  rig.write(kLsr, 0x01);
  rig.write(kMsr, 0x00);
  CHECK(rig.read(kLsr) == 0x60);
  CHECK(rig.read(kMsr) == 0xb0);
}

TEST_CASE("uart: host input beyond kMaxPendingInput is truncated", "[uart]") {
  UartRig rig;
  const std::vector<uint8_t> flood(Uart16550::kMaxPendingInput + 10, 'f');
  CHECK(rig.uart.receive(flood) == Uart16550::kMaxPendingInput);
  CHECK(rig.receive("more") == 0);

  // Draining one byte makes room for exactly one more.
  CHECK(rig.read(kRbrThr) == 'f');
  CHECK(rig.receive("gh") == 1);

  size_t drained = 0;
  uint8_t last = 0;
  while ((rig.read(kLsr) & 0x01) != 0 && drained <= Uart16550::kMaxPendingInput) {
    last = rig.read(kRbrThr);
    ++drained;
  }
  CHECK(drained == Uart16550::kMaxPendingInput);
  CHECK(last == 'g');
}

TEST_CASE("uart: loopback does not grow the receiver past kMaxPendingInput", "[uart]") {
  UartRig rig;
  const std::vector<uint8_t> flood(Uart16550::kMaxPendingInput, 'f');
  REQUIRE(rig.uart.receive(flood) == Uart16550::kMaxPendingInput);
  rig.write(kMcr, 0x10);
  rig.write(kRbrThr, 'x');
  rig.write(kMcr, 0x00);
  CHECK(rig.receive("y") == 0);
  // The looped-back byte was dropped: after one read there is room for exactly one byte.
  CHECK(rig.read(kRbrThr) == 'f');
  CHECK(rig.receive("yz") == 1);
}

TEST_CASE("uart: input room opens with ERBFI and follows the FIFO", "[uart]") {
  UartRig rig;
  // Linux's 8250 driver clears the FIFO on open, then enables the receive interrupt:
  // before that the guest does not listen, and the host offers nothing.
  CHECK(rig.uart.input_room() == 0);
  rig.write(kIirFcr, 0x07);  // FIFO on, both cleared
  CHECK(rig.uart.input_room() == 0);
  CHECK(rig.ready_calls == 0);
  rig.write(kIer, 0x01);
  CHECK(rig.uart.input_room() == Uart16550::kFifoDepth);
  CHECK(rig.ready_calls == 1);
  REQUIRE(rig.receive(std::string(Uart16550::kFifoDepth, 'a')) == Uart16550::kFifoDepth);
  CHECK(rig.uart.input_room() == 0);
  // Reading a byte makes room again: the hook fires once, on the transition.
  CHECK(rig.read(kRbrThr) == 'a');
  CHECK(rig.uart.input_room() == 1);
  CHECK(rig.ready_calls == 2);
  CHECK(rig.read(kRbrThr) == 'a');
  CHECK(rig.ready_calls == 2);
  // Throttled (ERBFI off): no room, and room again when it comes back on.
  rig.write(kIer, 0x00);
  CHECK(rig.uart.input_room() == 0);
  rig.write(kIer, 0x01);
  CHECK(rig.ready_calls == 3);
  CHECK(rig.uart.input_room() == 2);
}

TEST_CASE("uart: without the FIFO the room is the one-byte holding register", "[uart]") {
  UartRig rig;
  rig.write(kIer, 0x01);
  CHECK(rig.uart.input_room() == 1);
  REQUIRE(rig.receive("xy") == 2);  // receive() itself still queues what it is given
  CHECK(rig.uart.input_room() == 0);
  CHECK(rig.read(kRbrThr) == 'x');
  CHECK(rig.uart.input_room() == 0);
  CHECK(rig.read(kRbrThr) == 'y');
  CHECK(rig.uart.input_room() == 1);
  // In loopback the receiver hears only the transmitter.
  rig.write(kMcr, 0x10);
  CHECK(rig.uart.input_room() == 0);
}

TEST_CASE("uart: identity and device-tree node name", "[uart]") {
  UartRig rig;
  CHECK(rig.uart.name() == "uart");
  CHECK(rig.uart.resources().kind == "serial");
  CHECK(rig.uart.resources().mmio.base == 0x9000000);
  CHECK(rig.uart.mmio_range().base == kBase);
  CHECK(rig.uart.mmio_range().size == Uart16550::kWindowBytes);
  CHECK(rig.uart.spi() == kSpi);
}

}  // namespace
}  // namespace petrel
