#include "devices/pl011.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace petrel {
namespace {

// Register offsets and bits, PL011 TRM (ARM DDI 0183G) and Linux's linux/amba/serial.h.
constexpr uint64_t kDr = 0x000;
constexpr uint64_t kRsr = 0x004;
constexpr uint64_t kFr = 0x018;
constexpr uint64_t kIlpr = 0x020;
constexpr uint64_t kIbrd = 0x024;
constexpr uint64_t kFbrd = 0x028;
constexpr uint64_t kLcrH = 0x02c;
constexpr uint64_t kCr = 0x030;
constexpr uint64_t kIfls = 0x034;
constexpr uint64_t kImsc = 0x038;
constexpr uint64_t kRis = 0x03c;
constexpr uint64_t kMis = 0x040;
constexpr uint64_t kIcr = 0x044;
constexpr uint64_t kDmacr = 0x048;

constexpr uint32_t kFrCts = 0x001;
constexpr uint32_t kFrDsr = 0x002;
constexpr uint32_t kFrDcd = 0x004;
constexpr uint32_t kFrBusy = 0x008;
constexpr uint32_t kFrRxfe = 0x010;
constexpr uint32_t kFrTxff = 0x020;
constexpr uint32_t kFrRxff = 0x040;
constexpr uint32_t kFrTxfe = 0x080;
constexpr uint32_t kFrRi = 0x100;

constexpr uint32_t kLcrHBrk = 0x01;
constexpr uint32_t kLcrHFen = 0x10;
constexpr uint32_t kLcrHWlen8 = 0x60;

constexpr uint32_t kCrUarten = 0x0001;
constexpr uint32_t kCrLbe = 0x0080;
constexpr uint32_t kCrTxe = 0x0100;
constexpr uint32_t kCrRxe = 0x0200;
constexpr uint32_t kCrDtr = 0x0400;
constexpr uint32_t kCrRts = 0x0800;
constexpr uint32_t kCrOut1 = 0x1000;
constexpr uint32_t kCrOut2 = 0x2000;
constexpr uint32_t kCrCtsEn = 0x8000;

constexpr uint32_t kIntRi = 1u << 0;
constexpr uint32_t kIntCts = 1u << 1;
constexpr uint32_t kIntDcd = 1u << 2;
constexpr uint32_t kIntDsr = 1u << 3;
constexpr uint32_t kIntRx = 1u << 4;
constexpr uint32_t kIntTx = 1u << 5;
constexpr uint32_t kIntRt = 1u << 6;
constexpr uint32_t kIntFe = 1u << 7;
constexpr uint32_t kIntPe = 1u << 8;
constexpr uint32_t kIntBe = 1u << 9;
constexpr uint32_t kIntOe = 1u << 10;

constexpr uint32_t kIflsRx4_8 = 0x10;
constexpr uint32_t kIflsTx4_8 = 0x02;

constexpr uint64_t kBase = 0x0900'0000;
constexpr uint32_t kSpi = 1;

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

struct UartRig {
  FakeIrq irq;
  std::string output;
  int ready_calls = 0;
  Pl011 uart{kBase, kSpi, irq,
             [this](std::span<const uint8_t> bytes) { output.append(bytes.begin(), bytes.end()); },
             [this] { ++ready_calls; }};

