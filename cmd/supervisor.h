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
// With a grace period, the first stop signal asks the guest to shut down first: it presses
// the guest's power button (holding it for kButtonHold) and calls `stop` only if the run has
// not ended within the period; a second signal stops at once. Where no running guest has a
// button to press, the signal stops at once as without a grace period.
//
// The thread sleeps in poll() until a signal, a deadline or the destructor wakes it, so
// ending a run never waits for a polling interval.
class Supervisor {
 public:
  using Clock = std::chrono::steady_clock;

  struct Grace {
    std::chrono::milliseconds period;
    // Holds the button down or lets it go: false when there is none to press.
    std::function<bool(bool pressed)> power_button;
  };
  // Long enough for a guest's gpio-keys driver (5 ms debounce) to see the press; QEMU's
  // gpio-key device holds its line for the same 100 ms.
  static constexpr std::chrono::milliseconds kButtonHold{100};

  // INTERNAL_ERROR when the descriptors or the thread cannot be had.
  static Result<std::unique_ptr<Supervisor>> start(std::function<void()> stop,
                                                   std::optional<std::chrono::milliseconds> timeout,
                                                   std::optional<Grace> grace = std::nullopt);
  ~Supervisor();  // wakes and joins the thread
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  bool timed_out() const { return timed_out_; }
  bool stop_signalled() const { return signalled_ != 0; }

  static void block_stop_signals();

 private:
  Supervisor(std::function<void()> stop, std::optional<Clock::time_point> deadline,
             std::optional<Grace> grace, UniqueFd signals, UniqueFd done)
      : stop_(std::move(stop)),
        deadline_(deadline),
        grace_(std::move(grace)),
        signals_(std::move(signals)),
        done_(std::move(done)) {}
  void watch();
  void take_signal();
  bool press_power_button(int signal);
  void check_deadlines();
  int poll_timeout_ms() const;

  std::function<void()> stop_;
  std::optional<Clock::time_point> deadline_;
  std::optional<Grace> grace_;
  // The supervisor thread's own: while the grace runs, when it ends and when the button is
  // let go.
  std::optional<Clock::time_point> grace_ends_;
  std::optional<Clock::time_point> button_release_;
  UniqueFd signals_;  // a signalfd for the stop signals
  UniqueFd done_;     // an eventfd the destructor signals
  std::atomic<bool> timed_out_{false};
  std::atomic<int> signalled_{0};
  std::thread thread_;
};

}  // namespace petrel
