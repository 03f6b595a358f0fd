#pragma once

// A client of the control socket, for `petrel status/pause/resume/stop/list`: one request,
// one answer. Boost.Beast lives in api_client.cc alone.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.h"

namespace petrel::api {

struct Reply {
  unsigned status = 0;
  std::string body;
  pid_t server_pid = 0;  // the serving process, from the socket's peer credentials
};

// Sends one request to the socket at `path` and reads the answer. NOT_CREATED when nothing
// serves there (no socket, or no process listening: no such guest); INTERNAL_ERROR for a
// server that answers no HTTP within `timeout`.
Result<Reply> call(const std::filesystem::path& path, std::string_view method,
                   std::string_view target, std::string_view body = {},
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace petrel::api
