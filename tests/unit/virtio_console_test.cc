// virtio-console (devices/virtio_console.cc) driven through the virtio-mmio transport as
// Linux's virtio_console driver drives it: the control handshake, output to a port's file,
// the file's content as the guest's input, and control messages a driver should not send.
#include "devices/virtio_console.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "tests/unit/scratch_dir.h"
#include "tests/unit/virtio_test_helpers.h"
#include "vmm/devices.h"

namespace petrel::virtio {
namespace {

using namespace petrel::virtio::testing;
using Catch::Matchers::Contains;

constexpr uint64_t kFeatureMultiport = 1ull << 1;
constexpr uint16_t kDeviceReady = 0;
constexpr uint16_t kDeviceAdd = 1;
constexpr uint16_t kPortReady = 3;
constexpr uint16_t kPortOpen = 6;
constexpr uint16_t kPortName = 7;
constexpr uint32_t kControlRx = 2;
constexpr uint32_t kControlTx = 3;
constexpr uint16_t kQueueSize = 16;
constexpr uint64_t kQueueArea = 0x2'0000;  // RAM for each queue's rings and buffers

uint32_t receive_queue(uint32_t port) { return port == 0 ? 0 : 2 * port + 2; }
uint32_t transmit_queue(uint32_t port) { return receive_queue(port) + 1; }

std::vector<uint8_t> control(uint32_t id, uint16_t event, uint16_t value) {
  std::vector<uint8_t> out(8);
  std::memcpy(out.data(), &id, 4);
  std::memcpy(out.data() + 4, &event, 2);
  std::memcpy(out.data() + 6, &value, 2);
  return out;
}

struct Message {
  uint32_t id;
  uint16_t event;
  uint16_t value;
  std::string text;
  bool operator==(const Message&) const = default;
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A console device on files of a scratch folder, live behind a virtio-mmio transport, with
// every queue set up by the test's driver.
class ConsoleRig {
 public:
  // Port i is named names[i], on the file of that name, which holds inputs[i] if given.
  explicit ConsoleRig(const std::vector<std::string>& names,
                      const std::vector<std::string>& inputs = {},
                      uint64_t features = kFeatureVersion1 | kFeatureMultiport) {
    std::vector<PortConfig> ports;
    for (size_t i = 0; i < names.size(); ++i) {
      const auto path = i < inputs.size() ? scratch.write(names[i], inputs[i]) : scratch / names[i];
      ports.push_back({names[i], path});
    }
    auto device = ConsoleDevice::open(ports);
    REQUIRE(device);
    rig = std::make_unique<MmioRig>(std::move(*device));
    REQUIRE(rig->negotiate(features));
    const size_t count = 2 * (names.size() + 1);
    REQUIRE(kQueueArea * count <= kRamSize);
    for (size_t i = 0; i < count; ++i) {
      const uint64_t base = kRamBase + kQueueArea * i;
      queues.push_back(std::make_unique<DriverQueue>(rig->ram, kQueueSize, base, base + 0x1000,
                                                     base + 0x2000, base + 0x4000,
                                                     base + kQueueArea));
      rig->setup_queue(static_cast<uint32_t>(i), *queues.back());
    }
    rig->driver_ok();
    REQUIRE((rig->status() & kStatusNeedsReset) == 0);
    // As Linux does before it says it is ready: buffers for the device's control messages.
    for (int i = 0; i < 8; ++i) queue(kControlRx).add({writable(64)});
  }

  DriverQueue& queue(uint32_t index) { return *queues.at(index); }
  void serve(uint32_t index) { rig->transport->serve_queue(index); }

  // The driver sends a control message.
  void send(std::vector<uint8_t> message) {
    queue(kControlTx).add({readable(std::move(message))});
    serve(kControlTx);
  }
  // The control messages the device returned since the last call.
  std::vector<Message> received() {
    DriverQueue& q = queue(kControlRx);
    std::vector<Message> out;
    for (; seen_control_ != q.used_idx(); ++seen_control_) {
      const UsedElement used = q.used_element(seen_control_);
      // The ring's descriptors were handed out in order, one per buffer.
      const uint64_t address = q.get<uint64_t>(q.desc() + 16ull * used.id);
      REQUIRE(used.len >= 8);
      const std::vector<uint8_t> bytes = q.read(address, used.len);
      Message m{};
      std::memcpy(&m.id, bytes.data(), 4);
      std::memcpy(&m.event, bytes.data() + 4, 2);
      std::memcpy(&m.value, bytes.data() + 6, 2);
      m.text = text_of(std::span(bytes).subspan(8));
      out.push_back(m);
    }
    return out;
  }
  bool broken() { return (rig->status() & kStatusNeedsReset) != 0; }

