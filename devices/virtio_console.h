#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/unique_fd.h"
#include "devices/device_type.h"
#include "devices/virtio_device.h"

namespace petrel::virtio {

// [[port]]: one port of the guest's virtio-console device (one registration: kPortType).
// Every entry is a port of the one device, the guest's /dev/virtio-ports/NAME.
struct PortConfig {
  std::string name;
  // A regular file (made when missing) or a FIFO: what the guest writes goes to it, what
  // it holds comes to the guest.
  std::filesystem::path path;
};
inline constexpr size_t kMaxPorts = 16;          // [[port]] entries
inline constexpr size_t kMaxPortNameBytes = 64;  // the guest makes a file name of it
extern const DeviceType kPortType;

// virtio-console (virtio 1.x, section 5.3) with VIRTIO_CONSOLE_F_MULTIPORT: named ports,
// none of them a console, each on a host file or FIFO. Port 0 has queues 0 and 1, the
// control queues are 2 and 3, port n > 0 has 2n + 2 and 2n + 3. The driver announces
// itself (DEVICE_READY); the device adds every port (DEVICE_ADD), and names and opens each
// one the driver has set up (PORT_READY -> PORT_NAME, PORT_OPEN). Input goes to a port
// only while the guest has it open, as Linux drops what arrives at a closed port.
//
// A regular file's input is what it held when petrel opened it; the guest's output is
// appended after that. A FIFO is read while petrel runs: since petrel holds it open for
// reading and writing, a port's FIFO is for one direction in practice (a host writer, or
// a host reader).
class ConsoleDevice final : public VirtioDevice {
 public:
  // Opens each port's file: DEVICE_INITIALIZATION_FAILURE when one cannot be opened or is
  // neither a regular file nor a FIFO.
  static Result<std::unique_ptr<ConsoleDevice>> open(std::span<const PortConfig> ports);

  uint32_t device_type() const override { return kDeviceConsole; }
  std::string_view name() const override { return "virtio-console"; }
  uint64_t features() const override;
  size_t queue_count() const override { return 2 * (ports_.size() + 1); }
  uint16_t queue_max_size(size_t) const override { return 128; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  Result<> activate(uint64_t features) override;
  void reset() override;
  void serve(size_t queue, QueueAccess& queues) override;
  std::vector<int> watched_fds() const override;
  void serve_fd(size_t index, QueueAccess& queues) override;

 private:
  struct Port {
    std::string name;
    UniqueFd fd;
    bool regular = false;        // a regular file: input ends at input_end
    uint64_t input_offset = 0;   // what of a regular file went to the guest so far
    uint64_t input_end = 0;      // its size when opened
    bool guest_open = false;     // the guest has the port open (PORT_OPEN 1)
    std::vector<uint8_t> input;  // read from the file, not yet in a guest buffer
    size_t input_taken = 0;      // of `input`, already delivered
  };

  explicit ConsoleDevice(std::vector<Port> ports) : ports_(std::move(ports)) {}

  void handle_control(QueueAccess& queues);
  void control_message(uint32_t id, uint16_t event, uint16_t value);
  void send_control(uint32_t id, uint16_t event, uint16_t value, std::string_view text = {});
  void flush_control(QueueAccess& queues);
  void transmit(size_t port, QueueAccess& queues);
  void receive(size_t port, QueueAccess& queues);
  bool fill_input(Port& port);

  std::vector<Port> ports_;
  bool multiport_ = false;  // negotiated
  bool ports_added_ = false;
  // Control messages for the driver, waiting for its control receive buffers.
  std::deque<std::vector<uint8_t>> control_out_;
  std::vector<size_t> watched_ports_;  // the port of each watched fd
};

}  // namespace petrel::virtio
