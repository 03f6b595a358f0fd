#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "devices/device.h"

namespace petrel {

// The guest console's UART, as the machine sees it whichever model the config chose
// (Pl011, Uart16550): bytes the guest transmits go to an output sink, host bytes come in
// through receive(), and input_room() with the InputReady hook let the host offer input
// only while the guest's driver takes it, so bytes never offered wait with their sender.
class ConsoleUart : public MmioDevice {
 public:
  using Output = std::function<void(std::span<const uint8_t>)>;
  // Called when input_room() turns from zero to non-zero, on the thread of the guest access
  // that made room and without the device's lock held (it may call receive()). Keep it
  // cheap: it runs on a vCPU thread.
  using InputReady = std::function<void()>;

  // Host to guest: takes what fits now and returns how many bytes it took; the caller
  // keeps the rest.
  virtual size_t receive(std::span<const uint8_t> bytes) = 0;

  // How many bytes to offer now: 0 while the guest's driver does not listen (receiver off,
  // receive interrupt masked) or its FIFO is full.
  virtual size_t input_room() const = 0;
};

}  // namespace petrel
