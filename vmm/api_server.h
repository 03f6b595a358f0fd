#pragma once

// The control socket: HTTP/1.1 on a Unix stream socket, served on a thread of its own that
// never touches a vCPU. The HTTP library (Boost.Beast) lives in api_server.cc alone.

#include <chrono>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "vmm/api.h"

namespace petrel::api {

// Bounds on what one client may cost.
struct ServerLimits {
  size_t max_header_bytes = 8 * 1024;                 // request line and headers: 400 beyond
  size_t max_body_bytes = kMaxBodyBytes;              // 413 beyond
  std::chrono::milliseconds request_timeout{10'000};  // idle or slow: the connection is closed
  size_t max_connections = 16;  // more are closed as soon as they are accepted
};

class Server {
 public:
  // Binds `path` (which must not be in use: a socket file left there by a dead petrel is
  // the caller's to remove; anything else there is refused), makes it 0600, and starts
  // serving. `guest` must outlive the server. Errors are GUEST_INITIALIZATION_FAILURE.
  static Result<std::unique_ptr<Server>> start(const std::filesystem::path& path,
                                               GuestControl& guest, ServerLimits limits = {});
  // Stops serving, closes every connection, joins the thread and removes the socket file.
  virtual ~Server() = default;

  virtual const std::filesystem::path& path() const = 0;
};

// Removes a socket file left at `path` by a petrel that was killed: only a socket, never a
// file of another kind. Call it while holding the instance lock of the name that uses it.
Result<> remove_stale_socket(const std::filesystem::path& path);

// The longest path a Unix socket address holds (sun_path, without its NUL).
size_t max_socket_path_bytes();

}  // namespace petrel::api
