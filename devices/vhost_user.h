#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/unique_fd.h"

namespace petrel::vhost_user {

// The frontend side of the vhost-user protocol (QEMU's docs/interop/vhost-user.rst): the
// messages petrel sends a backend such as virtiofsd so that it serves a virtio device's
// rings straight out of guest memory. Messages are a 12-byte header (request, flags, payload
// size, all little-endian u32) and a payload; file descriptors travel as SCM_RIGHTS.

enum class Request : uint32_t {
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kSetMemTable = 5,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kSetVringEnable = 18,
};

inline constexpr uint32_t kFlagVersion1 = 0x1;
inline constexpr uint32_t kFlagVersionMask = 0x3;
inline constexpr uint32_t kFlagReply = 0x4;
inline constexpr uint32_t kFlagNeedReply = 0x8;
inline constexpr size_t kHeaderBytes = 12;
// No message petrel expects carries more than a memory table of one region.
inline constexpr size_t kMaxPayloadBytes = 256;

// In GET/SET_FEATURES, besides the virtio feature bits: the backend speaks
// GET/SET_PROTOCOL_FEATURES, and rings wait for SET_VRING_ENABLE.
inline constexpr uint64_t kFeatureProtocolFeatures = 1ull << 30;
// Protocol feature: a message with kFlagNeedReply is answered with a u64, 0 for success.
inline constexpr uint64_t kProtocolReplyAck = 1ull << 3;

// One guest RAM region of SET_MEM_TABLE, with the memfd sent alongside.
struct MemoryRegion {
  uint64_t guest_address;
  uint64_t size;
  uint64_t user_address;  // where the frontend (petrel) maps it: ring addresses are in this space
  uint64_t mmap_offset;   // of the region in the fd
};

// SET_VRING_ADDR: frontend user addresses of one split ring's three parts.
struct VringAddresses {
  uint32_t index;
  uint64_t desc;
  uint64_t used;
  uint64_t avail;
};

// The bytes of one message, as sent (the encoders are here so tests can check them).
std::vector<uint8_t> encode(Request request, uint32_t flags, std::span<const uint8_t> payload);
std::vector<uint8_t> u64_payload(uint64_t value);
std::vector<uint8_t> vring_state_payload(uint32_t index, uint32_t num);
std::vector<uint8_t> vring_addr_payload(const VringAddresses& addresses);
std::vector<uint8_t> mem_table_payload(const MemoryRegion& region);

// One connection to a backend. Every call sends one request and, when the protocol (or
// REPLY_ACK) says so, waits for its reply, at most `timeout`: a backend that hangs or dies
// is an error with its reason, never a wait without end. Errors are one line for logs,
// DEVICE_INITIALIZATION_FAILURE: the backend could not set the device up.
class Frontend {
 public:
  static constexpr std::chrono::seconds kDefaultTimeout{30};

  // Over a connected stream socket (made non-inheritable here).
  explicit Frontend(UniqueFd socket, std::chrono::milliseconds timeout = kDefaultTimeout);
  // Connects to a backend's listening socket: DEVICE_INITIALIZATION_FAILURE when nothing
  // listens there.
  static Result<Frontend> connect(const std::filesystem::path& socket,
                                  std::chrono::milliseconds timeout = kDefaultTimeout);

  int fd() const { return socket_.get(); }
  void close() { socket_.reset(); }

  // The handshake: SET_OWNER, GET_FEATURES, and, when the backend offers protocol features,
  // GET/SET_PROTOCOL_FEATURES (petrel asks for REPLY_ACK only). Returns the backend's
  // virtio feature bits.
  Result<uint64_t> start();
  bool protocol_features() const { return protocol_features_; }

  Result<> set_features(uint64_t features);
  Result<> set_mem_table(const MemoryRegion& region, int fd);
  Result<> set_vring_num(uint32_t index, uint32_t size);
  Result<> set_vring_addr(const VringAddresses& addresses);
  Result<> set_vring_base(uint32_t index, uint32_t base);
  // Stops the ring and returns where the backend's avail index stood.
  Result<uint32_t> get_vring_base(uint32_t index);
  Result<> set_vring_kick(uint32_t index, int eventfd);
  Result<> set_vring_call(uint32_t index, int eventfd);
  Result<> set_vring_enable(uint32_t index, bool enable);

 private:
  Result<> send(Request request, std::span<const uint8_t> payload, int fd, bool need_reply);
  // Waits for the reply to `request`, whose payload must be exactly `bytes` long.
  Result<std::vector<uint8_t>> receive(Request request, size_t bytes);
  Result<uint64_t> get_u64(Request request);
  // Sends a request that only answers with REPLY_ACK, and waits for that when negotiated.
  Result<> command(Request request, std::span<const uint8_t> payload, int fd = -1);

  UniqueFd socket_;
  std::chrono::milliseconds timeout_;
  bool protocol_features_ = false;
  bool reply_ack_ = false;
};

// A request's name for messages ("SET_VRING_KICK").
std::string_view request_name(Request request);

}  // namespace petrel::vhost_user
