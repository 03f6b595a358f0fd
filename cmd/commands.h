#pragma once

#include <chrono>
#include <filesystem>
#include <optional>

#include "cmd/guest_flags.h"
#include "core/exit_code.h"

namespace petrel {

struct RunOptions {
  GuestFlags guest;
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<std::filesystem::path> runtime_dir;
};

// Each returns the process exit code; errors have been reported on stderr. run_command
// returns, for a guest that wrote the test-exit device, the status it wrote (0..255).
ExitCode run_command(const RunOptions& options);
ExitCode check_command(const GuestFlags& guest);
ExitCode dtb_command(const GuestFlags& guest, const std::filesystem::path& output);

}  // namespace petrel
