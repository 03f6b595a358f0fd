#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>

namespace petrel {

// Turns SIGTERM, SIGINT and SIGHUP, and an optional deadline, into one call of `stop`
// on a thread of its own, so Stop never runs in a signal handler. The signals must be
// blocked in every thread first: call block_stop_signals() at the top of main, before
// any thread exists.
class Supervisor {
 public:
  using Clock = std::chrono::steady_clock;

  Supervisor(std::function<void()> stop, std::optional<std::chrono::milliseconds> timeout);
  ~Supervisor();  // ends the thread
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  bool timed_out() const { return timed_out_; }
  bool stop_signalled() const { return signalled_ != 0; }

  static void block_stop_signals();

 private:
  void watch();

  std::function<void()> stop_;
  std::optional<Clock::time_point> deadline_;
  std::atomic<bool> done_{false};
  std::atomic<bool> timed_out_{false};
  std::atomic<int> signalled_{0};
  std::thread thread_;
};

}  // namespace petrel
