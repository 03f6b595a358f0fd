// libFuzzer target for virtio-console (devices/virtio_console.cc): chains on any of its
// queues, in any order, as a hostile guest would offer them (control messages of any
// length and content, output split any way, receive buffers of any size), against two
// ports on memfds (no file-system side effects: the device opens them through
// /proc/self/fd). Besides crashes and sanitizer reports, a finding is a device that fails
// itself, a used length past the chain's writable bytes, a port file whose new bytes are
// not exactly what the guest sent to that port, input delivered that is not the next part
// of the port's file, or a control message the device should not send. See
// tests/fuzz/README.md.

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "devices/virtio_console.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace petrel;
using namespace petrel::virtio;
using fuzz::Input;

constexpr uint64_t kRamSize = 256 * 1024;
constexpr uint16_t kQueueSize = 16;
constexpr uint64_t kRingBytes =
    0x400;  // per queue: descriptors, then avail at 0x100, used at 0x200
constexpr uint64_t kBuffers = 0x4000;
constexpr size_t kPorts = 2;
constexpr size_t kQueues = 2 * (kPorts + 1);
constexpr size_t kMaxBuffersPerChain = 4;
constexpr uint16_t kMaxBufferBytes = 2048;
constexpr uint64_t kFeatureMultiport = 1ull << 1;

const GuestMemory& ram() {
  static GuestMemory& memory = fuzz::guarded_ram(0, kRamSize);
  return memory;
}

int port_fd(size_t port) {
  static const std::array<int, kPorts> fds = [] {
    std::array<int, kPorts> made{};
    for (int& fd : made) {
      fd = memfd_create("virtio-console-fuzz-port", MFD_CLOEXEC);
      if (fd < 0) fuzz::finding("memfd_create failed");
    }
    return made;
  }();
  return fds[port];
}

