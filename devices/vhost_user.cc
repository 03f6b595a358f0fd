#include "devices/vhost_user.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace petrel::vhost_user {

namespace {

void put_u32(std::vector<uint8_t>& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}
void put_u64(std::vector<uint8_t>& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}
uint32_t get_u32(std::span<const uint8_t> bytes) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = value << 8 | bytes[i];
  return value;
}
uint64_t get_u64_le(std::span<const uint8_t> bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | bytes[i];
  return value;
}

// The vring index field of SET_VRING_KICK/CALL: bits 0-7 the ring, bit 8 "no fd".
constexpr uint64_t kVringIndexMask = 0xff;

}  // namespace

std::string_view request_name(Request request) {
  switch (request) {
    case Request::kGetFeatures: return "GET_FEATURES";
    case Request::kSetFeatures: return "SET_FEATURES";
    case Request::kSetOwner: return "SET_OWNER";
    case Request::kSetMemTable: return "SET_MEM_TABLE";
    case Request::kSetVringNum: return "SET_VRING_NUM";
    case Request::kSetVringAddr: return "SET_VRING_ADDR";
    case Request::kSetVringBase: return "SET_VRING_BASE";
    case Request::kGetVringBase: return "GET_VRING_BASE";
    case Request::kSetVringKick: return "SET_VRING_KICK";
    case Request::kSetVringCall: return "SET_VRING_CALL";
    case Request::kGetProtocolFeatures: return "GET_PROTOCOL_FEATURES";
    case Request::kSetProtocolFeatures: return "SET_PROTOCOL_FEATURES";
    case Request::kSetVringEnable: return "SET_VRING_ENABLE";
  }
  return "request";
}

std::vector<uint8_t> encode(Request request, uint32_t flags, std::span<const uint8_t> payload) {
  std::vector<uint8_t> out;
  out.reserve(kHeaderBytes + payload.size());
  put_u32(out, static_cast<uint32_t>(request));
  put_u32(out, flags);
  put_u32(out, static_cast<uint32_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<uint8_t> u64_payload(uint64_t value) {
  std::vector<uint8_t> out;
  put_u64(out, value);
  return out;
}

std::vector<uint8_t> vring_state_payload(uint32_t index, uint32_t num) {
  std::vector<uint8_t> out;
  put_u32(out, index);
  put_u32(out, num);
  return out;
}

std::vector<uint8_t> vring_addr_payload(const VringAddresses& addresses) {
  std::vector<uint8_t> out;
  put_u32(out, addresses.index);
  put_u32(out, 0);  // flags: no dirty-page logging
  put_u64(out, addresses.desc);
  put_u64(out, addresses.used);
  put_u64(out, addresses.avail);
  put_u64(out, 0);  // log address, unused without logging
  return out;
}

std::vector<uint8_t> mem_table_payload(const MemoryRegion& region) {
  std::vector<uint8_t> out;
  put_u32(out, 1);  // regions
  put_u32(out, 0);  // padding
  put_u64(out, region.guest_address);
  put_u64(out, region.size);
  put_u64(out, region.user_address);
  put_u64(out, region.mmap_offset);
  return out;
}

Frontend::Frontend(UniqueFd socket, std::chrono::milliseconds timeout)
    : socket_(std::move(socket)), timeout_(timeout) {
  // The backend petrel spawns must not inherit its own end's twin, nor any other child.
  if (socket_) fcntl(socket_.get(), F_SETFD, FD_CLOEXEC);
}

Result<Frontend> Frontend::connect(const std::filesystem::path& socket,
                                   std::chrono::milliseconds timeout) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string& path = socket.native();
  if (path.size() >= sizeof(address.sun_path)) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("{}: socket path too long", path));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return fail(ExitCode::kDeviceInitializationFailure, fmt::format("socket: {}", strerror(errno)));
  }
  int done;
  do {
    done = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  } while (done != 0 && errno == EINTR);
  if (done != 0) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("{}: cannot connect: {} (is the vhost-user backend running?)", path,
                            strerror(errno)));
  }
  return Frontend(std::move(fd), timeout);
}

Result<> Frontend::send(Request request, std::span<const uint8_t> payload, int fd,
                        bool need_reply) {
  if (!socket_)
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("{}: not connected", request_name(request)));
  const std::vector<uint8_t> bytes =
      encode(request, kFlagVersion1 | (need_reply ? kFlagNeedReply : 0), payload);
  iovec io{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  alignas(cmsghdr) std::array<uint8_t, CMSG_SPACE(sizeof(int))> control{};
  if (fd >= 0) {
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &fd, sizeof(int));
  }
  // Messages are small: one sendmsg() takes all of it unless the backend is gone, and the
  // fd must travel with the first byte.
  pollfd wait{socket_.get(), POLLOUT, 0};
  if (poll(&wait, 1, static_cast<int>(timeout_.count())) <= 0) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("{}: backend not accepting messages", request_name(request)));
  }
  ssize_t sent;
  do {
    sent = sendmsg(socket_.get(), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0 && (errno == EPIPE || errno == ECONNRESET)) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("{}: the backend closed the connection", request_name(request)));
  }
  if (sent < 0) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("{}: {}", request_name(request), strerror(errno)));
  }
  if (static_cast<size_t>(sent) != bytes.size()) {
    return fail(
        ExitCode::kDeviceInitializationFailure,
        fmt::format("{}: sent only {} of {} bytes", request_name(request), sent, bytes.size()));
  }
  return {};
}

