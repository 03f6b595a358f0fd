#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/unique_fd.h"

namespace petrel {

// Turns SIGTERM, SIGINT and SIGHUP, and an optional deadline, into one call of `stop`
// on a thread of its own, so Stop never runs in a signal handler. The signals must be
// blocked in every thread first: call block_stop_signals() at the top of main, before
// any thread exists.
//
// The thread sleeps in poll() until a signal, the deadline or the destructor wakes it, so
// ending a run never waits for a polling interval.
class Supervisor {
 public:
  using Clock = std::chrono::steady_clock;

  // INTERNAL_ERROR when the descriptors or the thread cannot be had.
  static Result<std::unique_ptr<Supervisor>> start(
      std::function<void()> stop, std::optional<std::chrono::milliseconds> timeout);
  ~Supervisor();  // wakes and joins the thread
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  bool timed_out() const { return timed_out_; }
  bool stop_signalled() const { return signalled_ != 0; }

  static void block_stop_signals();

 private:
  Supervisor(std::function<void()> stop, std::optional<Clock::time_point> deadline,
             UniqueFd signals, UniqueFd done)
      : stop_(std::move(stop)),
        deadline_(deadline),
        signals_(std::move(signals)),
        done_(std::move(done)) {}
  void watch();
  void take_signal();
  int poll_timeout_ms() const;

  std::function<void()> stop_;
  std::optional<Clock::time_point> deadline_;
  UniqueFd signals_;  // a signalfd for the stop signals
  UniqueFd done_;     // an eventfd the destructor signals
  std::atomic<bool> timed_out_{false};
  std::atomic<int> signalled_{0};
  std::thread thread_;
};

}  // namespace petrel
