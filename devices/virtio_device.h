#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "devices/virtqueue.h"

namespace petrel::virtio {

// Device type ids (virtio 1.x, section 5).
inline constexpr uint32_t kDeviceNet = 1;
inline constexpr uint32_t kDeviceBlock = 2;
inline constexpr uint32_t kDeviceConsole = 3;
inline constexpr uint32_t kDeviceEntropy = 4;
inline constexpr uint32_t kDeviceFilesystem = 26;

// How a device reports a host resource it cannot set up (an image, a tap, virtiofsd).
inline std::unexpected<Error> device_init_failure(std::string message) {
  return fail(ExitCode::kDeviceInitializationFailure, std::move(message));
}

// A device's view of its queues while it serves them. Calls come on the device loop
// thread, never concurrently for one device.
class QueueAccess {
 public:
  virtual ~QueueAccess() = default;
  // The next chain of `queue`; nothing when it is empty (the driver is then asked to
  // notify again) or when the ring is malformed (the device then needs a reset and the
  // transport says why, once).
  virtual std::optional<DescriptorChain> pop(size_t queue) = 0;
  // Returns a chain with `written` bytes stored in its writable buffers. The transport
  // interrupts the driver after the device's call returns, if the driver wants it.
  virtual void push_used(size_t queue, uint16_t head, uint32_t written) = 0;
  // The device hit something it cannot go on from (e.g. a malformed request it cannot
  // even answer): it needs a reset.
  virtual void device_failed(std::string_view why) = 0;
  // For a device whose rings another process serves: it used buffers and wants the driver
  // interrupted (it already applied the driver's suppression rules).
  virtual void interrupt_driver() = 0;
};

// One ring as the driver configured it, for a device whose rings another process serves
// (vhost-user). The transport has checked it: a power-of-two size, each part aligned and
// inside guest RAM. Addresses are guest-physical.
struct RingLayout {
  uint32_t index;
  uint16_t size;
  uint64_t desc_table;
  uint64_t avail_ring;
  uint64_t used_ring;
  int notify_fd;  // the eventfd a guest notify of this queue signals (KVM writes it)
};

// The device-type half of a virtio device (block, net, entropy, ...); the transport
// (virtio-mmio) does the rest. A device knows nothing of registers or interrupts.
class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual uint32_t device_type() const = 0;
  virtual std::string_view name() const = 0;  // for logs: "virtio-blk vda"
  // Device-specific feature bits; the transport adds the ring and version bits...
  virtual uint64_t features() const = 0;
  // ...those of them that this device can work with (a vhost-user backend may lack some).
  virtual uint64_t transport_features(uint64_t offered) const { return offered; }
  virtual size_t queue_count() const = 0;
  virtual uint16_t queue_max_size(size_t) const { return 256; }

  // Device configuration space; reads past its end see zeros, writes to read-only fields
  // are ignored.
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) const = 0;
  virtual void write_config(uint64_t, std::span<const uint8_t>) {}

  // The driver set DRIVER_OK having accepted `features`. An error means the device cannot
  // work with them and is reported to the driver as DEVICE_NEEDS_RESET.
  virtual Result<> activate(uint64_t) { return {}; }
  // The driver reset the device; in-flight work is finished (the transport waits).
  virtual void reset() {}

  // True for a device whose rings another process serves (vhost-user): the transport then
  // neither watches nor reads the notify eventfds, leaves the rings alone, and at DRIVER_OK
  // calls start_rings() instead of activate() with every ready queue.
  virtual bool rings_served_elsewhere() const { return false; }
  virtual Result<> start_rings(uint64_t, std::span<const RingLayout>) { return {}; }

  // The driver notified `queue`: serve what it made available.
  virtual void serve(size_t queue, QueueAccess& queues) = 0;

  // File descriptors the device waits on besides its queues (a tap); when one becomes
  // readable, serve_fd() is called with its index in this list, while the device is live.
  // The watch is edge-triggered: serve_fd() reads until the fd is empty or the device has
  // no room, and then serve() of the queue that makes room carries on.
  virtual std::vector<int> watched_fds() const { return {}; }
  virtual void serve_fd(size_t, QueueAccess&) {}
};

// Copies a device's config structure out at a guest-chosen offset and width.
void read_config_bytes(std::span<const uint8_t> config, uint64_t offset, std::span<uint8_t> data);

}  // namespace petrel::virtio
