#include "cmd/supervisor.h"

#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <system_error>

#include "core/event_loop.h"

namespace petrel {

namespace {
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

std::unexpected<Error> internal(std::string_view what, int error) {
  return fail(ExitCode::kInternalError, fmt::format("supervisor: {}: {}", what, strerror(error)));
}
}  // namespace

void Supervisor::block_stop_signals() {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed stdout must not kill petrel mid-run
}

Result<std::unique_ptr<Supervisor>> Supervisor::start(
    std::function<void()> stop, std::optional<std::chrono::milliseconds> timeout,
    std::optional<Grace> grace) {
  const sigset_t set = stop_signals();
  UniqueFd signals(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals) return internal("signalfd", errno);
  UniqueFd done(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!done) return internal("eventfd", errno);
  std::optional<Clock::time_point> deadline;
  if (timeout) deadline = Clock::now() + *timeout;
  std::unique_ptr<Supervisor> supervisor(new Supervisor(std::move(stop), deadline, std::move(grace),
                                                        std::move(signals), std::move(done)));
  try {
    Supervisor* self = supervisor.get();
    supervisor->thread_ = std::thread([self] { self->watch(); });
  } catch (const std::system_error& error) {
    return internal("cannot start its thread", error.code().value());
  }
  return supervisor;
}

Supervisor::~Supervisor() {
  signal_eventfd(done_.get());
  if (thread_.joinable()) thread_.join();
}

// Milliseconds until the next deadline (the timeout, the end of the grace period, letting
// the button go), rounded up so poll() never wakes early and spins; -1 (no limit) without one
// or once each has been acted on.
int Supervisor::poll_timeout_ms() const {
  std::optional<Clock::time_point> next;
  for (auto at : {timed_out_ ? std::nullopt : deadline_, grace_ends_, button_release_}) {
    if (at && (!next || *at < *next)) next = at;
  }
  if (!next) return -1;
  const auto left = *next - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

void Supervisor::take_signal() {
  signalfd_siginfo info{};
  while (::read(signals_.get(), &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    const int signal = static_cast<int>(info.ssi_signo);
    const bool first = signalled_.exchange(signal) == 0;
    if (first && !timed_out_ && press_power_button(signal)) continue;
    if (grace_ends_) {
      spdlog::info("{} during the stop grace period: stopping the VM now", strsignal(signal));
      grace_ends_.reset();
    } else if (!first) {
      spdlog::info("{} while stopping: already stopping", strsignal(signal));
      continue;
    } else {
      spdlog::info("{}: stopping the VM", strsignal(signal));
    }
    stop_();
  }
}

// The first stop signal of a run with a grace period: true when a running guest's power
// button was pressed, and the grace period has begun.
bool Supervisor::press_power_button(int signal) {
  if (!grace_ || !grace_->power_button(true)) return false;
  const Clock::time_point now = Clock::now();
  button_release_ = now + kButtonHold;
  grace_ends_ = now + grace_->period;
  spdlog::info(
      "{}: pressed the guest's power button; stopping the VM in {} ms unless it "
      "powers off first",
      strsignal(signal), grace_->period.count());
  return true;
}

void Supervisor::check_deadlines() {
  const Clock::time_point now = Clock::now();
  if (button_release_ && now >= *button_release_) {
    button_release_.reset();
    (void)grace_->power_button(false);
  }
  if (grace_ends_ && now >= *grace_ends_) {
    grace_ends_.reset();
    spdlog::warn("the guest did not power off within the stop grace period: stopping the VM");
    stop_();
  }
  if (deadline_ && !timed_out_ && now >= *deadline_) {
    timed_out_ = true;
    grace_ends_.reset();
    spdlog::warn("timeout elapsed: stopping the VM");
    stop_();
  }
}

void Supervisor::watch() {
  for (;;) {
    pollfd fds[2] = {{signals_.get(), POLLIN, 0}, {done_.get(), POLLIN, 0}};
    if (::poll(fds, 2, poll_timeout_ms()) < 0) {
      // Only EINTR or a transient ENOMEM: look at the deadline and wait again, a little
      // later so that a persistent failure does not spin.
      if (errno != EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      fds[0].revents = fds[1].revents = 0;
    }
    if (fds[0].revents != 0) take_signal();
    if (fds[1].revents != 0) return;
    check_deadlines();
  }
}

}  // namespace petrel
