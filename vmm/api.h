#pragma once

// The control socket's requests, in Firecracker's vocabulary (paths, bodies, status codes),
// without any HTTP transport: vmm/api_server.cc carries them over a Unix socket. What a
// request does to the guest goes through GuestControl, so tests (and a fuzzer) drive
// handle_request() with a fake.

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.h"
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
  virtual const Config& config() const = 0;
  // Lifecycle::pause()/resume(): they return once the guest is paused (or running).
  virtual Result<> pause() = 0;
  virtual Result<> resume() = 0;
  // A brief press of the guest's power button; false when it has none or is not running.
  virtual bool press_power_button() = 0;
  // What SIGTERM does to the run (its exit code too), with `grace` in place of the
  // configured stop_grace when given. Returns at once; the run ends on its own time.
  virtual void stop(std::optional<std::chrono::milliseconds> grace) = 0;
};

// Status, then body as JSON {"fault_message": ...}.
Response fault(unsigned status, std::string_view message);

// Routes and answers one request. Never throws: anything a client sends is a response.
Response handle_request(const Request& request, GuestControl& guest);

// The bodies, decoded by pure functions (no I/O, no state) so a fuzzer can call them. The
// error is the fault message, which names the field at fault.
template <typename T>
using Decoded = std::expected<T, std::string>;

// PUT /actions: {"action_type": "InstanceStart" | "FlushMetrics" | "SendCtrlAltDel"}, and
// petrel's own {"action_type": "Stop", "grace_ms": N} (`petrel stop`; grace_ms optional).
enum class ActionType { kInstanceStart, kFlushMetrics, kSendCtrlAltDel, kStop };
struct Action {
  ActionType type = ActionType::kInstanceStart;
  std::optional<std::chrono::milliseconds> grace;  // kStop only

  bool operator==(const Action&) const = default;
};
Decoded<Action> decode_action(std::string_view body);

// PATCH /vm: {"state": "Paused" | "Resumed"}.
enum class VmState { kPaused, kResumed };
Decoded<VmState> decode_vm_state(std::string_view body);

// The longest grace a stop request may ask for.
inline constexpr std::chrono::milliseconds kMaxStopGrace = std::chrono::hours(24);

// The largest request body any request here needs, with room to spare; the server answers
// 413 beyond it.
inline constexpr size_t kMaxBodyBytes = 16 * 1024;

}  // namespace petrel::api
