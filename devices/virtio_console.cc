#include "devices/virtio_console.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/config_section.h"
#include "core/little_endian.h"

namespace petrel::virtio {

namespace {

// Feature bits (section 5.3.3).
constexpr uint64_t kFeatureMultiport = 1ull << 1;

// Control events (section 5.3.6.2) and struct virtio_console_control: le32 id, le16 event,
// le16 value; PORT_NAME's name follows it.
constexpr uint16_t kDeviceReady = 0;
constexpr uint16_t kDeviceAdd = 1;
constexpr uint16_t kPortReady = 3;
constexpr uint16_t kPortOpen = 6;
constexpr uint16_t kPortName = 7;
constexpr size_t kControlBytes = 8;

constexpr size_t kControlRxQueue = 2;
constexpr size_t kControlTxQueue = 3;
// Each port's messages are two, and every port may be added once per DEVICE_READY; a
// driver that sends more without taking them has the rest dropped.
constexpr size_t kMaxPendingControl = 4 * kMaxPorts;
// Read from a port's file at a time.
constexpr size_t kInputChunkBytes = 4096;

constexpr size_t receive_queue(size_t port) { return port == 0 ? 0 : 2 * port + 2; }

using config_detail::printable;
using config_detail::quote_value;

// The guest makes /dev/virtio-ports/NAME of it (udev): a file name, printable and short.
Result<> check_port_name(const ConfigTable& entry, const std::string& name) {
  if (name.empty()) return entry.bad("name", "empty port name");
  if (name.size() > kMaxPortNameBytes) {
    return entry.bad("name", fmt::format("{} is {} bytes, more than the {} of a port name",
                                         quote_value(name), name.size(), kMaxPortNameBytes));
  }
  const bool printable_ascii =
      std::ranges::all_of(name, [](char c) { return c > 0x20 && c <= 0x7e && c != '/'; });
  if (!printable_ascii || name == "." || name == "..") {
    return entry.bad("name", fmt::format("{} is not a port name (printable ASCII, no '/' or "
                                         "whitespace; not \".\" or \"..\")",
                                         quote_value(name)));
  }
  return {};
}

Result<std::optional<std::any>> read_port(const ConfigTable& entry,
                                          const std::filesystem::path& source) {
  PortConfig port;
  auto name = TRY(entry.string("name"));
  if (!name) return entry.missing("name", "key");
  TRY(check_port_name(entry, *name));
  port.name = std::move(*name);
  auto path = TRY(config_detail::read_path(entry, "path", source));
  if (!path) return entry.missing("path", "key");
  port.path = std::move(*path);
  return port;
}

// Two ports of one name would be one /dev/virtio-ports entry; two on one file would mix
// their output.
std::vector<UniqueValue> port_unique(const std::any& settings) {
  const auto& port = std::any_cast<const PortConfig&>(settings);
  return {{"name", port.name, quote_value(port.name)},
          {"path", port.path.string(), printable(port.path.string())}};
}

// Why a port cannot use the file at `path`, if it cannot: it may be missing (petrel makes
// it), else it must be a regular file or a FIFO.
std::optional<std::string> unusable_port_file(const std::filesystem::path& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) {
    if (errno != ENOENT) return strerror(errno);
    const std::filesystem::path folder = path.parent_path();
    if (stat(folder.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) return "no such folder";
    return std::nullopt;
  }
  if (!S_ISREG(info.st_mode) && !S_ISFIFO(info.st_mode)) return "not a regular file or FIFO";
  return std::nullopt;
}

Result<> check_port_file(const ConfigTable& entry, const std::any& settings) {
  const auto& port = std::any_cast<const PortConfig&>(settings);
  const auto why = unusable_port_file(port.path);
  if (!why) return {};
  return fail(ExitCode::kDeviceInitializationFailure,
              fmt::format("{}: {}: {}: {}", entry.at("path"), entry.name("path"),
                          printable(port.path.string()), *why));
}

// Every [[port]] entry is a port of one device, made once for all of them.
Result<std::unique_ptr<VirtioDevice>> make_console(const DeviceSetup& setup) {
  const std::vector<PortConfig> ports = setup.guest.settings_of<PortConfig>();
  return ConsoleDevice::open(ports);
}

constexpr DeviceKey kPortKeys[] = {{"name", "string, required"}, {"path", "path, required"}};

}  // namespace

constexpr DeviceType kPortType = {
    .config = {.table = "port",
               .repeated = true,
               .max_entries = kMaxPorts,
               .plural = "ports",
               .keys = kPortKeys,
               .flag = {.form = DeviceFlag::Form::kEntry,
                        .name = "port",
                        .help = "virtio-console port NAME,path=FILE (a [[port]] entry); "
                                "repeatable",
                        .first_key = "name"},
               .read = read_port,
               .unique = port_unique,
               .check_files = check_port_file},
    .virtio_id = kDeviceConsole,
    .make_virtio = make_console,
    .one_device = true,
};

Result<std::unique_ptr<ConsoleDevice>> ConsoleDevice::open(std::span<const PortConfig> ports) {
  std::vector<Port> opened;
  for (const PortConfig& config : ports) {
    const std::string path = config.path.string();
    // Non-blocking: a FIFO nobody writes must not hold up the open, nor a full one the
    // device loop. Read-write: the open of a FIFO without a reader then succeeds too.
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0644));
    if (!fd) {
      return device_init_failure(
          fmt::format("port {}: {}: {}", config.name, path, strerror(errno)));
    }
    struct stat info {};
    if (fstat(fd.get(), &info) != 0) {
      return device_init_failure(
          fmt::format("port {}: {}: {}", config.name, path, strerror(errno)));
    }
    if (!S_ISREG(info.st_mode) && !S_ISFIFO(info.st_mode)) {
      return device_init_failure(
          fmt::format("port {}: {}: not a regular file or FIFO", config.name, path));
    }
    Port port;
    port.name = config.name;
    port.fd = std::move(fd);
    port.regular = S_ISREG(info.st_mode);
    port.input_end = port.regular ? static_cast<uint64_t>(info.st_size) : 0;
    opened.push_back(std::move(port));
  }
  auto device = std::unique_ptr<ConsoleDevice>(new ConsoleDevice(std::move(opened)));
  // A regular file cannot be waited on: its input goes out as the guest offers buffers.
  for (size_t i = 0; i < device->ports_.size(); ++i) {
    if (!device->ports_[i].regular) device->watched_ports_.push_back(i);
  }
  return device;
}

