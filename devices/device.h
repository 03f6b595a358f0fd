#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/guest_memory.h"
#include "core/little_endian.h"

namespace petrel {

// One interrupt input of the interrupt controller, as a device sees it. Level-triggered:
// the device says whether it is asserting its line.
class InterruptLine {
 public:
  virtual ~InterruptLine() = default;
  virtual void set_level(bool asserted) = 0;
};

// An edge-triggered interrupt: each trigger() is one rising edge on the device's SPI.
// virtio devices use these: KVM injects them from an eventfd without a round trip.
class EdgeInterrupt {
 public:
  virtual ~EdgeInterrupt() = default;
  virtual void trigger() = 0;
};

// A one-shot timer on the host's wall clock, as a device sees it (the PL031's alarm): the
// machine calls `expiry` once, on a thread of its own, at or after `deadline`. arm()
// replaces an armed deadline, cancel() drops it. Wall-clock time, so that a host clock that
// is set forward or back moves the deadline with it (on Linux: a CLOCK_REALTIME timerfd
// with TFD_TIMER_ABSTIME).
//
// Devices call arm() and cancel() under the lock that `expiry` takes, and from within
// `expiry`: neither may wait for a running expiry, nor hold a lock while calling it. Devices check
// the time again when called, so a late, early or stale call is harmless. The machine keeps a
// device alive while its timer can still call it.
class WallClockTimer {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  using Expiry = std::function<void()>;

  virtual ~WallClockTimer() = default;
  virtual void arm(TimePoint deadline, Expiry expiry) = 0;
  virtual void cancel() = 0;
};

// A button the machine presses for the guest: the power button, which asks the guest to shut
// down. Held down by set_pressed(true) until set_pressed(false); safe from any thread.
class PowerButton {
 public:
  virtual ~PowerButton() = default;
  virtual void set_pressed(bool pressed) = 0;
};

// What a device tells the guest about itself, with no word of how the platform says it:
// the arch layer turns it into a device-tree node (arm64) or whatever else its guests read.
struct DeviceResources {
  std::string kind;  // what the device is, the node's name before "@address": "serial", "rtc"
  AddressRange mmio;
  std::vector<std::string> compatible;  // most specific first
  // Properties the binding asks for beyond the ones below, e.g. {"clock-frequency", 1843200}.
  std::vector<std::pair<std::string, uint32_t>> values;
  struct Interrupt {
    uint32_t line;  // the platform's device interrupt number (on arm64 the GIC SPI)
    enum class Trigger { kLevelHigh, kEdgeRising } trigger;
  };
  std::optional<Interrupt> interrupt;
  // The clock inputs the binding names ("clock-names"), each fed by the platform's one
  // fixed clock: an AMBA primecell wants its bus clock as "apb_pclk", a PL011 its baud
  // clock "uartclk" first.
  std::vector<std::string> clocks;
  std::vector<std::string> flags;  // properties without a value, e.g. "dma-coherent"
  // A node that belongs with the device, beside it: the `gpio-keys` node saying what a GPIO
  // controller's lines are wired to. Its `references` point at this device, <&device cells>,
  // so that the device's own node gets a label (a phandle) when any companion refers to it.
  struct Companion {
    std::string name;
    std::vector<std::pair<std::string, std::string>> strings;  // "compatible", "label"
    std::vector<std::pair<std::string, uint32_t>> values;
    std::vector<std::pair<std::string, std::vector<uint32_t>>> references;
    std::vector<Companion> children;
  };
  std::vector<Companion> companions;
};

// A device reached through guest MMIO. It owns its register window and its interrupt,
// and describes both; the machine and the arch layer know no device by name.
class MmioDevice {
 public:
  virtual ~MmioDevice() = default;

  virtual std::string_view name() const = 0;
  virtual AddressRange mmio_range() const = 0;

  // `offset` is relative to mmio_range().base; [offset, offset + data.size()) lies in
  // the range (the bus checks). Accesses are 1, 2, 4 or 8 bytes, little-endian.
  virtual void mmio_read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void mmio_write(uint64_t offset, std::span<const uint8_t> data) = 0;

  virtual DeviceResources resources() const = 0;
};

}  // namespace petrel
