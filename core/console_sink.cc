#include "core/console_sink.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace petrel {

namespace {

// Linux's panic() prints this first, whatever the log level or `quiet`.
constexpr std::string_view kPanicMarker = "Kernel panic - not syncing";

bool write_all(int fd, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t done = ::write(fd, bytes.data(), bytes.size());
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0) return false;
    bytes = bytes.subspan(static_cast<size_t>(done));
  }
  return true;
}

}  // namespace

Result<ConsoleSink> ConsoleSink::open(const Config::Console& console) {
  const int out = console.mode == ConsoleMode::kStdio ? STDOUT_FILENO : -1;
  if (!console.log) return ConsoleSink(out, UniqueFd());
  UniqueFd log(::open(console.log->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!log) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("console.log: {}: {}", console.log->string(), strerror(errno)));
  }
  return ConsoleSink(out, std::move(log));
}

ConsoleSink::ConsoleSink(ConsoleSink&& other) noexcept
    : stdout_(std::move(other.stdout_)), log_(std::move(other.log_)) {
  std::lock_guard lock(other.mutex_);
  log_failed_ = other.log_failed_;
  printed_ = other.printed_;
  lines_ = std::move(other.lines_);
  current_ = std::move(other.current_);
  panic_ = std::move(other.panic_);
  panic_context_ = std::move(other.panic_context_);
}

void ConsoleSink::write(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mutex_);
  if (!bytes.empty()) printed_ = true;
  // A closed or broken stdout must not stop the guest; a failing log is said once.
  if (stdout_) stdout_->write(bytes);
  if (log_ && !log_failed_ && !write_all(log_.get(), bytes)) {
    log_failed_ = true;
    spdlog::warn("console.log: write failed ({}); the log stops here", strerror(errno));
  }
  for (const uint8_t byte : bytes) {
    if (byte == '\n') {
      end_line();
    } else if (byte != '\r' && current_.size() < kMaxLineBytes) {
      current_ += static_cast<char>(byte);
    }
  }
}

void ConsoleSink::end_line() {
  const bool panic = !panic_ && current_.find(kPanicMarker) != std::string::npos;
  if (panic) panic_ = current_;
  lines_.push_back(std::move(current_));
  current_.clear();
  while (lines_.size() > kTailLines) lines_.pop_front();
  if (panic) panic_context_.assign(lines_.begin(), lines_.end());
}

void ConsoleSink::new_boot() {
  std::lock_guard lock(mutex_);
  panic_.reset();
  panic_context_.clear();
  printed_ = false;
}

bool ConsoleSink::printed() const {
  std::lock_guard lock(mutex_);
  return printed_;
}

std::optional<std::string> ConsoleSink::panic() const {
  std::lock_guard lock(mutex_);
  return panic_;
}

std::vector<std::string> ConsoleSink::panic_context() const {
  std::lock_guard lock(mutex_);
  return panic_context_;
}

std::vector<std::string> ConsoleSink::last_lines() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> lines(lines_.begin(), lines_.end());
  if (!current_.empty()) {
    lines.push_back(current_);
    if (lines.size() > kTailLines) lines.erase(lines.begin());
  }
  return lines;
}

}  // namespace petrel