uint64_t ConsoleDevice::features() const { return kFeatureMultiport; }

void ConsoleDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  // cols, rows (only with VIRTIO_CONSOLE_F_SIZE), max_nr_ports, emerg_wr.
  std::array<uint8_t, 12> config{};
  store_le<uint32_t>(config, 4, static_cast<uint32_t>(ports_.size()));
  read_config_bytes(config, offset, data);
}

Result<> ConsoleDevice::activate(uint64_t features) {
  multiport_ = (features & kFeatureMultiport) != 0;
  // Without the control queues there is no PORT_OPEN: port 0 is open from the start.
  if (!multiport_ && !ports_.empty()) ports_[0].guest_open = true;
  return {};
}

void ConsoleDevice::reset() {
  multiport_ = false;
  ports_added_ = false;
  control_out_.clear();
  for (Port& port : ports_) port.guest_open = false;
}

std::vector<int> ConsoleDevice::watched_fds() const {
  std::vector<int> fds;
  for (const size_t port : watched_ports_) fds.push_back(ports_[port].fd.get());
  return fds;
}

void ConsoleDevice::serve_fd(size_t index, QueueAccess& queues) {
  if (index < watched_ports_.size()) receive(watched_ports_[index], queues);
}

void ConsoleDevice::serve(size_t queue, QueueAccess& queues) {
  if (multiport_ && queue == kControlTxQueue) {
    handle_control(queues);
    return;
  }
  if (multiport_ && queue == kControlRxQueue) {
    flush_control(queues);
    return;
  }
  // Port 0: 0 and 1; port n: 2n + 2 and 2n + 3. The queue count bounds n.
  const size_t port = queue < 2 ? 0 : (queue - 2) / 2;
  if (port >= ports_.size() || (port > 0 && !multiport_)) return;
  if (queue % 2 == 0) {
    receive(port, queues);
  } else {
    transmit(port, queues);
  }
}

void ConsoleDevice::handle_control(QueueAccess& queues) {
  while (auto chain = queues.pop(kControlTxQueue)) {
    ChainReader reader(*chain);
    std::array<uint8_t, kControlBytes> raw{};
    if (reader.read(raw)) {
      control_message(load_le<uint32_t>(raw, 0), load_le<uint16_t>(raw, 4),
                      load_le<uint16_t>(raw, 6));
    } else {
      spdlog::debug("{}: control message of {} bytes dropped", name(), chain->readable_bytes());
    }
    queues.push_used(kControlTxQueue, chain->head, 0);
  }
  flush_control(queues);
  // A port the guest opened may have input waiting.
  for (size_t port = 0; port < ports_.size(); ++port) receive(port, queues);
}

