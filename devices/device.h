#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/fdt_writer.h"
#include "core/guest_memory.h"

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

// What a device needs from the machine to describe itself in the device tree.
class FdtContext {
 public:
  virtual ~FdtContext() = default;
  // Writes `interrupts` (and whatever the controller needs) for a level-triggered,
  // active-high shared peripheral interrupt.
  virtual void interrupts_property(FdtWriter& fdt, uint32_t spi) const = 0;
  // The same for an edge-triggered (rising) one.
  virtual void edge_interrupts_property(FdtWriter& fdt, uint32_t spi) const = 0;
  // The phandle of the fixed APB clock that AMBA primecell devices name.
  virtual uint32_t apb_clock_phandle() const = 0;
};

// A device reached through guest MMIO. It owns its register window, its interrupt and
// its device-tree node; the machine and the FDT builder know no device by name.
class MmioDevice {
 public:
  virtual ~MmioDevice() = default;

  virtual std::string_view name() const = 0;
  virtual AddressRange mmio_range() const = 0;

  // `offset` is relative to mmio_range().base; [offset, offset + data.size()) lies in
  // the range (the bus checks). Accesses are 1, 2, 4 or 8 bytes, little-endian.
  virtual void mmio_read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void mmio_write(uint64_t offset, std::span<const uint8_t> data) = 0;

  // The node's name under the root, e.g. "serial@9000000", and its properties; the FDT
  // builder opens and closes the node around describe().
  virtual std::string fdt_node_name() const = 0;
  virtual void describe(FdtWriter& fdt, const FdtContext& context) const = 0;
};

// Little-endian helpers for register accesses of any width.
uint64_t mmio_value(std::span<const uint8_t> data);
void set_mmio_value(std::span<uint8_t> data, uint64_t value);

}  // namespace petrel
