#include "devices/pl011.h"

#include <algorithm>

namespace petrel {

namespace {
// Register offsets (PL011 TRM, ARM DDI 0183). Registers are 32-bit words; the driver
// reaches them with 16-bit accesses, the earlycon with 8- or 32-bit ones.
constexpr uint64_t kDr = 0x000;
constexpr uint64_t kRsrEcr = 0x004;
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

// PrimeCell identification: peripheral ID 0x00341011 (part 0x011, designer ARM, revision 3
// = r1p5, so Linux's amba-pl011 uses a 32-byte FIFO) and cell ID 0xb105f00d. Linux's AMBA
// bus reads them as the low bytes of the last eight words of the window.
constexpr uint64_t kIdBase = 0xfe0;
constexpr uint8_t kIdBytes[8] = {0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

// UARTFR.
constexpr uint32_t kFrCts = 1u << 0;
constexpr uint32_t kFrDsr = 1u << 1;
constexpr uint32_t kFrDcd = 1u << 2;
constexpr uint32_t kFrRxfe = 1u << 4;
constexpr uint32_t kFrRxff = 1u << 6;
constexpr uint32_t kFrTxfe = 1u << 7;
constexpr uint32_t kFrRi = 1u << 8;

// UARTRSR: only overrun can happen here (a loopback byte into a full FIFO); host bytes are
// never taken beyond the room, and a byte stream has no parity, framing or break errors.
constexpr uint32_t kRsrOverrun = 1u << 3;

// UARTLCR_H.
constexpr uint32_t kLcrHFifoEnable = 1u << 4;

// UARTCR.
constexpr uint32_t kCrUartEnable = 1u << 0;
constexpr uint32_t kCrLoopback = 1u << 7;
constexpr uint32_t kCrRxEnable = 1u << 9;
constexpr uint32_t kCrDtr = 1u << 10;
constexpr uint32_t kCrRts = 1u << 11;
constexpr uint32_t kCrOut1 = 1u << 12;
constexpr uint32_t kCrOut2 = 1u << 13;
constexpr uint32_t kCrMask = 0xff87;  // bits 3..6 are reserved

// Interrupt bits of UARTIMSC, UARTRIS, UARTMIS and UARTICR.
constexpr uint32_t kIntRi = 1u << 0;
constexpr uint32_t kIntCts = 1u << 1;
constexpr uint32_t kIntDcd = 1u << 2;
constexpr uint32_t kIntDsr = 1u << 3;
constexpr uint32_t kIntRx = 1u << 4;
constexpr uint32_t kIntTx = 1u << 5;
constexpr uint32_t kIntRt = 1u << 6;
constexpr uint32_t kIntOe = 1u << 10;
constexpr uint32_t kIntMask = 0x7ff;

// Cable attached: clear to send, data set ready and carrier present, so hardware flow
// control never holds transmit and an open that waits for carrier does not hang.
constexpr uint32_t kModemLinesUp = kFrCts | kFrDsr | kFrDcd;
}  // namespace

Pl011::Pl011(uint64_t base, uint32_t spi, InterruptLine& irq, Output output, InputReady input_ready)
    : base_(base),
      spi_(spi),
      irq_(irq),
      output_(std::move(output)),
      input_ready_(std::move(input_ready)) {}

void Pl011::mmio_read(uint64_t offset, std::span<uint8_t> data) {
  std::unique_lock lock(mutex_);
  const size_t room_before = listening_room_locked();
  store_le_any(data, read_register(offset));
  update_interrupt();
  const bool room_opened = room_before == 0 && listening_room_locked() > 0;
  lock.unlock();
  if (room_opened && input_ready_) input_ready_();
}

void Pl011::mmio_write(uint64_t offset, std::span<const uint8_t> data) {
  std::unique_lock lock(mutex_);
  const size_t room_before = listening_room_locked();
  const auto value = static_cast<uint32_t>(load_le_any(data));
  if (offset == kDr) {
    const auto byte = static_cast<uint8_t>(value);
    if (cr_ & kCrLoopback) {
      if (receiver_on()) {
        if (fifo_room() > 0) {
          push(byte);
          ris_ |= kIntRt;
        } else {
          rsr_ |= kRsrOverrun;
          ris_ |= kIntOe;
        }
      }
    } else {
      // Sent whatever CR.UARTEN and CR.TXE say: Linux's earlycon writes to a UART that
      // nobody enabled, and a lost boot log helps no one. Output may block on a slow
      // terminal; don't hold up host input meanwhile.
      lock.unlock();
      output_(std::span<const uint8_t>(&byte, 1));
      lock.lock();
    }
    // The byte left the transmit FIFO at once: the FIFO fell through its trigger level,
    // which is what raises the transmit interrupt (the TRM's transition, as QEMU models it).
    ris_ |= kIntTx;
  } else {
    write_register(offset, value);
  }
  update_interrupt();
  const bool room_opened = room_before == 0 && listening_room_locked() > 0;
  lock.unlock();
  if (room_opened && input_ready_) input_ready_();
}

uint32_t Pl011::read_register(uint64_t offset) {
  switch (offset) {
    case kDr: return pop();  // receive error bits 8..11 stay 0
    case kRsrEcr: return rsr_;
    case kFr: {
      uint32_t fr = kFrTxfe | modem_inputs();  // TXFF and BUSY stay 0: transmit is instant
      if (rx_.empty()) fr |= kFrRxfe;
      if (rx_.size() >= depth()) fr |= kFrRxff;
      return fr;
    }
    case kIlpr: return ilpr_;
    case kIbrd: return ibrd_;
    case kFbrd: return fbrd_;
    case kLcrH: return lcr_h_;
    case kCr: return cr_;
    case kIfls: return ifls_;
    case kImsc: return imsc_;
    case kRis: return ris_;
    case kMis: return ris_ & imsc_;
    case kDmacr: return dmacr_;
    default:
      if (offset >= kIdBase && offset < kIdBase + 4 * sizeof(kIdBytes) && offset % 4 == 0) {
        return kIdBytes[(offset - kIdBase) / 4];
      }
      return 0;  // UARTICR is write-only; reserved and test registers read zero
  }
}

void Pl011::write_register(uint64_t offset, uint32_t value) {
  switch (offset) {
    case kRsrEcr: rsr_ = 0; break;  // any write clears the errors
    case kIlpr: ilpr_ = value & 0xff; break;
    case kIbrd: ibrd_ = value & 0xffff; break;
    case kFbrd: fbrd_ = value & 0x3f; break;
    case kLcrH: {
      const bool fifo_was_on = lcr_h_ & kLcrHFifoEnable;
      lcr_h_ = value & 0xff;
      // The TRM's way to flush the FIFOs is to clear FEN. Setting it keeps a byte waiting
      // in the holding register: nothing says it is lost, and losing it would cost a typed
      // character whenever Linux reopens the port (shutdown clears FEN, set_termios sets it).
      if (fifo_was_on && !(lcr_h_ & kLcrHFifoEnable)) flush_rx();
      update_rx_level();
      break;
    }
    case kCr: set_control(value & kCrMask); break;
    case kIfls:
      ifls_ = value & 0x3f;
      update_rx_level();
      break;
    case kImsc: imsc_ = value & kIntMask; break;
    case kIcr: ris_ &= ~(value & kIntMask); break;
    case kDmacr: dmacr_ = value & 0x7; break;  // no DMA controller is described: never used
    default: break;                            // FR, RIS, MIS and the ID registers are read-only
  }
}

size_t Pl011::depth() const { return (lcr_h_ & kLcrHFifoEnable) ? kFifoDepth : 1; }

size_t Pl011::rx_trigger() const {
  if (!(lcr_h_ & kLcrHFifoEnable)) return 1;  // the holding register interrupts when full
  // RXIFLSEL: 1/8, 1/4, 1/2, 3/4 or 7/8 full; the reserved encodings act as 7/8.
  constexpr size_t kEighths[8] = {1, 2, 4, 6, 7, 7, 7, 7};
  return kFifoDepth * kEighths[(ifls_ >> 3) & 0x7] / 8;
}

bool Pl011::receiver_on() const { return (cr_ & kCrUartEnable) && (cr_ & kCrRxEnable); }

size_t Pl011::fifo_room() const { return rx_.size() < depth() ? depth() - rx_.size() : 0; }

// In loopback the receiver hears the transmitter only, not the line from the host.
size_t Pl011::room_locked() const {
  return receiver_on() && !(cr_ & kCrLoopback) ? fifo_room() : 0;
}

size_t Pl011::listening_room_locked() const {
  return (imsc_ & (kIntRx | kIntRt)) ? room_locked() : 0;
}

size_t Pl011::input_room() const {
  std::lock_guard lock(mutex_);
  return listening_room_locked();
}

void Pl011::push(uint8_t byte) {
  rx_.push_back(byte);
  update_rx_level();
}

uint8_t Pl011::pop() {
  if (rx_.empty()) return 0;
  const uint8_t byte = rx_.front();
  rx_.pop_front();
  update_rx_level();
  // The timeout interrupt clears when the FIFO empties.
  if (rx_.empty()) ris_ &= ~kIntRt;
  return byte;
}

void Pl011::flush_rx() {
  rx_.clear();
  ris_ &= ~kIntRt;
}

// The receive interrupt rises when the FIFO fills through its trigger level and falls
// when reads take it below (or the guest clears it): a FIFO already at the level when
// the guest clears the interrupt does not raise it again until it has been below.
void Pl011::update_rx_level() {
  const bool at_level = rx_.size() >= rx_trigger();
  if (at_level && !rx_at_level_) ris_ |= kIntRx;
  if (!at_level) ris_ &= ~kIntRx;
  rx_at_level_ = at_level;
}

// nUARTCTS, nUARTDSR, nUARTDCD and nUARTRI as UARTFR shows them. In loopback the modem
// outputs come back as inputs: RTS as CTS, DTR as DSR, Out1 as DCD, Out2 as RI.
uint32_t Pl011::modem_inputs() const {
  if (!(cr_ & kCrLoopback)) return kModemLinesUp;
  uint32_t fr = 0;
  if (cr_ & kCrRts) fr |= kFrCts;
  if (cr_ & kCrDtr) fr |= kFrDsr;
  if (cr_ & kCrOut1) fr |= kFrDcd;
  if (cr_ & kCrOut2) fr |= kFrRi;
  return fr;
}

void Pl011::set_control(uint32_t value) {
  const uint32_t before = modem_inputs();
  cr_ = value;
  // A change on a modem status input raises its interrupt.
  const uint32_t changed = before ^ modem_inputs();
  if (changed & kFrCts) ris_ |= kIntCts;
  if (changed & kFrDsr) ris_ |= kIntDsr;
  if (changed & kFrDcd) ris_ |= kIntDcd;
  if (changed & kFrRi) ris_ |= kIntRi;
}

void Pl011::update_interrupt() {
  const bool asserted = (ris_ & imsc_) != 0;
  if (asserted != irq_asserted_) {
    irq_asserted_ = asserted;
    irq_.set_level(asserted);
  }
}

size_t Pl011::receive(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mutex_);
  const size_t accepted = std::min(bytes.size(), room_locked());
  for (size_t i = 0; i < accepted; ++i) push(bytes[i]);
  // Host input comes in bursts, and nothing follows a burst on this instant line: whatever
  // waits below the trigger level has timed out (the TRM's 32 bit periods) at once.
  if (accepted > 0) ris_ |= kIntRt;
  update_interrupt();
  return accepted;
}

DeviceResources Pl011::resources() const {
  return {.kind = "serial",
          .mmio = mmio_range(),
          .compatible = {"arm,pl011", "arm,primecell"},
          .interrupt = {{spi_, DeviceResources::Interrupt::Trigger::kLevelHigh}},
          .clocks = {"uartclk", "apb_pclk"}};
}

}  // namespace petrel