  uint32_t read(uint64_t offset, size_t width = 4) {
    uint8_t bytes[8] = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee};
    uart.mmio_read(offset, std::span<uint8_t>(bytes, width));
    uint32_t value = 0;
    for (size_t i = 0; i < width && i < 4; ++i) value |= static_cast<uint32_t>(bytes[i]) << (8 * i);
    return value;
  }
  void write(uint64_t offset, uint32_t value, size_t width = 4) {
    const uint8_t bytes[8] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                              static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
    uart.mmio_write(offset, std::span<const uint8_t>(bytes, width));
  }
  size_t receive(std::string_view text) {
    return uart.receive(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  // Reads DR until FR says the receive FIFO is empty, as pl011_fifo_to_tty does.
  std::string drain() {
    std::string text;
    for (int i = 0; i < 256 && !(read(kFr) & kFrRxfe); ++i) {
      text.push_back(static_cast<char>(read(kDr) & 0xff));
    }
    return text;
  }
  // Receiver on and listening, FIFO as asked: what a started Linux port has.
  void open(bool fifo = true) {
    write(kLcrH, kLcrHWlen8 | (fifo ? kLcrHFen : 0));
    write(kCr, kCrUarten | kCrTxe | kCrRxe);
    write(kImsc, kIntRx | kIntRt);
  }
};

TEST_CASE("pl011: registers read their TRM reset values", "[pl011]") {
  UartRig rig;
  // Transmit FIFO empty, receive FIFO empty, modem lines up (CTS, DSR, DCD), not busy.
  CHECK(rig.read(kFr) == (kFrTxfe | kFrRxfe | kFrCts | kFrDsr | kFrDcd));
  CHECK(rig.read(kCr) == 0x0300);
  CHECK(rig.read(kIfls) == 0x12);
  CHECK(rig.read(kLcrH) == 0);
  CHECK(rig.read(kIbrd) == 0);
  CHECK(rig.read(kFbrd) == 0);
  CHECK(rig.read(kIlpr) == 0);
  CHECK(rig.read(kImsc) == 0);
  CHECK(rig.read(kRis) == 0);
  CHECK(rig.read(kMis) == 0);
  CHECK(rig.read(kRsr) == 0);
  CHECK(rig.read(kDmacr) == 0);
  CHECK(rig.read(kIcr) == 0);  // write-only
  CHECK(rig.read(kDr) == 0);   // nothing received
  CHECK(rig.irq.changes == 0);
  CHECK(rig.uart.input_room() == 0);  // UARTEN is clear after reset
}

TEST_CASE("pl011: PrimeCell identification registers", "[pl011]") {
  UartRig rig;
  constexpr uint32_t kExpected[8] = {0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
  for (uint64_t i = 0; i < 8; ++i) {
    INFO("offset " << std::hex << 0xfe0 + 4 * i);
    CHECK(rig.read(0xfe0 + 4 * i) == kExpected[i]);
  }
  // Linux's AMBA bus: the low bytes of the words at size - 0x20 and size - 0x10, 32-bit reads.
  uint32_t periph = 0;
  uint32_t cell = 0;
  for (uint64_t i = 0; i < 4; ++i) {
    periph |= (rig.read(Pl011::kWindowBytes - 0x20 + 4 * i) & 0xff) << (8 * i);
    cell |= (rig.read(Pl011::kWindowBytes - 0x10 + 4 * i) & 0xff) << (8 * i);
  }
  CHECK(cell == 0xb105f00du);                    // AMBA_CID
  CHECK(periph == 0x00341011u);                  // part 0x011, designer 0x41 (ARM), revision 3
  CHECK((periph & 0x000fffffu) == 0x00041011u);  // amba-pl011's pl011_ids[0] under its mask
  CHECK(((periph >> 20) & 0xf) >= 3);            // amba_rev >= 3: get_fifosize_arm says 32
  // Read-only; unaligned and unknown offsets read zero.
  rig.write(0xfe0, 0);
  CHECK(rig.read(0xfe0) == 0x11);
  CHECK(rig.read(0xfe1, 1) == 0);
  CHECK(rig.read(0xfdc) == 0);
  CHECK(rig.read(0x04c) == 0);
  CHECK(rig.read(0x080) == 0);  // integration test registers
}

TEST_CASE("pl011: bytes written to DR go to the output at once", "[pl011]") {
  UartRig rig;
  // Linux's earlycon: no one enabled the UART (UARTEN is clear after reset); it still prints.
  for (char c : std::string_view("boot")) {
    CHECK((rig.read(kFr) & kFrTxff) == 0);
    rig.write(kDr, static_cast<uint8_t>(c), 1);  // writeb for UPIO_MEM
    CHECK((rig.read(kFr) & kFrBusy) == 0);
  }
  rig.write(kDr, 0x0a0d'0000 | '!', 4);  // writel: only the low byte is data
  rig.write(kDr, 0x7f00 | '?', 2);       // writew, as amba-pl011 writes
  CHECK(rig.output == "boot!?");
  CHECK((rig.read(kFr) & (kFrTxfe | kFrTxff | kFrBusy)) == kFrTxfe);
  CHECK(rig.read(kFr, 2) == rig.read(kFr, 4));
  CHECK(rig.irq.changes == 0);  // nothing unmasked
}

TEST_CASE("pl011: plain registers keep what is written, within their widths", "[pl011]") {
  UartRig rig;
  rig.write(kIlpr, 0xffff'ffff);
  CHECK(rig.read(kIlpr) == 0xff);
  rig.write(kIbrd, 0xffff'ffff);
  CHECK(rig.read(kIbrd) == 0xffff);
  rig.write(kFbrd, 0xffff'ffff);
  CHECK(rig.read(kFbrd) == 0x3f);
  rig.write(kLcrH, 0xffff'ffff);
  CHECK(rig.read(kLcrH) == 0xff);
  rig.write(kCr, 0xffff'ffff);
  CHECK(rig.read(kCr) == 0xff87);  // bits 3..6 reserved
  rig.write(kIfls, 0xffff'ffff);
  CHECK(rig.read(kIfls) == 0x3f);
  rig.write(kImsc, 0xffff'ffff);
  CHECK(rig.read(kImsc) == 0x7ff);
  rig.write(kDmacr, 0xffff'ffff);
  CHECK(rig.read(kDmacr) == 0x7);
  // Read-only registers ignore writes.
  const uint32_t fr = rig.read(kFr);
  const uint32_t ris = rig.read(kRis);
  rig.write(kFr, 0);
  rig.write(kRis, ~ris);
  rig.write(kMis, ~ris);
  CHECK(rig.read(kFr) == fr);
  CHECK(rig.read(kRis) == ris);
  // Writes at unaligned or unknown offsets change nothing.
  rig.write(kIbrd + 1, 0x12, 1);
  rig.write(0x050, 0x1234);
  rig.write(0xffc, 0);
  CHECK(rig.read(kIbrd) == 0xffff);
  CHECK(rig.read(0xffc) == 0xb1);
}

TEST_CASE("pl011: wide and narrow accesses", "[pl011]") {
  UartRig rig;
  rig.write(kIbrd, 0x1234);
  uint8_t wide[8] = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee};
  rig.uart.mmio_read(kIbrd, std::span<uint8_t>(wide, 8));
  CHECK(wide[0] == 0x34);
  CHECK(wide[1] == 0x12);
  for (int i = 2; i < 8; ++i) CHECK(wide[i] == 0);
  CHECK(rig.read(kIbrd, 1) == 0x34);
  CHECK(rig.read(kIbrd + 2, 2) == 0);  // not a register
}

TEST_CASE("pl011: the receiver takes nothing while it is off", "[pl011]") {
  UartRig rig;
  CHECK(rig.receive("x") == 0);  // reset: RXE set, UARTEN clear
  rig.write(kCr, kCrUarten | kCrTxe);
  CHECK(rig.receive("x") == 0);
  rig.write(kCr, kCrUarten | kCrRxe);
  CHECK(rig.receive("x") == 1);
  CHECK(rig.read(kDr) == 'x');
  CHECK(rig.read(kRsr) == 0);  // no receive errors
}

TEST_CASE("pl011: without FEN the receive FIFO is a one-byte holding register", "[pl011]") {
  UartRig rig;
  rig.open(/*fifo=*/false);
  CHECK(rig.uart.input_room() == 1);
  CHECK(rig.receive("ab") == 1);
  CHECK(rig.uart.input_room() == 0);
  CHECK((rig.read(kFr) & (kFrRxfe | kFrRxff)) == kFrRxff);
  // A full holding register raises the receive interrupt.
  CHECK((rig.read(kRis) & kIntRx) != 0);
  CHECK(rig.irq.level);
  CHECK(rig.read(kDr) == 'a');
  CHECK((rig.read(kFr) & (kFrRxfe | kFrRxff)) == kFrRxfe);
  CHECK(rig.read(kRis) == 0);
  CHECK_FALSE(rig.irq.level);
  CHECK(rig.receive("b") == 1);
  CHECK(rig.read(kDr) == 'b');
}

TEST_CASE("pl011: with FEN the receive FIFO holds 32 bytes", "[pl011]") {
  UartRig rig;
  rig.open();
  CHECK(rig.uart.input_room() == 32);
  const std::string text = "0123456789abcdefghijklmnopqrstuvwxyz";
  CHECK(rig.receive(text) == 32);
  CHECK(rig.uart.input_room() == 0);
  CHECK(rig.receive("more") == 0);
  CHECK((rig.read(kFr) & (kFrRxfe | kFrRxff)) == kFrRxff);
  CHECK(rig.read(kDr) == '0');
  CHECK((rig.read(kFr) & (kFrRxfe | kFrRxff)) == 0);
  CHECK(rig.uart.input_room() == 1);
  CHECK(rig.drain() == text.substr(1, 31));
  CHECK((rig.read(kFr) & (kFrRxfe | kFrRxff)) == kFrRxfe);
  CHECK(rig.read(kDr) == 0);  // empty: reads zero, changes nothing
  CHECK(rig.uart.input_room() == 32);
}

TEST_CASE("pl011: the receive interrupt follows the IFLS trigger level", "[pl011]") {
  UartRig rig;
  rig.open();
  rig.write(kImsc, kIntRx);  // the level interrupt only
  // RXIFLSEL 0..4: 1/8, 1/4, 1/2, 3/4, 7/8 of 32 bytes; the reserved encodings act as 7/8.
  const size_t levels[8] = {4, 8, 16, 24, 28, 28, 28, 28};
  for (uint32_t select = 0; select < 8; ++select) {
    INFO("RXIFLSEL " << select);
    rig.write(kIfls, select << 3);
    for (size_t i = 1; i < levels[select]; ++i) rig.receive("x");
    CHECK((rig.read(kRis) & kIntRx) == 0);
    CHECK_FALSE(rig.irq.level);
    rig.receive("y");
    CHECK((rig.read(kRis) & kIntRx) != 0);
    CHECK(rig.read(kMis) == kIntRx);
    CHECK(rig.irq.level);
    // One read takes the FIFO below the level: the interrupt falls.
    rig.read(kDr);
    CHECK((rig.read(kRis) & kIntRx) == 0);
    CHECK_FALSE(rig.irq.level);
    rig.drain();
  }
}

TEST_CASE("pl011: a cleared receive interrupt waits for the next rise through the level",
          "[pl011]") {
  UartRig rig;
  rig.open();
  rig.write(kIfls, kIflsRx4_8);  // 16 bytes
  rig.write(kImsc, kIntRx);
  rig.receive(std::string(16, 'a'));
  CHECK(rig.irq.level);
  rig.write(kIcr, kIntRx);
  CHECK((rig.read(kRis) & kIntRx) == 0);
  CHECK_FALSE(rig.irq.level);
  // Still at the level, more bytes arrive: no new rise, no interrupt (as Linux notes).
  rig.receive("b");
  CHECK((rig.read(kRis) & kIntRx) == 0);
  // Below the level and back up: it rises again.
  rig.read(kDr);
  rig.read(kDr);
  rig.receive("c");
  CHECK((rig.read(kRis) & kIntRx) != 0);
  // Lowering the level under a FIFO that holds more is a rise too.
  rig.drain();
  rig.receive("12345");
  CHECK((rig.read(kRis) & kIntRx) == 0);
  rig.write(kIfls, 0);  // 1/8: 4 bytes
  CHECK((rig.read(kRis) & kIntRx) != 0);
}

TEST_CASE("pl011: bytes waiting below the level raise the receive timeout", "[pl011]") {
  UartRig rig;
  rig.open();
  rig.write(kIfls, kIflsRx4_8);
  rig.write(kImsc, kIntRt);
  rig.receive("ls\n");
  CHECK(rig.read(kRis) == kIntRt);
  CHECK(rig.read(kMis) == kIntRt);
  CHECK(rig.irq.level);
  // It holds until the FIFO is empty.
  rig.read(kDr);
  CHECK(rig.irq.level);
  CHECK(rig.drain() == "s\n");
  CHECK(rig.read(kRis) == 0);
  CHECK_FALSE(rig.irq.level);
  // Or until the guest clears it.
  rig.receive("x");
  CHECK(rig.irq.level);
  rig.write(kIcr, kIntRt);
  CHECK(rig.read(kRis) == 0);
  CHECK_FALSE(rig.irq.level);
  CHECK(rig.read(kDr) == 'x');
  CHECK(rig.irq.changes == 4);
}

TEST_CASE("pl011: the transmit interrupt rises with each byte sent", "[pl011]") {
  UartRig rig;
  // Not before anything was written (the TRM: it rises on a transition through the level).
  rig.write(kImsc, kIntTx);
  CHECK(rig.read(kRis) == 0);
  CHECK_FALSE(rig.irq.level);
  rig.write(kDr, 'a');
  CHECK(rig.read(kRis) == kIntTx);
  CHECK(rig.read(kMis) == kIntTx);
  CHECK(rig.irq.level);
  rig.write(kIcr, kIntTx);
  CHECK(rig.read(kRis) == 0);
  CHECK_FALSE(rig.irq.level);
  // Masked, it is latched in RIS only; unmasking raises the line.
  rig.write(kImsc, 0);
  rig.write(kDr, 'b');
  CHECK(rig.read(kRis) == kIntTx);
  CHECK(rig.read(kMis) == 0);
  CHECK_FALSE(rig.irq.level);
  rig.write(kImsc, kIntTx);
  CHECK(rig.irq.level);
  rig.write(kImsc, 0);
  CHECK_FALSE(rig.irq.level);
  CHECK(rig.irq.changes == 4);
  CHECK(rig.output == "ab");
}

TEST_CASE("pl011: ICR clears only the bits written", "[pl011]") {
  UartRig rig;
  rig.open();
  rig.write(kDr, 'a');  // TX
  rig.receive("x");     // RT
  CHECK(rig.read(kRis) == (kIntTx | kIntRt));
  rig.write(kIcr, 0);
  CHECK(rig.read(kRis) == (kIntTx | kIntRt));
  rig.write(kIcr, kIntTx);
  CHECK(rig.read(kRis) == kIntRt);
  rig.write(kIcr, 0xffff);
  CHECK(rig.read(kRis) == 0);
}

TEST_CASE("pl011: clearing FEN flushes the receive FIFO, setting it keeps a held byte", "[pl011]") {
  UartRig rig;
  rig.open();
  rig.receive("abc");
  rig.write(kLcrH, kLcrHWlen8);  // FEN off: the TRM's way to flush
  CHECK((rig.read(kFr) & kFrRxfe) != 0);
  CHECK(rig.read(kRis) == 0);
  CHECK(rig.uart.input_room() == 1);
  rig.receive("d");
  rig.write(kLcrH, kLcrHWlen8 | kLcrHFen);
  CHECK(rig.read(kDr) == 'd');
  CHECK(rig.uart.input_room() == 32);
  // Rewriting LCR_H with FEN unchanged keeps the FIFO.
  rig.receive("ef");
  rig.write(kLcrH, kLcrHWlen8 | kLcrHFen | kLcrHBrk);
  CHECK(rig.drain() == "ef");
}

TEST_CASE("pl011: input room needs the receiver on and a receive interrupt unmasked", "[pl011]") {
  UartRig rig;
  rig.write(kLcrH, kLcrHFen);
  rig.write(kCr, kCrUarten | kCrRxe | kCrTxe);
  CHECK(rig.uart.input_room() == 0);  // a polling guest: receive() still takes bytes
  CHECK(rig.ready_calls == 0);
  rig.write(kImsc, kIntRt);
  CHECK(rig.uart.input_room() == 32);
  CHECK(rig.ready_calls == 1);
  rig.write(kImsc, kIntRx | kIntRt);  // more room? no: no new call
  CHECK(rig.ready_calls == 1);
  rig.write(kImsc, kIntTx);  // throttled
  CHECK(rig.uart.input_room() == 0);
  rig.write(kImsc, kIntRx);
  CHECK(rig.ready_calls == 2);

  // A full FIFO: the first read makes room and says so, later reads don't.
  CHECK(rig.receive(std::string(40, 'z')) == 32);
  CHECK(rig.uart.input_room() == 0);
  rig.read(kFr);
  CHECK(rig.ready_calls == 2);
  rig.read(kDr);
  CHECK(rig.uart.input_room() == 1);
  CHECK(rig.ready_calls == 3);
  rig.read(kDr);
  CHECK(rig.ready_calls == 3);

  // The receiver going off and on again.
  rig.write(kCr, kCrUarten | kCrTxe);
  CHECK(rig.uart.input_room() == 0);
  rig.write(kCr, kCrUarten | kCrTxe | kCrRxe);
  CHECK(rig.uart.input_room() == 2);
  CHECK(rig.ready_calls == 4);
}

TEST_CASE("pl011: receive() may call back into the device from InputReady", "[pl011]") {
  FakeIrq irq;
  std::string typed = "typed";
  Pl011* self = nullptr;
  Pl011 uart(
      kBase, kSpi, irq, [](std::span<const uint8_t>) {},
      [&] {
        const size_t n = self->receive(
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(typed.data()), typed.size()));
        typed.erase(0, n);
      });
  self = &uart;
  const auto write = [&](uint64_t offset, uint32_t value) {
    const uint8_t bytes[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8), 0, 0};
    uart.mmio_write(offset, std::span<const uint8_t>(bytes, 4));
  };
  write(kLcrH, kLcrHFen);
  write(kCr, kCrUarten | kCrRxe);
  write(kImsc, kIntRt);  // room opens: the callback feeds the FIFO
  CHECK(typed.empty());
  CHECK(irq.level);
}

TEST_CASE("pl011: loopback feeds the transmitter to the receiver", "[pl011]") {
  UartRig rig;
  rig.open(/*fifo=*/false);
  rig.write(kCr, kCrUarten | kCrTxe | kCrRxe | kCrLbe);
  CHECK(rig.uart.input_room() == 0);  // the line from the host is cut off
  CHECK(rig.receive("h") == 0);
  rig.write(kDr, 'a');
  CHECK(rig.output.empty());
  CHECK((rig.read(kRis) & kIntRx) != 0);
  // The holding register is full: the next byte overruns.
  rig.write(kDr, 'b');
  CHECK((rig.read(kRis) & kIntOe) != 0);
  CHECK(rig.read(kRsr) == 0x8);
  CHECK(rig.read(kDr) == 'a');
  rig.write(kRsr, 0);  // UARTECR: any write clears the errors
  CHECK(rig.read(kRsr) == 0);
  rig.write(kCr, kCrUarten | kCrTxe | kCrRxe);
  rig.write(kDr, 'c');
  CHECK(rig.output == "c");
}

TEST_CASE("pl011: in loopback the modem outputs come back as inputs", "[pl011]") {
  UartRig rig;
  const uint32_t kModem = kFrCts | kFrDsr | kFrDcd | kFrRi;
  CHECK((rig.read(kFr) & kModem) == (kFrCts | kFrDsr | kFrDcd));
  rig.write(kCr, kCrLbe);  // all modem outputs off: CTS, DSR and DCD fall
  CHECK((rig.read(kFr) & kModem) == 0);
  CHECK(rig.read(kRis) == (kIntCts | kIntDsr | kIntDcd));
  rig.write(kIcr, 0xffff);
  rig.write(kCr, kCrLbe | kCrRts);
  CHECK((rig.read(kFr) & kModem) == kFrCts);
  CHECK(rig.read(kRis) == kIntCts);
  rig.write(kCr, kCrLbe | kCrRts | kCrDtr | kCrOut1 | kCrOut2);
  CHECK((rig.read(kFr) & kModem) == kModem);
  CHECK(rig.read(kRis) == (kIntCts | kIntDsr | kIntDcd | kIntRi));
  rig.write(kIcr, 0xffff);
  rig.write(kCr, 0);  // out of loopback: the lines are up again, RI falls
  CHECK((rig.read(kFr) & kModem) == (kFrCts | kFrDsr | kFrDcd));
  CHECK(rig.read(kRis) == kIntRi);
}

// What Linux's amba-pl011 (drivers/tty/serial/amba-pl011.c) does to the device, step by step,
// with 16-bit accesses (UPIO_MEM) and vendor_arm's settings.
class LinuxDriver {
 public:
  explicit LinuxDriver(UartRig& rig) : rig_(rig) {}

  // pl011_register_port.
  void probe() {
    rig_.write(kImsc, 0, 2);
    rig_.write(kIcr, 0xffff, 2);
  }
  // pl011_set_termios for 115200 8N1 on the 24 MHz apb-pclk, without CRTSCTS.
  void set_termios() {
    const uint32_t quot = (24'000'000 * 4 + 115200 / 2) / 115200;
    uint32_t cr = rig_.read(kCr, 2);
    cr &= ~0xc000u;  // no CTSEN/RTSEN
    rig_.write(kFbrd, quot & 0x3f, 2);
    rig_.write(kIbrd, quot >> 6, 2);
    rig_.write(kLcrH, kLcrHWlen8 | kLcrHFen, 2);
    rig_.write(kCr, cr | kCrRxe, 2);
  }
  // pl011_console_write.
  void console_write(std::string_view text) {
    const uint32_t old_cr = rig_.read(kCr, 2);
    rig_.write(kCr, (old_cr & ~kCrCtsEn) | kCrUarten | kCrTxe, 2);
    for (char c : text) {
      while (rig_.read(kFr, 2) & kFrTxff) {
      }
      rig_.write(kDr, static_cast<uint8_t>(c), 2);
    }
    while (rig_.read(kFr, 2) & kFrBusy) {
    }
    rig_.write(kCr, old_cr, 2);
  }
  // pl011_startup: pl011_hwinit, pl011_allocate_irq, IFLS, CR, pl011_enable_interrupts.
  void startup() {
    rig_.write(kIcr, kIntOe | kIntBe | kIntPe | kIntFe | kIntRt | kIntRx, 2);
    im_ = rig_.read(kImsc, 2);
    rig_.write(kImsc, kIntRt | kIntRx, 2);
    rig_.write(kImsc, im_, 2);
    rig_.write(kIfls, kIflsRx4_8 | kIflsTx4_8, 2);
    uint32_t cr = rig_.read(kCr, 2);
    cr &= kCrRts | kCrDtr;
    rig_.write(kCr, cr | kCrUarten | kCrRxe | kCrTxe, 2);
    rig_.read(kFr, 2);  // old_status
    rig_.write(kIcr, kIntRt | kIntRx, 2);
    for (int i = 0; i < 64; ++i) {  // fifosize * 2
      if (rig_.read(kFr, 2) & kFrRxfe) break;
      discarded_.push_back(static_cast<char>(rig_.read(kDr, 2)));
    }
    im_ = kIntRt | kIntRx;
    rig_.write(kImsc, im_, 2);
  }
  // pl011_int, without DMA: returns what the tty layer got.
  std::string interrupt() {
    std::string received;
    uint32_t status = rig_.read(kRis, 2) & im_;
    for (int pass = 0; status != 0 && pass < 256; ++pass) {
      rig_.write(kIcr, status & ~(kIntTx | kIntRt | kIntRx), 2);
      if (status & (kIntRt | kIntRx)) {
        for (int i = 0; i < 256 && !(rig_.read(kFr, 2) & kFrRxfe); ++i) {
          const uint32_t ch = rig_.read(kDr, 2);
          CHECK((ch & 0xf00) == 0);  // no receive errors
          received.push_back(static_cast<char>(ch & 0xff));
        }
      }
      if (status & kIntTx) tx_chars(/*from_irq=*/true);
      status = rig_.read(kRis, 2) & im_;
    }
    return received;
  }
  // pl011_start_tx -> pl011_start_tx_pio.
  void start_tx(std::string_view text) {
    pending_.append(text);
    if (tx_chars(/*from_irq=*/false)) {
      im_ |= kIntTx;
      rig_.write(kImsc, im_, 2);
    }
  }
  // pl011_start_tx_pio when the FIFO took not all: TXIM on until the FIFO drains.
  void unmask_tx() {
    im_ |= kIntTx;
    rig_.write(kImsc, im_, 2);
  }
  void throttle() {  // pl011_throttle_rx -> pl011_stop_rx
    im_ &= ~(kIntRx | kIntRt | kIntFe | kIntPe | kIntBe | kIntOe);
    rig_.write(kImsc, im_, 2);
  }
  void unthrottle() {  // pl011_unthrottle_rx
    im_ = kIntRt | kIntRx;
    rig_.write(kImsc, im_, 2);
  }
  // pl011_shutdown: pl011_disable_interrupts, pl011_disable_uart.
  void shutdown() {
    im_ = 0;
    rig_.write(kImsc, im_, 2);
    rig_.write(kIcr, 0xffff, 2);
    uint32_t cr = rig_.read(kCr, 2);
    cr &= kCrRts | kCrDtr;
    rig_.write(kCr, cr | kCrUarten | kCrTxe, 2);
    const uint32_t lcr_h = rig_.read(kLcrH, 2);
    rig_.write(kLcrH, lcr_h & ~(kLcrHBrk | kLcrHFen), 2);
  }

  const std::string& discarded() const { return discarded_; }

 private:
  // pl011_tx_chars: true while TX interrupts must stay enabled.
  bool tx_chars(bool from_irq) {
    int count = 32 / 2;
    if (pending_.empty()) return stop_tx();
    while (!pending_.empty()) {
      if (from_irq && count-- == 0) break;
      if (!from_irq && (rig_.read(kFr, 2) & kFrTxff)) break;
      rig_.write(kDr, static_cast<uint8_t>(pending_.front()), 2);
      pending_.erase(0, 1);
    }
    if (pending_.empty()) return stop_tx();
    return true;
  }
  bool stop_tx() {
    im_ &= ~kIntTx;
    rig_.write(kImsc, im_, 2);
    return false;
  }

  UartRig& rig_;
  uint32_t im_ = 0;
  std::string pending_;
  std::string discarded_;
};

TEST_CASE("pl011: Linux's console and tty lifecycle", "[pl011]") {
  UartRig rig;
  LinuxDriver driver(rig);
  driver.probe();
  driver.set_termios();  // console setup
  driver.console_write("Booting Linux\n");
  CHECK(rig.output == "Booting Linux\n");
  // Until the tty is open nothing listens: typed input waits with the host, even while a
  // console write switches the UART on for a moment.
  CHECK(rig.uart.input_room() == 0);
  CHECK(rig.read(kCr) == (kCrTxe | kCrRxe));  // console_write restored it: UARTEN clear
  CHECK_FALSE(rig.irq.level);

  driver.startup();
  driver.set_termios();
  CHECK(rig.ready_calls == 1);
  CHECK(driver.discarded().empty());
  CHECK(rig.uart.input_room() == 32);
  CHECK(rig.read(kIbrd) == 13);  // 24 MHz / (16 * 115200) = 13 + 1/64
  CHECK(rig.read(kFbrd) == 1);

  // Input: a short line times out below the level, a long one crosses it.
  CHECK(rig.receive("root\n") == 5);
  CHECK(rig.irq.level);
  CHECK(driver.interrupt() == "root\n");
  CHECK_FALSE(rig.irq.level);
  const std::string line(30, 'x');
  CHECK(rig.receive(line) == 30);
  CHECK(rig.read(kRis) == (kIntRx | kIntRt | kIntTx));
  CHECK(driver.interrupt() == line);
  CHECK_FALSE(rig.irq.level);

  // Output through the tty: all of it goes out from start_tx, which then masks TXIM.
  driver.start_tx("# ");
  CHECK(rig.output.ends_with("# "));
  CHECK((rig.read(kImsc) & kIntTx) == 0);
  CHECK_FALSE(rig.irq.level);

  // Throttled, the FIFO offers no room and the interrupt stays low; unthrottled, the
  // waiting bytes arrive.
  rig.receive("ab");
  driver.throttle();
  CHECK(rig.uart.input_room() == 0);
  CHECK_FALSE(rig.irq.level);
  driver.unthrottle();
  CHECK(rig.uart.input_room() == 30);
  CHECK(rig.irq.level);
  CHECK(driver.interrupt() == "ab");

  // Closing the tty turns the receiver off; input waits again and nothing is lost when
  // the next open (agetty's vhangup, a new login) starts the port once more.
  driver.shutdown();
  CHECK(rig.uart.input_room() == 0);
  CHECK(rig.receive("lost?") == 0);
  CHECK_FALSE(rig.irq.level);
  driver.console_write("login: ");
  const int ready_before = rig.ready_calls;
  driver.startup();
  CHECK(rig.ready_calls == ready_before + 1);
  CHECK(rig.uart.input_room() == 1);  // FEN still clear: the holding register
  CHECK(rig.receive("q") == 1);
  driver.set_termios();  // FEN back on: the held byte stays
  CHECK(rig.uart.input_room() == 31);
  CHECK(driver.interrupt() == "q");
  CHECK(driver.discarded().empty());
}

TEST_CASE("pl011: a TX interrupt the driver leaves unmasked is served and masked", "[pl011]") {
  UartRig rig;
  LinuxDriver driver(rig);
  driver.probe();
  driver.set_termios();
  driver.startup();
  // As if pl011_start_tx_pio had found TXFF set (never here): TXIM on, a byte just sent.
  rig.write(kDr, 'a', 2);
  driver.unmask_tx();
  CHECK(rig.irq.level);
  // The handler has nothing to send: it masks TXIM and the line falls.
  CHECK(driver.interrupt().empty());
  CHECK_FALSE(rig.irq.level);
}

TEST_CASE("pl011: device-tree description", "[pl011]") {
  UartRig rig;
  const DeviceResources resources = rig.uart.resources();
  CHECK(rig.uart.name() == "pl011");
  CHECK(resources.kind == "serial");
  CHECK(resources.mmio.base == kBase);
  CHECK(resources.mmio.size == 0x1000);  // the AMBA bus finds the IDs at its end
  CHECK(resources.compatible == std::vector<std::string>{"arm,pl011", "arm,primecell"});
  REQUIRE(resources.interrupt.has_value());
  CHECK(resources.interrupt->line == kSpi);
  CHECK(resources.interrupt->trigger == DeviceResources::Interrupt::Trigger::kLevelHigh);
  CHECK(resources.clocks == std::vector<std::string>{"uartclk", "apb_pclk"});
  CHECK(resources.values.empty());
}

}  // namespace
}  // namespace petrel