  petrel::testing::ScratchDir scratch;
  std::unique_ptr<MmioRig> rig;
  std::vector<std::unique_ptr<DriverQueue>> queues;

 private:
  uint16_t seen_control_ = 0;
};

TEST_CASE("virtio-console: config space and features", "[virtio_console]") {
  ConsoleRig console({"a", "b", "c"});
  CHECK(console.rig->read(reg::kDeviceId) == kDeviceConsole);
  CHECK((console.rig->device_features() & kFeatureMultiport) != 0);
  CHECK(console.rig->read(reg::kConfig + 4) == 3);  // max_nr_ports
  CHECK(console.rig->read(reg::kConfig, 2) == 0);   // cols: no VIRTIO_CONSOLE_F_SIZE
  console.rig->write(reg::kQueueSel, 7);            // port 2's transmitq, the last queue
  CHECK(console.rig->read(reg::kQueueNumMax) > 0);
  console.rig->write(reg::kQueueSel, 8);
  CHECK(console.rig->read(reg::kQueueNumMax) == 0);
}

TEST_CASE("virtio-console: DEVICE_READY adds each port; PORT_READY names and opens it",
          "[virtio_console]") {
  ConsoleRig console({"result", "log"});
  CHECK(console.received().empty());

  console.send(control(0, kDeviceReady, 1));
  CHECK(console.received() == std::vector<Message>{{0, kDeviceAdd, 0, ""}, {1, kDeviceAdd, 0, ""}});
  CHECK(console.queue(kControlTx).last_used().len == 0);

  console.send(control(1, kPortReady, 1));
  CHECK(console.received() ==
        std::vector<Message>{{1, kPortName, 1, "log"}, {1, kPortOpen, 1, ""}});
  console.send(control(0, kPortReady, 1));
  CHECK(console.received() ==
        std::vector<Message>{{0, kPortName, 1, "result"}, {0, kPortOpen, 1, ""}});

  // A second DEVICE_READY adds nothing twice.
  console.send(control(0, kDeviceReady, 1));
  CHECK(console.received().empty());
  CHECK_FALSE(console.broken());
}

TEST_CASE("virtio-console: messages wait for the driver's control buffers", "[virtio_console]") {
  ConsoleRig console({"a", "b", "c"});
  // Use up the 8 buffers the rig offered: 3 DEVICE_ADD, then 2 per PORT_READY.
  console.send(control(0, kDeviceReady, 1));
  console.send(control(0, kPortReady, 1));
  console.send(control(1, kPortReady, 1));
  console.send(control(2, kPortReady, 1));
  CHECK(console.received().size() == 8);
  console.queue(kControlRx).add({writable(64)});
  console.serve(kControlRx);
  CHECK(console.received() == std::vector<Message>{{2, kPortOpen, 1, ""}});
}

TEST_CASE("virtio-console: what the guest sends lands in the port's file as it is",
          "[virtio_console]") {
  ConsoleRig console({"first", "result"}, {"", "before\n"});
  console.send(control(0, kDeviceReady, 1));
  console.send(control(1, kPortReady, 1));

  console.queue(transmit_queue(1)).add({readable("hello-"), readable("port")});
  console.serve(transmit_queue(1));
  CHECK(console.queue(transmit_queue(1)).last_used().len == 0);
  // Appended after what the file held.
  CHECK(read_file(console.scratch / "result") == "before\nhello-port");
  CHECK(read_file(console.scratch / "first").empty());

  // Port 0 has the first queue pair; a chain with writable buffers only sends nothing.
  console.queue(transmit_queue(0)).add({readable(std::string("\0\x01\xff", 3))});
  console.queue(transmit_queue(0)).add({writable(4)});
  console.serve(transmit_queue(0));
  CHECK(read_file(console.scratch / "first") == std::string("\0\x01\xff", 3));
  CHECK(console.queue(transmit_queue(0)).used_idx() == 2);
  CHECK_FALSE(console.broken());
}

TEST_CASE("virtio-console: the file's content reaches the guest once it opens the port",
          "[virtio_console]") {
  ConsoleRig console({"other", "input"}, {"", "line one\nline two\n"});
  console.send(control(0, kDeviceReady, 1));
  console.send(control(1, kPortReady, 1));
  DriverQueue& rx = console.queue(receive_queue(1));
  const auto first = rx.add({writable(9)});
  console.serve(receive_queue(1));
  // Linux drops what comes to a port no program has open: the device holds it.
  CHECK(rx.used_idx() == 0);

  console.send(control(1, kPortOpen, 1));
  REQUIRE(rx.used_idx() == 1);
  CHECK(rx.last_used().len == 9);
  CHECK(text_of(rx.read(first.addresses[0], 9)) == "line one\n");

  const auto second = rx.add({writable(64, 0)});
  console.serve(receive_queue(1));
  REQUIRE(rx.used_idx() == 2);
  CHECK(rx.last_used().len == 9);
  CHECK(text_of(rx.read(second.addresses[0], 9)) == "line two\n");

  // The file's input is what it held when opened: what the guest writes is not read back.
  console.queue(transmit_queue(1)).add({readable("echo?")});
  console.serve(transmit_queue(1));
  rx.add({writable(64)});
  console.serve(receive_queue(1));
  CHECK(rx.used_idx() == 2);
  CHECK(read_file(console.scratch / "input") == "line one\nline two\necho?");
  CHECK(console.rig->read(reg::kInterruptStatus) != 0);
}

TEST_CASE("virtio-console: bad control messages are dropped, the device goes on",
          "[virtio_console]") {
  ConsoleRig console({"a", "b"}, {"in-a"});
  console.send({1, 2, 3, 4});                       // shorter than a message
  console.send(control(0, kDeviceReady, 0));        // the driver failed
  console.send(control(7, kPortReady, 1));          // no such port
  console.send(control(0xffffffff, kPortOpen, 1));  // no such port
  console.send(control(0, 42, 1));                  // no such event
  console.send(control(0, kPortReady, 0));          // the driver failed the port
  console.send(control(0, kDeviceAdd, 1));          // the device's own event
  console.queue(kControlTx).add({writable(8)});     // nothing to read
  console.serve(kControlTx);
  CHECK(console.received().empty());
  CHECK(console.queue(kControlTx).used_idx() == 8);
  CHECK_FALSE(console.broken());

  // A message split across buffers is read whole, and the device still answers.
  std::vector<uint8_t> ready = control(0, kDeviceReady, 1);
  console.queue(kControlTx)
      .add({readable(std::vector<uint8_t>(ready.begin(), ready.begin() + 3)),
            readable(std::vector<uint8_t>(ready.begin() + 3, ready.end()))});
  console.serve(kControlTx);
  CHECK(console.received().size() == 2);
  // The guest opens port 0 (without PORT_READY, which Linux would send first): its input.
  console.queue(kControlRx).add({writable(64)});
  console.send(control(0, kPortOpen, 1));
  DriverQueue& rx = console.queue(receive_queue(0));
  const auto chain = rx.add({writable(16)});
  console.serve(receive_queue(0));
  REQUIRE(rx.used_idx() == 1);
  CHECK(text_of(rx.read(chain.addresses[0], rx.last_used().len)) == "in-a");
  CHECK_FALSE(console.broken());
}

TEST_CASE("virtio-console: a driver without MULTIPORT gets port 0 alone", "[virtio_console]") {
  ConsoleRig console({"only", "unused"}, {"hi"}, kFeatureVersion1);
  console.queue(transmit_queue(0)).add({readable("out")});
  console.serve(transmit_queue(0));
  CHECK(read_file(console.scratch / "only") == "hiout");
  DriverQueue& rx = console.queue(receive_queue(0));
  const auto chain = rx.add({writable(8)});
  console.serve(receive_queue(0));
  REQUIRE(rx.used_idx() == 1);
  CHECK(text_of(rx.read(chain.addresses[0], rx.last_used().len)) == "hi");
  // The control queues are not in use.
  console.send(control(0, kDeviceReady, 1));
  CHECK(console.received().empty());
}

TEST_CASE("virtio-console: a port's file must be a regular file or a FIFO", "[virtio_console]") {
  petrel::testing::ScratchDir scratch;
  const std::vector<PortConfig> folder{{"dir", scratch.dir()}};
  auto device = ConsoleDevice::open(folder);
  REQUIRE_FALSE(device);
  CHECK(device.error().code == ExitCode::kDeviceInitializationFailure);
  const std::vector<PortConfig> missing_folder{{"x", scratch / "no/such/file"}};
  CHECK_FALSE(ConsoleDevice::open(missing_folder));
}

TEST_CASE("virtio-console: [[port]] entries, their errors, and one device for all",
          "[virtio_console]") {
  petrel::testing::ScratchDir scratch;
  const std::string boot = "[boot]\nkernel = \"Image\"\n";
  auto config = scratch.parse(boot +
                              "[[port]]\nname = \"result\"\npath = \"out.txt\"\n"
                              "[[port]]\nname = \"org.test.log\"\npath = \"log\"\n");
  if (!config) FAIL(config.error().message);
  const auto ports = config->settings_of<PortConfig>();
  REQUIRE(ports.size() == 2);
  CHECK(ports[0].name == "result");
  CHECK(ports[0].path == scratch / "out.txt");
  CHECK(ports[1].name == "org.test.log");

  const MachineHooks hooks;
  auto devices = vmm::make_virtio_devices(*config, nullptr, hooks);
  REQUIRE(devices);
  REQUIRE(devices->size() == 1);
  CHECK(devices->front()->device_type() == kDeviceConsole);

  auto error = [&](const std::string& ports_text) {
    auto bad = scratch.parse(boot + ports_text);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == ExitCode::kBadConfig);
    return bad.error().message;
  };
  CHECK_THAT(error("[[port]]\npath = \"x\"\n"), Contains("port[0].name") && Contains("missing"));
  CHECK_THAT(error("[[port]]\nname = \"x\"\n"), Contains("port[0].path") && Contains("missing"));
  CHECK_THAT(error("[[port]]\nname = \"\"\npath = \"x\"\n"),
             Contains("port[0].name") && Contains("empty"));
  CHECK_THAT(error("[[port]]\nname = \"a/b\"\npath = \"x\"\n"),
             Contains("port[0].name") && Contains("not a port name"));
  CHECK_THAT(error("[[port]]\nname = \"a b\"\npath = \"x\"\n"), Contains("port[0].name"));
  CHECK_THAT(error("[[port]]\nname = \"..\"\npath = \"x\"\n"), Contains("port[0].name"));
  CHECK_THAT(error("[[port]]\nname = \"" + std::string(65, 'n') + "\"\npath = \"x\"\n"),
             Contains("port[0].name") && Contains("more than the 64"));
  CHECK_THAT(error("[[port]]\nname = \"a\"\npath = \"x\"\n[[port]]\nname = \"a\"\npath = \"y\"\n"),
             Contains("port[1].name") && Contains("already used by port[0]"));
  CHECK_THAT(error("[[port]]\nname = \"a\"\npath = \"x\"\n[[port]]\nname = \"b\"\npath = \"x\"\n"),
             Contains("port[1].path") && Contains("already used by port[0]"));
  CHECK_THAT(error("[[port]]\nname = \"a\"\npath = \"x\"\nstdout = true\n"),
             Contains("port[0].stdout") && Contains("unknown key"));
  std::string many;
  for (size_t i = 0; i <= kMaxPorts; ++i) {
    many +=
        "[[port]]\nname = \"p" + std::to_string(i) + "\"\npath = \"f" + std::to_string(i) + "\"\n";
  }
  CHECK_THAT(error(many), Contains("more than 16 ports"));
}

}  // namespace
}  // namespace petrel::virtio