std::vector<uint8_t> file_bytes(size_t port) {
  std::vector<uint8_t> out(static_cast<size_t>(lseek(port_fd(port), 0, SEEK_END)));
  if (pread(port_fd(port), out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) {
    fuzz::finding("cannot read back a port's file");
  }
  return out;
}

// Which port a data queue belongs to, and whether it is the port's receiveq.
std::optional<size_t> port_of(size_t queue) {
  if (queue == 2 || queue == 3) return std::nullopt;
  return queue < 2 ? 0 : (queue - 2) / 2;
}

struct Buffer {
  uint64_t address;
  uint32_t length;
  bool writable;
};
struct Chain {
  std::vector<Buffer> buffers;
  std::vector<uint8_t> readable;
  uint64_t writable_bytes = 0;
};

class Harness final : public QueueAccess {
 public:
  explicit Harness(uint64_t features) {
    for (size_t i = 0; i < kQueues; ++i) {
      Virtqueue& q = queues_.emplace_back(kQueueSize);
      q.desc_table = kRingBytes * i;
      q.avail_ring = kRingBytes * i + 0x100;
      q.used_ring = kRingBytes * i + 0x200;
      q.ready = true;
      if (!q.activate(ram(), features)) fuzz::finding("the harness's rings are refused");
    }
  }

  std::optional<DescriptorChain> pop(size_t queue) override {
    PETREL_FUZZ_CHECK(queue < kQueues);
    auto chain = queues_[queue].pop();
    if (!chain) fuzz::finding("the harness built a malformed ring: " + chain.error().message);
    if (!*chain) return std::nullopt;
    return std::move(**chain);
  }

  void push_used(size_t queue, uint16_t head, uint32_t written) override {
    PETREL_FUZZ_CHECK(queue < kQueues);
    auto found = offered_[queue].find(head);
    PETREL_FUZZ_CHECK(found != offered_[queue].end());
    const Chain chain = std::move(found->second);
    offered_[queue].erase(found);
    PETREL_FUZZ_CHECK(written <= chain.writable_bytes);
    std::vector<uint8_t> bytes;
    for (const Buffer& b : chain.buffers) {
      if (!b.writable || bytes.size() >= written) continue;
      const auto span = ram().slice(b.address, b.length).value();
      bytes.insert(bytes.end(), span.begin(),
                   span.begin() + std::min<size_t>(span.size(), written - bytes.size()));
    }
    const std::optional<size_t> port = port_of(queue);
    if (!port) {
      // The control transmitq's chains come back unwritten; the receiveq's hold a message.
      PETREL_FUZZ_CHECK(queue == 2 || written == 0);
      if (queue == 2 && bytes.size() >= 8) check_control(bytes);
    } else if (queue % 2 == 0) {
      delivered[*port].insert(delivered[*port].end(), bytes.begin(), bytes.end());
    } else {
      PETREL_FUZZ_CHECK(written == 0);
      sent[*port].insert(sent[*port].end(), chain.readable.begin(), chain.readable.end());
    }
    queues_[queue].push_used(head, written);
  }
  void device_failed(std::string_view why) override {
    fuzz::finding("the device failed itself: " + std::string(why));
  }
  void interrupt_driver() override {}

  // Writes `chain` into `queue`'s ring and makes it available; false when out of room.
  bool offer(size_t queue, Chain chain) {
    uint16_t& next = next_desc_[queue];
    if (next + chain.buffers.size() > kQueueSize) return false;
    const uint16_t head = next;
    uint8_t* base = ram().host_base();
    for (size_t i = 0; i < chain.buffers.size(); ++i) {
      const Buffer& b = chain.buffers[i];
      const uint16_t flags =
          (b.writable ? kDescWrite : 0) | (i + 1 < chain.buffers.size() ? kDescNext : 0);
      const uint16_t following = static_cast<uint16_t>(next + 1);
      uint8_t* desc = base + kRingBytes * queue + 16ull * next;
      std::memcpy(desc, &b.address, 8);
      std::memcpy(desc + 8, &b.length, 4);
      std::memcpy(desc + 12, &flags, 2);
      std::memcpy(desc + 14, &following, 2);
      ++next;
    }
    uint8_t* avail = base + kRingBytes * queue + 0x100;
    uint16_t& idx = avail_idx_[queue];
    std::memcpy(avail + 4 + 2ull * (idx % kQueueSize), &head, 2);
    ++idx;
    __atomic_store_n(reinterpret_cast<uint16_t*>(avail + 2), idx, __ATOMIC_RELEASE);
    offered_[queue][head] = std::move(chain);
    return true;
  }

  std::array<std::vector<uint8_t>, kPorts> sent;
  std::array<std::vector<uint8_t>, kPorts> delivered;

 private:
  // DEVICE_ADD (1), PORT_OPEN (6) or PORT_NAME (7), for a port that exists.
  static void check_control(const std::vector<uint8_t>& message) {
    uint32_t id = 0;
    uint16_t event = 0;
    std::memcpy(&id, message.data(), 4);
    std::memcpy(&event, message.data() + 4, 2);
    PETREL_FUZZ_CHECK(id < kPorts);
    PETREL_FUZZ_CHECK(event == 1 || event == 6 || event == 7);
  }

  std::vector<Virtqueue> queues_;
  std::array<std::map<uint16_t, Chain>, kQueues> offered_;
  std::array<uint16_t, kQueues> next_desc_{};
  std::array<uint16_t, kQueues> avail_idx_{};
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

// Input: one byte of setup, then chains to the end. Setup: bit 0 the driver takes
// MULTIPORT, bits 1-2 port 0's file holds 0, 5, 100 or 5000 bytes of input (port 1's
// none). A chain: one byte, its queue (low 3 bits, modulo the 6 queues) and buffer count
// (1 + bits 3-4), then per buffer a flags byte (bit 0: device-writable) and a u16 length
// (at most 2 KiB), then the contents of the readable buffers, in order. Readable buffers go
// first. The device serves the chain's queue after each.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const auto setup = in.take<uint8_t>();
  const uint64_t features = kFeatureVersion1 | ((setup & 1) != 0 ? kFeatureMultiport : 0);
  constexpr size_t kInputSizes[] = {0, 5, 100, 5000};
  std::array<std::vector<uint8_t>, kPorts> input;
  input[0].resize(kInputSizes[(setup >> 1) & 3]);
  for (size_t i = 0; i < input[0].size(); ++i) input[0][i] = static_cast<uint8_t>(i * 7 + 3);
  std::vector<PortConfig> ports;
  for (size_t port = 0; port < kPorts; ++port) {
    const int fd = port_fd(port);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, input[port].data(), input[port].size(), 0) !=
                                     static_cast<ssize_t>(input[port].size())) {
      fuzz::finding("cannot write a port's file");
    }
    ports.push_back({"port" + std::to_string(port), "/proc/self/fd/" + std::to_string(fd)});
  }
  auto device = ConsoleDevice::open(ports);
  if (!device) fuzz::finding("cannot open the ports: " + device.error().message);
  PETREL_FUZZ_CHECK((*device)->queue_count() == kQueues);

  std::memset(ram().host_base(), 0, kRamSize);
  Harness harness(features);
  if (!(*device)->activate(features)) fuzz::finding("the device refused its features");

  uint64_t next_buffer = kBuffers;
  while (!in.empty()) {
    const auto head = in.take<uint8_t>();
    const size_t queue = (head & 7) % kQueues;
    const size_t count = ((head >> 3) & 3) + 1;
    Chain chain;
    for (size_t i = 0; i < count && i < kMaxBuffersPerChain; ++i) {
      const auto flags = in.take<uint8_t>();
      const auto length = static_cast<uint32_t>(in.take<uint16_t>() % (kMaxBufferBytes + 1));
      chain.buffers.push_back({0, length, (flags & 1) != 0});
    }
    std::vector<Buffer> ordered;
    for (const bool writable : {false, true}) {
      for (const Buffer& b : chain.buffers) {
        if (b.writable == writable) ordered.push_back(b);
      }
    }
    chain.buffers = std::move(ordered);
    bool room = true;
    for (Buffer& b : chain.buffers) {
      if (next_buffer + b.length > kRamSize) {
        room = false;
        break;
      }
      b.address = next_buffer;
      next_buffer += b.length;
      uint8_t* host = ram().host_base() + b.address;
      if (b.writable) {
        chain.writable_bytes += b.length;
        std::memset(host, 0xa5, b.length);
      } else {
        const auto contents = in.bytes(b.length);
        std::memcpy(host, contents.data(), contents.size());
        chain.readable.insert(chain.readable.end(), host, host + b.length);
      }
    }
    if (!room || !harness.offer(queue, std::move(chain))) break;
    (*device)->serve(queue, harness);
  }

  for (size_t port = 0; port < kPorts; ++port) {
    // What the guest sent is appended to the file, byte for byte.
    std::vector<uint8_t> expected = input[port];
    expected.insert(expected.end(), harness.sent[port].begin(), harness.sent[port].end());
    PETREL_FUZZ_CHECK(file_bytes(port) == expected);
    // What it received is the start of the file's input, in order.
    const std::vector<uint8_t>& got = harness.delivered[port];
    PETREL_FUZZ_CHECK(got.size() <= input[port].size());
    PETREL_FUZZ_CHECK(std::equal(got.begin(), got.end(), input[port].begin()));
  }
  return 0;
}
