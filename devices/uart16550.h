#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>

#include "devices/console_uart.h"

namespace petrel {

// A 16550A-compatible UART, the guest console (Linux: ttyS0 through 8250_of). Transmit is
// instantaneous: every byte the guest writes goes straight to `output`. Bytes from the
// host arrive through receive() and raise the receive interrupt.
class Uart16550 final : public ConsoleUart {
 public:
  static constexpr uint64_t kWindowBytes = 0x1000;
  static constexpr size_t kFifoDepth = 16;
  static constexpr uint32_t kClockHz = 1843200;
  // Host input waiting beyond the 16-byte FIFO; more than this is dropped, as a real
  // line would overrun, rather than growing without bound.
  static constexpr size_t kMaxPendingInput = 64 * 1024;

  Uart16550(uint64_t base, uint32_t spi, InterruptLine& irq, Output output,
            InputReady input_ready = {});

  std::string_view name() const override { return "uart"; }
  AddressRange mmio_range() const override { return {base_, kWindowBytes}; }
  void mmio_read(uint64_t offset, std::span<uint8_t> data) override;
  void mmio_write(uint64_t offset, std::span<const uint8_t> data) override;
  DeviceResources resources() const override;

  // Host to guest. Returns how many bytes were accepted: all, up to kMaxPendingInput
  // waiting, whether or not the guest listens.
  size_t receive(std::span<const uint8_t> bytes) override;

  // The receive FIFO's free room (16 bytes with FCR's FIFO enable, a one-byte holding
  // register without) while the receive-data interrupt is enabled (IER bit 0), else 0.
  // Linux's 8250 driver clears the FIFO when it opens the port and enables that interrupt
  // after, and disables it again to throttle.
  size_t input_room() const override;

  uint32_t spi() const { return spi_; }

 private:
  uint8_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint8_t value);
  uint8_t interrupt_identification() const;
  void update_interrupt();
  size_t input_room_locked() const;

  const uint64_t base_;
  const uint32_t spi_;
  InterruptLine& irq_;
  Output output_;
  InputReady input_ready_;

  mutable std::mutex mutex_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0;
  uint8_t lcr_ = 0x03;
  uint8_t mcr_ = 0x08;
  uint8_t scr_ = 0;
  uint8_t dll_ = 0x0c;
  uint8_t dlm_ = 0;
  bool fifo_enabled_ = false;
  bool thr_interrupt_pending_ = false;
  bool irq_asserted_ = false;
};

}  // namespace petrel
