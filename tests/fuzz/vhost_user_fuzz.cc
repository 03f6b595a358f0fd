// libFuzzer target for the frontend side of vhost-user (devices/vhost_user.cc) as virtio-fs
// (devices/virtio_fs.cc) drives it: whatever a hostile or broken backend sends back. The
// backend is the far end of a socketpair holding the input's bytes, written in chunks (some
// with file descriptors attached) and then shut down, so every wait ends at once. The device
// connects (handshake and memory table), starts rings, is reset, starts them again, looks
// at its watched fds and is reset. Besides crashes and sanitizer reports, a finding is a
// file descriptor left open (received ones must be closed). See tests/fuzz/README.md.

#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include "devices/vhost_user.h"
#include "devices/virtio_fs.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace petrel;
using namespace petrel::virtio;
using fuzz::Input;

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kRamSize = 64 * 1024;
constexpr size_t kMaxChunks = 64;  // stays far below the socket's buffer: writes never block
constexpr size_t kMaxRings = 3;

const GuestMemory& ram() {
  static GuestMemory& memory = fuzz::guarded_ram(kRamBase, kRamSize, GuestMemory::Sharing::kShared);
  return memory;
}

// The eventfd a guest notify would signal.
int kick_fd() {
  static const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd;
}

size_t open_fds() {
  size_t count = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) fuzz::finding("cannot list /proc/self/fd");
  while (readdir(dir) != nullptr) ++count;
  closedir(dir);
  return count;
}

// Writes one chunk of the backend's bytes with `fds` fresh eventfds attached.
void send_chunk(int socket, std::span<const uint8_t> bytes, size_t fds) {
  std::array<int, 8> attached{};
  for (size_t i = 0; i < fds; ++i) attached[i] = eventfd(0, EFD_CLOEXEC);
  iovec io{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  alignas(cmsghdr) std::array<uint8_t, CMSG_SPACE(sizeof(attached))> control{};
  if (fds > 0) {
    message.msg_control = control.data();
    message.msg_controllen = CMSG_SPACE(fds * sizeof(int));
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(fds * sizeof(int));
    std::memcpy(CMSG_DATA(header), attached.data(), fds * sizeof(int));
  }
  if (sendmsg(socket, &message, MSG_DONTWAIT | MSG_NOSIGNAL) !=
      static_cast<ssize_t>(bytes.size())) {
    fuzz::finding("cannot write the backend's bytes");
  }
  for (size_t i = 0; i < fds; ++i) close(attached[i]);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  ram();
  kick_fd();
  return 0;
}

// Input: a u64 of features the driver accepted, a byte of ring count (low 2 bits, at most
// 3: the third names a queue virtio-fs does not have), per ring a u8 index, a u16 size and
// three u16 offsets of its parts into guest RAM (desc, avail, used); then the backend's
// bytes as chunks: a byte whose low 3 bits are the eventfds sent along and whose high 5
// bits plus one are the chunk's length, then that many bytes. Nothing is sent with an
// empty chunk.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t fds_before = open_fds();
  Input in(data, size);
  const auto features = in.take<uint64_t>();
  const size_t ring_count = std::min<size_t>(in.take<uint8_t>() & 3, kMaxRings);
  std::vector<RingLayout> rings;
  for (size_t i = 0; i < ring_count; ++i) {
    RingLayout ring{};
    ring.index = in.take<uint8_t>();
    ring.size = in.take<uint16_t>();
    ring.desc_table = kRamBase + in.take<uint16_t>();
    ring.avail_ring = kRamBase + in.take<uint16_t>();
    ring.used_ring = kRamBase + in.take<uint16_t>();
    ring.notify_fd = kick_fd();
    rings.push_back(ring);
  }

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    fuzz::finding("socketpair failed");
  }
  UniqueFd backend(pair[1]);
  for (size_t chunks = 0; chunks < kMaxChunks && !in.empty(); ++chunks) {
    const auto head = in.take<uint8_t>();
    const auto bytes = in.bytes((head >> 3) + 1u);
    send_chunk(backend.get(), bytes, head & 7);
  }
  // No more from the backend: a frontend that waits for more sees the end of the stream.
  shutdown(backend.get(), SHUT_WR);

  {
    vhost_user::Frontend frontend(UniqueFd(pair[0]), std::chrono::milliseconds(1000));
    auto device = FsDevice::connect("fuzz", "share[0]", std::move(frontend), ram(), std::nullopt);
    if (device) {
      // DRIVER_OK, a reset (which stops the rings), DRIVER_OK again; then a look at the
      // call eventfds and the socket, where the backend's end of the stream is seen.
      (void)(*device)->start_rings(features, rings);
      (*device)->reset();
      (void)(*device)->start_rings(features, rings);
      struct Queues final : QueueAccess {
        std::optional<DescriptorChain> pop(size_t) override { return std::nullopt; }
        void push_used(size_t, uint16_t, uint32_t) override {}
        void device_failed(std::string_view) override {}
        void interrupt_driver() override {}
      } queues;
      const std::vector<int> watched = (*device)->watched_fds();
      for (size_t i = 0; i < watched.size(); ++i) (*device)->serve_fd(i, queues);
      (*device)->reset();
    }
  }
  backend.reset();
  if (open_fds() != fds_before) fuzz::finding("a file descriptor was left open");
  return 0;
}
