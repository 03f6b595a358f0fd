#pragma once

// Bind from the command line: `petrel status|pause|resume|stop|list` ask a running guest's
// control socket (vmm/api_client.h), the same requests curl or a Firecracker client sends.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "core/exit_code.h"

namespace petrel {

struct ControlOptions {
  std::string name;                               // the guest: NAME.sock in runtime_dir
  std::optional<std::filesystem::path> api_sock;  // or its socket's path
  std::optional<std::filesystem::path> runtime_dir;
  bool json = false;                               // status: the answers as JSON
  std::optional<std::chrono::milliseconds> grace;  // stop: press the power button first
};

// 0 when done; NOT_CREATED (13) when no guest serves there or it is not running (pause,
// resume); BAD_CONFIG without a guest to address; INTERNAL_ERROR otherwise.
ExitCode status_command(const ControlOptions& options);
ExitCode pause_command(const ControlOptions& options);
ExitCode resume_command(const ControlOptions& options);
ExitCode stop_command(const ControlOptions& options);
ExitCode list_command(const ControlOptions& options);

}  // namespace petrel
