// virtio-fs over vhost-user: the message encoding, the frontend against a fake backend on a
// socketpair, the device through the virtio-mmio transport, and virtiofsd's process.
#include "devices/virtio_fs.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "devices/vhost_user.h"
#include "devices/virtiofsd.h"
#include "tests/unit/scratch_dir.h"
#include "tests/unit/virtio_test_helpers.h"

namespace petrel::virtio {
namespace {

using namespace petrel::virtio::testing;
using vhost_user::Request;

uint32_t u32_at(const std::vector<uint8_t>& bytes, size_t at) {
  uint32_t value;
  std::memcpy(&value, bytes.data() + at, 4);
  return value;
}
uint64_t u64_at(const std::vector<uint8_t>& bytes, size_t at) {
  uint64_t value;
  std::memcpy(&value, bytes.data() + at, 8);
  return value;
}

// One message as the fake backend received it.
struct Received {
  uint32_t request = 0;
  uint32_t flags = 0;
  std::vector<uint8_t> payload;
  int fds = 0;
};

// How the fake backend below behaves.
struct Behaviour {
  uint64_t features = kFeatureVersion1 | kFeatureEventIdx | vhost_user::kFeatureProtocolFeatures |
                      (1ull << 26);  // dirty-page logging, not for the guest
  uint64_t protocol_features = vhost_user::kProtocolReplyAck | 1;
  bool answer = true;          // false: swallow requests (a hung backend)
  bool wrong_request = false;  // answer GET_FEATURES as if it were another request
  int close_after = -1;        // close the connection after this many messages
};

// A vhost-user backend on the other end of a socketpair, on a thread of its own: it records
// every message, answers GET_* and acknowledges NEED_REPLY, as virtiofsd would.
class FakeBackend {
 public:
  explicit FakeBackend(Behaviour behaviour = {}) : behaviour_(behaviour) {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    frontend_end_ = UniqueFd(fds[0]);
    own_ = UniqueFd(fds[1]);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeBackend() {
    shutdown(own_.get(), SHUT_RDWR);
    thread_.join();
  }

  UniqueFd take_frontend_end() { return std::move(frontend_end_); }
  std::vector<Received> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::vector<uint32_t> requests() {
    std::vector<uint32_t> out;
    for (const Received& m : messages()) out.push_back(m.request);
    return out;
  }
  // The eventfds the frontend sent with SET_VRING_CALL, by ring.
  int call_fd(uint32_t ring) {
    std::lock_guard lock(mutex_);
    return ring < call_fds_.size() ? call_fds_[ring].get() : -1;
  }
  void close_connection() { shutdown(own_.get(), SHUT_RDWR); }
  // From now on requests are recorded and not answered: a backend that hangs.
  void stop_answering() { answering_ = false; }

 private:
  void run() {
    for (int count = 0;; ++count) {
      if (count == behaviour_.close_after) {
        shutdown(own_.get(), SHUT_RDWR);
        return;
      }
      uint8_t header[12];
      int fd = -1;
      if (!receive(header, sizeof(header), &fd)) return;
      Received m;
      std::memcpy(&m.request, header, 4);
      std::memcpy(&m.flags, header + 4, 4);
      uint32_t size;
      std::memcpy(&size, header + 8, 4);
      m.payload.resize(size);
      if (size > 0 && !receive(m.payload.data(), size, nullptr)) return;
      m.fds = fd >= 0 ? 1 : 0;
      UniqueFd owned(fd);
      {
        std::lock_guard lock(mutex_);
        if (m.request == static_cast<uint32_t>(Request::kSetVringCall)) {
          const uint64_t ring = u64_at(m.payload, 0) & 0xff;
          if (call_fds_.size() <= ring) call_fds_.resize(ring + 1);
          call_fds_[ring] = std::move(owned);
        }
        messages_.push_back(m);
      }
      if (!behaviour_.answer || !answering_) continue;
      switch (static_cast<Request>(m.request)) {
        case Request::kGetFeatures:
          reply(behaviour_.wrong_request ? 99 : m.request,
                vhost_user::u64_payload(behaviour_.features));
          break;
        case Request::kGetProtocolFeatures:
          reply(m.request, vhost_user::u64_payload(behaviour_.protocol_features));
          break;
        case Request::kGetVringBase:
          reply(m.request, vhost_user::vring_state_payload(u32_at(m.payload, 0), 7));
          break;
        default:
          if ((m.flags & vhost_user::kFlagNeedReply) != 0) {
            reply(m.request, vhost_user::u64_payload(0));
          }
      }
    }
  }
  bool receive(uint8_t* out, size_t bytes, int* fd) {
    size_t have = 0;
    while (have < bytes) {
      iovec io{out + have, bytes - have};
      msghdr message{};
      message.msg_iov = &io;
      message.msg_iovlen = 1;
      alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int))] = {};
      message.msg_control = control;
      message.msg_controllen = sizeof(control);
      const ssize_t got = recvmsg(own_.get(), &message, MSG_CMSG_CLOEXEC);
      if (got <= 0) return false;
      if (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr && fd != nullptr) {
        std::memcpy(fd, CMSG_DATA(c), sizeof(int));
      }
      have += static_cast<size_t>(got);
    }
    return true;
  }
  void reply(uint32_t request, const std::vector<uint8_t>& payload) {
    const std::vector<uint8_t> bytes = vhost_user::encode(
        static_cast<Request>(request), vhost_user::kFlagVersion1 | vhost_user::kFlagReply, payload);
    // No REQUIRE on this thread: Catch2's assertions are not thread-safe (TSan). A reply
    // that does not go out fails the test on the test's thread, as the frontend's error.
    [[maybe_unused]] const ssize_t sent =
        send(own_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }

  Behaviour behaviour_;
  std::atomic<bool> answering_ = true;
  UniqueFd frontend_end_;
  UniqueFd own_;
  std::mutex mutex_;
  std::vector<Received> messages_;
  std::vector<UniqueFd> call_fds_;
  std::thread thread_;
};

uint32_t req(Request r) { return static_cast<uint32_t>(r); }

Result<std::unique_ptr<FsDevice>> connect_device(
    FakeBackend& backend, const GuestMemory& memory,
    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  return FsDevice::connect("hostdata", "share[0]",
                           vhost_user::Frontend(backend.take_frontend_end(), timeout), memory,
                           std::nullopt);
}

TEST_CASE("vhost-user: message encoding", "[virtio_fs]") {
  const std::vector<uint8_t> num = vhost_user::encode(
      Request::kSetVringNum, vhost_user::kFlagVersion1, vhost_user::vring_state_payload(1, 256));
  CHECK(num == std::vector<uint8_t>{8, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0});

  const auto addr = vhost_user::vring_addr_payload({1, 0x1000, 0x2000, 0x3000});
  REQUIRE(addr.size() == 40);
  CHECK(u32_at(addr, 0) == 1);
  CHECK(u32_at(addr, 4) == 0);        // flags: no logging
  CHECK(u64_at(addr, 8) == 0x1000);   // descriptors
  CHECK(u64_at(addr, 16) == 0x2000);  // used
  CHECK(u64_at(addr, 24) == 0x3000);  // available
  CHECK(u64_at(addr, 32) == 0);       // log

  const auto table = vhost_user::mem_table_payload({0x8000'0000, 1 << 20, 0x7f00'0000'0000, 0});
  REQUIRE(table.size() == 8 + 32);
  CHECK(u32_at(table, 0) == 1);
  CHECK(u64_at(table, 8) == 0x8000'0000);
  CHECK(u64_at(table, 16) == 1 << 20);
  CHECK(u64_at(table, 24) == 0x7f00'0000'0000);
  CHECK(u64_at(table, 32) == 0);
}

TEST_CASE("virtio-fs: the handshake hands the backend guest RAM as one memfd region",
          "[virtio_fs]") {
  GuardedMemory ram(kRamBase, kRamSize, GuestMemory::Sharing::kShared);
  FakeBackend backend;
  auto device = connect_device(backend, ram.memory());
  REQUIRE(device);
  const auto messages = backend.messages();
  REQUIRE(messages.size() == 5);
  CHECK(backend.requests() ==
        std::vector<uint32_t>{req(Request::kSetOwner), req(Request::kGetFeatures),
                              req(Request::kGetProtocolFeatures),
                              req(Request::kSetProtocolFeatures), req(Request::kSetMemTable)});
  for (const Received& m : messages) CHECK((m.flags & 3) == 1);
  // Of the protocol features offered, petrel takes REPLY_ACK only...
  CHECK(u64_at(messages[3].payload, 0) == vhost_user::kProtocolReplyAck);
  // ...and then asks for acknowledgements.
  const Received& table = messages[4];
  CHECK((table.flags & vhost_user::kFlagNeedReply) != 0);
  CHECK(table.fds == 1);
  CHECK(u64_at(table.payload, 8) == kRamBase);
  CHECK(u64_at(table.payload, 16) == kRamSize);
  CHECK(u64_at(table.payload, 24) == reinterpret_cast<uint64_t>(ram.memory().host_base()));

  // Config space: the tag, zero-padded to 36 bytes, then one request queue.
  std::vector<uint8_t> config(40, 0xee);
  (*device)->read_config(0, config);
  CHECK(std::string(config.begin(), config.begin() + 8) == "hostdata");
  CHECK(config[8] == 0);
  CHECK(config[35] == 0);
  CHECK(u32_at(config, 36) == 1);
  CHECK((*device)->device_type() == 26);
  CHECK((*device)->queue_count() == 2);
  CHECK((*device)->name() == "virtio-fs hostdata");
}

TEST_CASE("virtio-fs: backends that cannot serve are clear errors", "[virtio_fs]") {
  GuardedMemory shared(kRamBase, kRamSize, GuestMemory::Sharing::kShared);
  auto message = [](const Result<std::unique_ptr<FsDevice>>& r) {
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ExitCode::kDeviceInitializationFailure);
    return r.error().message;
  };
  SECTION("private guest RAM") {
    GuardedMemory ram;
    FakeBackend backend;
    CHECK(message(connect_device(backend, ram.memory())) ==
          "share[0]: vhost-user backend: guest RAM is not shared memory");
  }
  SECTION("a backend that closes the connection") {
    FakeBackend backend(Behaviour{.close_after = 1});
    CHECK(message(connect_device(backend, shared.memory())) ==
          "share[0]: vhost-user backend: GET_FEATURES: the backend closed the connection");
  }
  SECTION("a backend that does not answer") {
    FakeBackend backend(Behaviour{.answer = false});
    CHECK(message(connect_device(backend, shared.memory(), std::chrono::milliseconds(100))) ==
          "share[0]: vhost-user backend: GET_FEATURES: no reply from the backend within 0.1 s");
  }
  SECTION("a reply to another request") {
    FakeBackend backend(Behaviour{.wrong_request = true});
    CHECK(message(connect_device(backend, shared.memory())) ==
          "share[0]: vhost-user backend: GET_FEATURES: the backend answered request 99");
  }
  SECTION("a backend without virtio 1") {
    FakeBackend backend(Behaviour{.features = vhost_user::kFeatureProtocolFeatures});
    CHECK_THAT(message(connect_device(backend, shared.memory())),
               Catch::Contains("does not offer VIRTIO_F_VERSION_1"));
  }
}

TEST_CASE("virtio-fs: DRIVER_OK hands each ring to the backend; its call interrupts the driver",
          "[virtio_fs]") {
  FakeBackend backend;
  MmioRig rig(GuestMemory::Sharing::kShared, [&backend](const GuestMemory& memory) {
    auto device = connect_device(backend, memory);
    REQUIRE(device);
    return std::unique_ptr<VirtioDevice>(std::move(*device));
  });
  // Offered: what the backend and the transport both have, nothing the backend keeps.
  CHECK(rig.device_features() == (kFeatureVersion1 | kFeatureEventIdx));
  REQUIRE(rig.negotiate(kFeatureVersion1 | kFeatureEventIdx));
  DriverQueue hiprio(rig.ram, 16);
  DriverQueue requests(rig.ram, 64, kRamBase + 0x8000, kRamBase + 0x18000, kRamBase + 0x28000);
  rig.setup_queue(0, hiprio);
  rig.setup_queue(1, requests);
  rig.driver_ok();
  REQUIRE((rig.status() & kStatusNeedsReset) == 0);

  const auto messages = backend.messages();
  REQUIRE(messages.size() == 5 + 1 + 2 * 6);
  const Received& features = messages[5];
  CHECK(features.request == req(Request::kSetFeatures));
  CHECK(u64_at(features.payload, 0) ==
        (kFeatureVersion1 | kFeatureEventIdx | vhost_user::kFeatureProtocolFeatures));
  const uint8_t* host = rig.ram.memory().host_base();
  for (uint32_t ring = 0; ring < 2; ++ring) {
    const DriverQueue& q = ring == 0 ? hiprio : requests;
    const Received* m = &messages[6 + 6 * ring];
    CHECK(m[0].request == req(Request::kSetVringNum));
    CHECK(u32_at(m[0].payload, 0) == ring);
    CHECK(u32_at(m[0].payload, 4) == q.size());
    CHECK(m[1].request == req(Request::kSetVringBase));
    CHECK(u32_at(m[1].payload, 4) == 0);
    CHECK(m[2].request == req(Request::kSetVringAddr));
    CHECK(u64_at(m[2].payload, 8) == reinterpret_cast<uint64_t>(host + (q.desc() - kRamBase)));
    CHECK(u64_at(m[2].payload, 16) == reinterpret_cast<uint64_t>(host + (q.used() - kRamBase)));
    CHECK(u64_at(m[2].payload, 24) == reinterpret_cast<uint64_t>(host + (q.avail() - kRamBase)));
    CHECK(m[3].request == req(Request::kSetVringCall));
    CHECK(m[3].fds == 1);
    CHECK(m[4].request == req(Request::kSetVringKick));
    CHECK(m[4].fds == 1);
    CHECK(u64_at(m[4].payload, 0) == ring);
    CHECK(m[5].request == req(Request::kSetVringEnable));
    CHECK(u32_at(m[5].payload, 4) == 1);
    for (int i = 0; i < 6; ++i) CHECK((m[i].flags & vhost_user::kFlagNeedReply) != 0);
  }

  // The backend signals its call eventfd: the transport sets bit 0 and raises the edge.
  CHECK(rig.read(reg::kInterruptStatus) == 0);
  signal_eventfd(backend.call_fd(1));
  rig.transport->serve_fd(1);
  CHECK(rig.read(reg::kInterruptStatus) == 1);
  CHECK(rig.interrupts() == 1);

  // A reset stops both rings.
  rig.write(reg::kStatus, 0);
  const auto after = backend.messages();
  REQUIRE(after.size() == messages.size() + 2);
  CHECK(after[after.size() - 2].request == req(Request::kGetVringBase));
  CHECK(after.back().request == req(Request::kGetVringBase));
  CHECK(u32_at(after.back().payload, 0) == 1);
}

// DRIVER_OK is written by a vCPU: the round trips that hand the rings to the backend run on
// the device's loop (start_backend), so a backend that hangs holds up that loop only.
TEST_CASE("virtio-fs: DRIVER_OK leaves the backend's round trips to the device's loop",
          "[virtio_fs]") {
  FakeBackend backend;
  MmioRig rig(GuestMemory::Sharing::kShared, [&backend](const GuestMemory& memory) {
    auto device = connect_device(backend, memory, std::chrono::milliseconds(300));
    REQUIRE(device);
    return std::unique_ptr<VirtioDevice>(std::move(*device));
  });
  REQUIRE(rig.negotiate(kFeatureVersion1));
  DriverQueue hiprio(rig.ram, 16);
  rig.setup_queue(0, hiprio);
  const size_t handshake = backend.messages().size();
  const uint32_t driver_ok =
      kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk;

  SECTION("a backend that answers gets the rings when the loop runs") {
    rig.write(reg::kStatus, driver_ok);
    usleep(50000);  // anything sent would have reached the backend by now
    CHECK(backend.messages().size() == handshake);
    CHECK(rig.status() == driver_ok);
    rig.transport->start_backend();
    CHECK(backend.messages().size() == handshake + 1 + 6);
    CHECK(rig.status() == driver_ok);
  }
  SECTION("a backend that hangs: the status write returns, the loop's start fails") {
    backend.stop_answering();
    rig.write(reg::kStatus, driver_ok);
    CHECK(rig.status() == driver_ok);  // not broken: nothing waited on the backend yet
    rig.transport->start_backend();    // SET_FEATURES waits 300 ms for its reply
    CHECK((rig.status() & kStatusNeedsReset) != 0);
  }
  SECTION("a reset before the loop ran drops the start") {
    rig.write(reg::kStatus, driver_ok);
    rig.write(reg::kStatus, 0);
    rig.transport->start_backend();
    usleep(50000);
    CHECK(backend.messages().size() == handshake);
    CHECK(rig.status() == 0);
  }
}

TEST_CASE("virtio-fs: a backend that goes away marks the device broken", "[virtio_fs]") {
  FakeBackend backend;
  MmioRig rig(GuestMemory::Sharing::kShared, [&backend](const GuestMemory& memory) {
    auto device = connect_device(backend, memory);
    REQUIRE(device);
    return std::unique_ptr<VirtioDevice>(std::move(*device));
  });
  REQUIRE(rig.negotiate(kFeatureVersion1));
  DriverQueue hiprio(rig.ram, 16);
  rig.setup_queue(0, hiprio);
  rig.driver_ok();
  REQUIRE((rig.status() & kStatusNeedsReset) == 0);
  backend.close_connection();
  usleep(10000);
  rig.transport->serve_fd(2);  // the socket
  CHECK((rig.status() & kStatusNeedsReset) != 0);
  // A reset then asks a backend that is gone nothing.
  rig.write(reg::kStatus, 0);
  CHECK(rig.status() == 0);
}

TEST_CASE("virtiofsd: a missing program names its package", "[virtio_fs]") {
  VirtiofsdProcess::Options options;
  options.program = "/nonexistent/virtiofsd";
  options.folder = "/tmp";
  options.log_name = "share[1]";
  UniqueFd connection;
  auto process = VirtiofsdProcess::start(options, connection);
  REQUIRE_FALSE(process);
  CHECK(process.error().code == ExitCode::kDeviceInitializationFailure);
  CHECK(process.error().message ==
        "share[1]: /nonexistent/virtiofsd: No such file or directory (virtiofsd comes with "
        "Debian's qemu-system-common package)");
}

TEST_CASE("virtio-fs: a socket nothing listens on is exit 5", "[virtio_fs]") {
  petrel::testing::ScratchDir scratch;
  GuardedMemory ram(kRamBase, kRamSize, GuestMemory::Sharing::kShared);
  const std::filesystem::path socket = scratch / "none.sock";
  auto device = FsDevice::open({{}, "t", false, socket}, 2, ram.memory());
  REQUIRE_FALSE(device);
  CHECK(device.error().code == ExitCode::kDeviceInitializationFailure);
  CHECK(device.error().message ==
        "share[2].socket: " + socket.string() +
            ": cannot connect: No such file or directory (is the vhost-user backend running?)");
}

TEST_CASE("virtiofsd: its command line", "[virtio_fs]") {
  VirtiofsdProcess::Options options;
  options.folder = "/srv/a,b";
  CHECK(VirtiofsdProcess::arguments(options, 5) ==
        std::vector<std::string>{"/usr/lib/qemu/virtiofsd", "--fd=5", "-o", "source=/srv/a\\,b",
                                 "-o", "cache=auto", "-o", "log_level=err"});
}

// The real thing, where it can run: Debian's virtiofsd needs root for its sandbox.
TEST_CASE("virtiofsd: the real one starts, speaks vhost-user and is reaped", "[virtio_fs]") {
  if (geteuid() != 0 || access(kVirtiofsdPath, X_OK) != 0) {
    WARN("skipped: needs root and " << kVirtiofsdPath);
    return;
  }
  petrel::testing::ScratchDir scratch;
  GuardedMemory ram(kRamBase, kRamSize, GuestMemory::Sharing::kShared);
  {
    virtio::ShareConfig share{scratch.dir(), "scratch", false, std::nullopt};
    auto device = FsDevice::open(share, 0, ram.memory());
    REQUIRE(device);
    virtio::ShareConfig read_only{scratch.dir(), "ro", true, std::nullopt};
    auto second = FsDevice::open(read_only, 1, ram.memory());
    REQUIRE(second);
  }
  // Both were reaped: no child is left.
  CHECK(waitpid(-1, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

}  // namespace
}  // namespace petrel::virtio
