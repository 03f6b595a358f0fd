#include "devices/uart16550.h"

#include <fmt/format.h>

namespace petrel {

namespace {
// Register offsets (reg-shift 0, 8-bit registers).
constexpr uint64_t kRbrThrDll = 0;
constexpr uint64_t kIerDlm = 1;
constexpr uint64_t kIirFcr = 2;
constexpr uint64_t kLcr = 3;
constexpr uint64_t kMcr = 4;
constexpr uint64_t kLsr = 5;
constexpr uint64_t kMsr = 6;
constexpr uint64_t kScr = 7;

constexpr uint8_t kIerReceivedData = 0x01;
constexpr uint8_t kIerTransmitEmpty = 0x02;

constexpr uint8_t kIirNoInterrupt = 0x01;
constexpr uint8_t kIirTransmitEmpty = 0x02;
constexpr uint8_t kIirReceivedData = 0x04;
constexpr uint8_t kIirFifoEnabled = 0xc0;

constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearReceive = 0x02;

constexpr uint8_t kLcrDivisorLatch = 0x80;
constexpr uint8_t kMcrLoopback = 0x10;

constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrTransmitHoldingEmpty = 0x20;
constexpr uint8_t kLsrTransmitterEmpty = 0x40;

// Carrier detect, data set ready and clear to send: a cable is always attached.
constexpr uint8_t kMsrLinesUp = 0xb0;
}  // namespace

Uart16550::Uart16550(uint64_t base, uint32_t spi, InterruptLine& irq, Output output,
                     InputReady input_ready)
    : base_(base),
      spi_(spi),
      irq_(irq),
      output_(std::move(output)),
      input_ready_(std::move(input_ready)) {}

void Uart16550::mmio_read(uint64_t offset, std::span<uint8_t> data) {
  std::unique_lock lock(mutex_);
  const size_t room_before = input_room_locked();
  // Only byte registers exist; a wider access reads the addressed byte, zero-extended.
  store_le_any(data, read_register(offset));
  update_interrupt();
  const bool room_opened = room_before == 0 && input_room_locked() > 0;
  lock.unlock();
  if (room_opened && input_ready_) input_ready_();
}

void Uart16550::mmio_write(uint64_t offset, std::span<const uint8_t> data) {
  std::unique_lock lock(mutex_);
  const size_t room_before = input_room_locked();
  const uint8_t value = static_cast<uint8_t>(load_le_any(data));
  if (offset == kRbrThrDll && !(lcr_ & kLcrDivisorLatch)) {
    if (mcr_ & kMcrLoopback) {
      if (rx_.size() < kMaxPendingInput) rx_.push_back(value);
    } else {
      lock.unlock();  // output may block on a slow terminal; don't hold up host input
      output_(std::span<const uint8_t>(&value, 1));
      lock.lock();
    }
    thr_interrupt_pending_ = true;
  } else {
    write_register(offset, value);
  }
  update_interrupt();
  const bool room_opened = room_before == 0 && input_room_locked() > 0;
  lock.unlock();
  if (room_opened && input_ready_) input_ready_();
}

uint8_t Uart16550::read_register(uint64_t offset) {
  const bool latch = lcr_ & kLcrDivisorLatch;
  switch (offset) {
    case kRbrThrDll:
      if (latch) return dll_;
      if (rx_.empty()) return 0;
      {
        const uint8_t byte = rx_.front();
        rx_.pop_front();
        return byte;
      }
    case kIerDlm: return latch ? dlm_ : ier_;
    case kIirFcr: {
      const uint8_t iir = interrupt_identification();
      // Reading IIR while it reports "transmitter empty" acknowledges that interrupt.
      if ((iir & 0x0f) == kIirTransmitEmpty) thr_interrupt_pending_ = false;
      return iir;
    }
    case kLcr: return lcr_;
    case kMcr: return mcr_;
    case kLsr:
      return kLsrTransmitHoldingEmpty | kLsrTransmitterEmpty | (rx_.empty() ? 0 : kLsrDataReady);
    case kMsr:
      if (mcr_ & kMcrLoopback) {
        // In loopback the modem outputs (DTR, RTS, OUT1, OUT2) read back as inputs.
        return static_cast<uint8_t>(((mcr_ & 0x02) << 3) | ((mcr_ & 0x01) << 5) |
                                    ((mcr_ & 0x04) << 4) | ((mcr_ & 0x08) << 4));
      }
      return kMsrLinesUp;
    case kScr: return scr_;
    default: return 0;
  }
}

void Uart16550::write_register(uint64_t offset, uint8_t value) {
  const bool latch = lcr_ & kLcrDivisorLatch;
  switch (offset) {
    case kRbrThrDll:
      dll_ = value;  // only reached with the divisor latch set
      break;
    case kIerDlm:
      if (latch) {
        dlm_ = value;
      } else {
        // Enabling the transmit interrupt with an empty holding register raises it at once.
        if ((value & kIerTransmitEmpty) && !(ier_ & kIerTransmitEmpty)) {
          thr_interrupt_pending_ = true;
        }
        ier_ = value & 0x0f;
      }
      break;
    case kIirFcr:
      fifo_enabled_ = value & kFcrEnable;
      if (value & kFcrClearReceive) rx_.clear();
      break;
    case kLcr: lcr_ = value; break;
    case kMcr: mcr_ = value & 0x1f; break;
    case kScr: scr_ = value; break;
    default: break;  // LSR and MSR are read-only
  }
}

uint8_t Uart16550::interrupt_identification() const {
  const uint8_t fifo_bits = fifo_enabled_ ? kIirFifoEnabled : 0;
  if ((ier_ & kIerReceivedData) && !rx_.empty()) return fifo_bits | kIirReceivedData;
  if ((ier_ & kIerTransmitEmpty) && thr_interrupt_pending_) return fifo_bits | kIirTransmitEmpty;
  return fifo_bits | kIirNoInterrupt;
}

void Uart16550::update_interrupt() {
  const bool asserted = !(interrupt_identification() & kIirNoInterrupt);
  if (asserted != irq_asserted_) {
    irq_asserted_ = asserted;
    irq_.set_level(asserted);
  }
}

size_t Uart16550::receive(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mutex_);
  size_t accepted = 0;
  for (uint8_t byte : bytes) {
    if (rx_.size() >= kMaxPendingInput) break;
    rx_.push_back(byte);
    ++accepted;
  }
  update_interrupt();
  return accepted;
}

size_t Uart16550::input_room() const {
  std::lock_guard lock(mutex_);
  return input_room_locked();
}

size_t Uart16550::input_room_locked() const {
  if (!(ier_ & kIerReceivedData) || (mcr_ & kMcrLoopback)) return 0;
  const size_t depth = fifo_enabled_ ? kFifoDepth : 1;
  return rx_.size() >= depth ? 0 : depth - rx_.size();
}

DeviceResources Uart16550::resources() const {
  return {.kind = "serial",
          .mmio = mmio_range(),
          .compatible = {"ns16550a"},
          .values = {{"clock-frequency", kClockHz}},
          .interrupt = {{spi_, DeviceResources::Interrupt::Trigger::kLevelHigh}}};
}

}  // namespace petrel
