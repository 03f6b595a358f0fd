#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>

#include "devices/console_uart.h"

namespace petrel {

// ARM PrimeCell PL011 UART (r1p5), as Linux's amba-pl011 driver (ttyAMA) and the `pl011`
// earlycon use it. Transmit is instantaneous: every byte the guest writes to UARTDR goes
// straight to `output`, so the transmit FIFO always reads empty and never busy. Host bytes
// arrive through receive() into the receive FIFO: 32 bytes with LCR_H.FEN set, a one-byte
// holding register without. No byte is ever lost to an overrun: receive() takes only what
// fits, and the rest waits with the caller.
class Pl011 final : public ConsoleUart {
 public:
  static constexpr uint64_t kWindowBytes = 0x1000;
  static constexpr size_t kFifoDepth = 32;  // r1p5; Linux sizes its FIFO by the revision ID

  Pl011(uint64_t base, uint32_t spi, InterruptLine& irq, Output output,
        InputReady input_ready = {});

  std::string_view name() const override { return "pl011"; }
  AddressRange mmio_range() const override { return {base_, kWindowBytes}; }
  void mmio_read(uint64_t offset, std::span<uint8_t> data) override;
  void mmio_write(uint64_t offset, std::span<const uint8_t> data) override;
  DeviceResources resources() const override;

  // Host to guest. Takes what the hardware would: nothing while the receiver is off
  // (CR.UARTEN or CR.RXE clear) or hears only itself (CR.LBE), else up to the FIFO's
  // free room. Returns how many bytes
  // were taken; the caller keeps the rest.
  size_t receive(std::span<const uint8_t> bytes) override;

  // How many bytes to offer now: the FIFO's free room while the guest listens, that is with
  // the receiver on and a receive interrupt (RXIM or RTIM) unmasked; else 0. Stricter than
  // receive() on purpose: Linux discards whatever the FIFO holds when it opens the port
  // (pl011_startup drains it before unmasking), and masks the receive interrupts to throttle.
  size_t input_room() const override;

  uint32_t spi() const { return spi_; }

 private:
  uint32_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint32_t value);

  size_t depth() const;
  size_t rx_trigger() const;
  bool receiver_on() const;
  size_t fifo_room() const;
  size_t room_locked() const;
  size_t listening_room_locked() const;
  void push(uint8_t byte);
  uint8_t pop();
  void flush_rx();
  void update_rx_level();
  uint32_t modem_inputs() const;
  void set_control(uint32_t value);
  void update_interrupt();

  const uint64_t base_;
  const uint32_t spi_;
  InterruptLine& irq_;
  Output output_;
  InputReady input_ready_;

  mutable std::mutex mutex_;
  std::deque<uint8_t> rx_;
  uint32_t rsr_ = 0;
  uint32_t ilpr_ = 0;
  uint32_t ibrd_ = 0;
  uint32_t fbrd_ = 0;
  uint32_t lcr_h_ = 0;
  uint32_t cr_ = 0x0300;  // TXE and RXE, UART disabled: the TRM's reset value
  uint32_t ifls_ = 0x12;  // both FIFOs at half: the TRM's reset value
  uint32_t imsc_ = 0;
  uint32_t ris_ = 0;  // latched raw interrupt status
  uint32_t dmacr_ = 0;
  bool rx_at_level_ = false;  // the receive FIFO was at or above its trigger level
  bool irq_asserted_ = false;
};

}  // namespace petrel