void ConsoleDevice::control_message(uint32_t id, uint16_t event, uint16_t value) {
  if (event == kDeviceReady) {
    if (value != 1) {
      spdlog::warn("{}: the guest's driver failed to set the device up", name());
      return;
    }
    if (ports_added_) return;
    ports_added_ = true;
    for (size_t port = 0; port < ports_.size(); ++port) {
      send_control(static_cast<uint32_t>(port), kDeviceAdd, 0);
    }
    return;
  }
  if (id >= ports_.size()) {
    spdlog::debug("{}: control event {} for port {}, which does not exist", name(), event, id);
    return;
  }
  Port& port = ports_[id];
  switch (event) {
    case kPortReady:
      if (value != 1) {
        spdlog::warn("{}: the guest failed to add port {} ({})", name(), id, port.name);
        return;
      }
      send_control(id, kPortName, 1, port.name);
      // The host side of every port is connected: its file is open.
      send_control(id, kPortOpen, 1);
      return;
    case kPortOpen: port.guest_open = value == 1; return;
    default: spdlog::debug("{}: control event {} for port {} ignored", name(), event, id);
  }
}

void ConsoleDevice::send_control(uint32_t id, uint16_t event, uint16_t value,
                                 std::string_view text) {
  if (control_out_.size() >= kMaxPendingControl) {
    spdlog::debug("{}: control event {} for port {} dropped: the driver takes none", name(), event,
                  id);
    return;
  }
  std::vector<uint8_t> message(kControlBytes + text.size());
  store_le<uint32_t>(message, 0, id);
  store_le<uint16_t>(message, 4, event);
  store_le<uint16_t>(message, 6, value);
  std::ranges::copy(text, message.begin() + kControlBytes);
  control_out_.push_back(std::move(message));
}

void ConsoleDevice::flush_control(QueueAccess& queues) {
  while (!control_out_.empty()) {
    auto chain = queues.pop(kControlRxQueue);
    if (!chain) return;  // the driver's next buffers bring us back
    ChainWriter writer(*chain);
    const size_t written = writer.write(control_out_.front());
    if (written < control_out_.front().size()) {
      spdlog::debug("{}: a {}-byte control message cut to the driver's {}-byte buffer", name(),
                    control_out_.front().size(), written);
    }
    queues.push_used(kControlRxQueue, chain->head, static_cast<uint32_t>(written));
    control_out_.pop_front();
  }
}

void ConsoleDevice::transmit(size_t index, QueueAccess& queues) {
  Port& port = ports_[index];
  const size_t queue = receive_queue(index) + 1;
  std::vector<iovec> iov;
  while (auto chain = queues.pop(queue)) {
    iov.clear();
    for (const auto& buffer : chain->readable) iov.push_back({buffer.data(), buffer.size()});
    size_t first = 0;
    // Whole chains, in IOV_MAX batches; a FIFO nobody reads drops what does not fit.
    while (first < iov.size()) {
      const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
      const ssize_t done = writev(port.fd.get(), &iov[first], count);
      if (done < 0 && errno == EINTR) continue;
      if (done <= 0) {
        spdlog::debug("{}: port {}: output dropped: {}", name(), port.name,
                      done < 0 ? strerror(errno) : "nothing written");
        break;
      }
      auto left = static_cast<size_t>(done);
      while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
      if (left > 0) {
        iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
      }
    }
    queues.push_used(queue, chain->head, 0);
  }
}

bool ConsoleDevice::fill_input(Port& port) {
  if (port.input_taken < port.input.size()) return true;
  port.input.resize(kInputChunkBytes);
  port.input_taken = 0;
  ssize_t got;
  do {
    if (port.regular) {
      const uint64_t left = port.input_end - port.input_offset;
      if (left == 0) {
        got = 0;
        break;
      }
      got = pread(port.fd.get(), port.input.data(), std::min<uint64_t>(left, kInputChunkBytes),
                  static_cast<off_t>(port.input_offset));
    } else {
      got = ::read(port.fd.get(), port.input.data(), kInputChunkBytes);
    }
  } while (got < 0 && errno == EINTR);
  if (got <= 0) {
    // Empty (EAGAIN), at its end, or failing: nothing to give for now.
    if (got < 0 && errno != EAGAIN) {
      spdlog::debug("{}: port {}: input: {}", name(), port.name, strerror(errno));
    }
    port.input.clear();
    return false;
  }
  port.input.resize(static_cast<size_t>(got));
  if (port.regular) port.input_offset += static_cast<uint64_t>(got);
  return true;
}

void ConsoleDevice::receive(size_t index, QueueAccess& queues) {
  Port& port = ports_[index];
  if (!port.guest_open) return;
  const size_t queue = receive_queue(index);
  while (fill_input(port)) {
    auto chain = queues.pop(queue);
    if (!chain) return;  // no buffer yet: the guest's next one brings us back
    ChainWriter writer(*chain);
    const size_t written = writer.write(std::span(port.input).subspan(port.input_taken));
    port.input_taken += written;
    queues.push_used(queue, chain->head, static_cast<uint32_t>(written));
  }
}

}  // namespace petrel::virtio
