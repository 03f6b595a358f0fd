#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

#include "devices/device.h"
#include "devices/device_type.h"

namespace petrel {

// [power_button]: the table alone asks for the device; `enabled = false` keeps it in the file
// but off. A PL061 GPIO controller whose line kPowerKeyLine is the guest's power button.
extern const DeviceType kPowerButtonType;

// ARM PrimeCell PL061 GPIO controller (TRM ARM DDI 0190): eight lines, each an input or an
// output (GPIODIR), each able to interrupt on a level or an edge (GPIOIS, GPIOIBE, GPIOIEV),
// latched in GPIORIS, masked by GPIOIE, cleared through GPIOIC. The machine drives the input
// lines (set_input); the device drives its interrupt line while any unmasked interrupt is
// pending.
//
// With a power key, line kPowerKeyLine is a button: the device tree gets a `gpio-keys` node
// whose key on that line is KEY_POWER, and press() / release() drive it.
class Pl061 final : public MmioDevice, public PowerButton {
 public:
  static constexpr uint64_t kWindowBytes = 0x1000;
  static constexpr unsigned kLines = 8;
  // The line QEMU's virt machine wires its power key to (hw/arm/virt.c, create_gpio_keys).
  static constexpr unsigned kPowerKeyLine = 3;
  static constexpr uint32_t kKeyPower = 116;  // linux/input-event-codes.h KEY_POWER

  Pl061(uint64_t base, uint32_t spi, InterruptLine& irq, bool power_key);
  Pl061(const Pl061&) = delete;
  Pl061& operator=(const Pl061&) = delete;

  std::string_view name() const override { return "gpio"; }
  AddressRange mmio_range() const override { return {base_, kWindowBytes}; }
  void mmio_read(uint64_t offset, std::span<uint8_t> data) override;
  void mmio_write(uint64_t offset, std::span<const uint8_t> data) override;
  DeviceResources resources() const override;

  // The level outside the chip on an input line (0..7); a line the guest made an output
  // keeps driving its GPIODATA bit, and the new level applies when it turns back to input.
  void set_input(unsigned line, bool level);

  // The power key, held down or let go; nothing without one.
  void set_pressed(bool pressed) override;

 private:
  uint8_t pin_levels() const;  // what each pin carries: outputs their data, inputs the outside
  void pins_changed(uint8_t before);
  uint8_t raw_interrupts() const;
  void update_interrupt();

  const uint64_t base_;
  const uint32_t spi_;
  InterruptLine& irq_;
  const bool power_key_;

  std::mutex mutex_;
  uint8_t data_ = 0;     // GPIODATA as written: the levels of the output lines
  uint8_t inputs_ = 0;   // the levels outside the chip
  uint8_t dir_ = 0;      // GPIODIR: 1 = output
  uint8_t sense_ = 0;    // GPIOIS: 1 = level-sensitive
  uint8_t both_ = 0;     // GPIOIBE: 1 = both edges
  uint8_t event_ = 0;    // GPIOIEV: 1 = rising edge or high level
  uint8_t enabled_ = 0;  // GPIOIE: 1 = unmasked
  uint8_t edges_ = 0;    // edge interrupts latched until GPIOIC clears them
  uint8_t afsel_ = 0;    // GPIOAFSEL: kept; no line has a hardware function here
  bool asserted_ = false;
};

}  // namespace petrel