Result<std::vector<uint8_t>> Frontend::receive(Request request, size_t bytes) {
  const auto name = request_name(request);
  std::vector<uint8_t> buffer(kHeaderBytes + kMaxPayloadBytes);
  size_t have = 0;
  size_t want = kHeaderBytes;
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (have < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd wait{socket_.get(), POLLIN, 0};
    const int ready = left.count() > 0 ? poll(&wait, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      return fail(ExitCode::kDeviceInitializationFailure,
                  fmt::format("{}: no reply from the backend within {:g} s", name,
                              static_cast<double>(timeout_.count()) / 1000));
    }
    iovec io{buffer.data() + have, want - have};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    alignas(cmsghdr) std::array<uint8_t, CMSG_SPACE(4 * sizeof(int))> control{};
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    const ssize_t got = recvmsg(socket_.get(), &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got == 0 || (got < 0 && errno == ECONNRESET)) {
      return fail(ExitCode::kDeviceInitializationFailure,
                  fmt::format("{}: the backend closed the connection", name));
    }
    if (got < 0)
      return fail(ExitCode::kDeviceInitializationFailure,
                  fmt::format("{}: {}", name, strerror(errno)));
    // No reply petrel asks for carries descriptors: any that came are closed, not leaked.
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int stray;
        std::memcpy(&stray, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
        ::close(stray);
      }
    }
    have += static_cast<size_t>(got);
    if (have == kHeaderBytes && want == kHeaderBytes) {
      const uint32_t answered = get_u32(std::span(buffer).subspan(0, 4));
      const uint32_t flags = get_u32(std::span(buffer).subspan(4, 4));
      const uint32_t size = get_u32(std::span(buffer).subspan(8, 4));
      if (answered != static_cast<uint32_t>(request)) {
        return fail(ExitCode::kDeviceInitializationFailure,
                    fmt::format("{}: the backend answered request {}", name, answered));
      }
      if ((flags & kFlagReply) == 0 || (flags & kFlagVersionMask) != kFlagVersion1) {
        return fail(ExitCode::kDeviceInitializationFailure,
                    fmt::format("{}: reply with bad flags {:#x}", name, flags));
      }
      if (size != bytes) {
        return fail(ExitCode::kDeviceInitializationFailure,
                    fmt::format("{}: reply of {} bytes, expected {}", name, size, bytes));
      }
      want += size;
    }
  }
  return std::vector<uint8_t>(buffer.begin() + kHeaderBytes, buffer.begin() + want);
}

Result<uint64_t> Frontend::get_u64(Request request) {
  TRY(send(request, {}, -1, false));
  auto reply = TRY(receive(request, 8));
  return get_u64_le(reply);
}

Result<> Frontend::command(Request request, std::span<const uint8_t> payload, int fd) {
  TRY(send(request, payload, fd, reply_ack_));
  if (!reply_ack_) return {};
  auto reply = TRY(receive(request, 8));
  if (const uint64_t status = get_u64_le(reply); status != 0) {
    return fail(
        ExitCode::kDeviceInitializationFailure,
        fmt::format("{}: the backend refused it (status {})", request_name(request), status));
  }
  return {};
}

Result<uint64_t> Frontend::start() {
  // SET_OWNER names this connection the device's one frontend; it has no reply.
  TRY(send(Request::kSetOwner, {}, -1, false));
  auto features = get_u64(Request::kGetFeatures);
  if (!features) return features;
  protocol_features_ = (*features & kFeatureProtocolFeatures) != 0;
  if (protocol_features_) {
    auto offered = TRY(get_u64(Request::kGetProtocolFeatures));
    const uint64_t wanted = offered & kProtocolReplyAck;
    TRY(send(Request::kSetProtocolFeatures, u64_payload(wanted), -1, false));
    reply_ack_ = wanted != 0;
  }
  return *features;
}

Result<> Frontend::set_features(uint64_t features) {
  return command(Request::kSetFeatures, u64_payload(features));
}

Result<> Frontend::set_mem_table(const MemoryRegion& region, int fd) {
  return command(Request::kSetMemTable, mem_table_payload(region), fd);
}

Result<> Frontend::set_vring_num(uint32_t index, uint32_t size) {
  return command(Request::kSetVringNum, vring_state_payload(index, size));
}

Result<> Frontend::set_vring_addr(const VringAddresses& addresses) {
  return command(Request::kSetVringAddr, vring_addr_payload(addresses));
}

Result<> Frontend::set_vring_base(uint32_t index, uint32_t base) {
  return command(Request::kSetVringBase, vring_state_payload(index, base));
}

Result<uint32_t> Frontend::get_vring_base(uint32_t index) {
  const std::vector<uint8_t> payload = vring_state_payload(index, 0);
  TRY(send(Request::kGetVringBase, payload, -1, false));
  auto reply = TRY(receive(Request::kGetVringBase, 8));
  if (get_u32(std::span(reply).subspan(0, 4)) != index) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("GET_VRING_BASE: reply for another ring than {}", index));
  }
  return get_u32(std::span(reply).subspan(4, 4));
}

Result<> Frontend::set_vring_kick(uint32_t index, int eventfd) {
  return command(Request::kSetVringKick, u64_payload(index & kVringIndexMask), eventfd);
}

Result<> Frontend::set_vring_call(uint32_t index, int eventfd) {
  return command(Request::kSetVringCall, u64_payload(index & kVringIndexMask), eventfd);
}

Result<> Frontend::set_vring_enable(uint32_t index, bool enable) {
  return command(Request::kSetVringEnable, vring_state_payload(index, enable ? 1 : 0));
}

}  // namespace petrel::vhost_user
