#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/output_buffer.h"
#include "core/unique_fd.h"

namespace petrel {

// Where the guest console's output goes: stdout (unless the console is "none"), the
// console log, and a tail of the last lines that petrel keeps to report how a guest ended
// (a kernel panic, a timeout). It lives for the whole `run`, across restarts of the guest.
class ConsoleSink {
 public:
  static constexpr size_t kTailLines = 20;
  // A longer line is cut in the tail (not in stdout or the log): a guest printing without
  // newlines must not grow petrel's memory.
  static constexpr size_t kMaxLineBytes = 512;

  // Opens (truncates) console.log when set: DEVICE_INITIALIZATION_FAILURE naming the key and
  // the file when it cannot be written.
  static Result<ConsoleSink> open(const Config::Console& console);

  // `stdout_fd` -1 writes nowhere; `log` may be empty. Output to `stdout_fd` goes through
  // an OutputBuffer: a reader that stops reading never stalls the guest (README).
  ConsoleSink(int stdout_fd, UniqueFd log)
      : stdout_(stdout_fd >= 0 ? std::make_unique<OutputBuffer>(stdout_fd) : nullptr),
        log_(std::move(log)) {}
  ConsoleSink(ConsoleSink&& other) noexcept;

  // From any thread (vCPU threads, on each UART write). Each write goes straight to the
  // log file: what the guest printed is in the log even if petrel is killed next. stdout
  // gets it through a bounded buffer, so a stopped reader costs output, never the guest.
  void write(std::span<const uint8_t> bytes);

  // A new boot of the guest (on_reset = "restart"): its panic, if any, is not the last one's.
  void new_boot();

  // The "Kernel panic - not syncing: ..." line the guest printed in this boot, if any.
  std::optional<std::string> panic() const;

  // The lines up to and including that panic line: what led to it (an oops, a failed
  // mount), which the stack dump after it would push out of last_lines().
  std::vector<std::string> panic_context() const;

  // Whether the guest has printed anything in this boot. A guest that resets or hangs
  // before its console driver comes up prints nothing without `earlycon`.
  bool printed() const;

  // The last lines the guest printed, oldest first; the last one may be unfinished.
  std::vector<std::string> last_lines() const;

 private:
  void end_line();

  std::unique_ptr<OutputBuffer> stdout_;
  UniqueFd log_;
  mutable std::mutex mutex_;
  bool log_failed_ = false;
  bool printed_ = false;
  std::deque<std::string> lines_;
  std::string current_;
  std::optional<std::string> panic_;
  std::vector<std::string> panic_context_;
};

}  // namespace petrel
