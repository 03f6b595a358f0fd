#pragma once

// The control socket's requests, in Firecracker's vocabulary (paths, bodies, status codes),
// without any HTTP transport: vmm/api_server.cc carries them over a Unix socket. What a
// request does to the guest goes through GuestControl, so tests (and a fuzzer) drive
// handle_request() with a fake.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "core/lifecycle.h"

namespace petrel::api {

struct Request {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // "/", "/actions?x=y"
  std::string body;
};

struct Response {
  unsigned status = 200;
  std::string body;  // JSON; empty for 204

  bool operator==(const Response&) const = default;
};

// What the requests may ask of the running guest. Called on the server's thread, so every
// member must be safe to call while the vCPUs run.
class GuestControl {
 public:
  virtual ~GuestControl() = default;
  virtual std::string id() const = 0;
  virtual PublicState state() const = 0;
  virtual uint32_t vcpu_count() const = 0;
  virtual uint64_t mem_size_mib() const = 0;
};

// Status, then body as JSON {"fault_message": ...}.
Response fault(unsigned status, std::string_view message);

// Routes and answers one request. Never throws: anything a client sends is a response.
Response handle_request(const Request& request, GuestControl& guest);

// The bodies, decoded by pure functions (no I/O, no state) so a fuzzer can call them. The
// error is the fault message, which names the field at fault.
template <typename T>
using Decoded = std::expected<T, std::string>;

// PUT /actions: {"action_type": "InstanceStart" | "FlushMetrics" | "SendCtrlAltDel"}.
enum class ActionType { kInstanceStart, kFlushMetrics, kSendCtrlAltDel };
Decoded<ActionType> decode_action(std::string_view body);

// The largest request body any request here needs, with room to spare; the server answers
// 413 beyond it.
inline constexpr size_t kMaxBodyBytes = 16 * 1024;

}  // namespace petrel::api
