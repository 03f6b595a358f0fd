#include "core/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace petrel {

namespace {
// The one process-wide timestamp: set once at start-up, read-only afterwards.
std::chrono::steady_clock::time_point& start_time() {
  static std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  return start;
}
}  // namespace

double elapsed_since_start_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_time())
      .count();
}

void init_logging(int verbosity) {
  // The non-colour, unsynchronised-free stderr sink: lines are written whole, so they do
  // not interleave with the guest console mid-line more than the terminal itself does.
  auto logger = spdlog::stderr_logger_mt("petrel");
  logger->set_pattern("petrel: %l: %v");
  logger->set_level(verbosity >= 2   ? spdlog::level::debug
                    : verbosity == 1 ? spdlog::level::info
                                     : spdlog::level::warn);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace petrel
