#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
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
    // How long a stop signal's press of the power button gives the guest; none: a stop
    // signal stops at once.
    std::optional<std::chrono::milliseconds> period;
    // Holds the button down or lets it go: false when there is none to press.
    std::function<bool(bool pressed)> power_button;
  };
  // Long enough for a guest's gpio-keys driver (5 ms debounce) to see the press; QEMU's
  // gpio-key device holds its line for the same 100 ms.
  static constexpr std::chrono::milliseconds kButtonHold{100};

  // INTERNAL_ERROR when the descriptors or the thread cannot be had.
  static Result<std::unique_ptr<Supervisor>> start(std::function<void()> stop,
                                                   std::optional<std::chrono::milliseconds> timeout,
                                                   Grace grace = {});
  ~Supervisor();  // wakes and joins the thread
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  bool timed_out() const { return timed_out_; }
  bool stop_signalled() const { return signalled_ != 0; }

  // From another thread (the control socket), acted on by the supervisor's own:
  // what SIGTERM does, with `grace` in place of the configured period when given (zero:
  // stop at once) ...
  void request_stop(std::optional<std::chrono::milliseconds> grace);
  // ... and a press of the power button for kButtonHold (Ctrl+Alt+Del). False when the
  // guest has no power button or is not running.
  bool press_power_button();

  static void block_stop_signals();

 private:
  Supervisor(std::function<void()> stop, std::optional<Clock::time_point> deadline, Grace grace,
             UniqueFd signals, UniqueFd done, UniqueFd requests)
      : stop_(std::move(stop)),
        deadline_(deadline),
        grace_(std::move(grace)),
        signals_(std::move(signals)),
        done_(std::move(done)),
        requests_(std::move(requests)) {}
  void watch();
  void take_signal();
  void take_requests();
  // A stop signal, or a stop request: `what` names it in the log.
  void stop_asked(int signal, std::string_view what,
                  std::optional<std::chrono::milliseconds> grace);
  bool start_grace(std::string_view what, std::chrono::milliseconds period);
  void check_deadlines();
  int poll_timeout_ms() const;

  std::function<void()> stop_;
  std::optional<Clock::time_point> deadline_;
  Grace grace_;
  // The supervisor thread's own: while the grace runs, when it ends and when the button is
  // let go.
  std::optional<Clock::time_point> grace_ends_;
  std::optional<Clock::time_point> button_release_;
  UniqueFd signals_;   // a signalfd for the stop signals
  UniqueFd done_;      // an eventfd the destructor signals
  UniqueFd requests_;  // an eventfd: request_stop() was called
  std::mutex requests_mutex_;
  // A stop request, with the grace it asks for (nullopt inside: the configured one).
  std::optional<std::optional<std::chrono::milliseconds>> stop_request_;
  bool release_request_ = false;  // press_power_button() pressed: let go kButtonHold later
  std::atomic<bool> timed_out_{false};
  std::atomic<int> signalled_{0};
  std::thread thread_;
};

}  // namespace petrel
