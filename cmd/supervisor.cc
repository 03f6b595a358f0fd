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
#include <utility>

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
    std::function<void()> stop, std::optional<std::chrono::milliseconds> timeout, Grace grace) {
  const sigset_t set = stop_signals();
  UniqueFd signals(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals) return internal("signalfd", errno);
  UniqueFd done(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  UniqueFd requests(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!done || !requests) return internal("eventfd", errno);
  std::optional<Clock::time_point> deadline;
  if (timeout) deadline = Clock::now() + *timeout;
  std::unique_ptr<Supervisor> supervisor(new Supervisor(std::move(stop), deadline, std::move(grace),
                                                        std::move(signals), std::move(done),
                                                        std::move(requests)));
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
    stop_asked(signal, strsignal(signal), grace_.period);
  }
}

void Supervisor::request_stop(std::optional<std::chrono::milliseconds> grace) {
  {
    std::lock_guard lock(requests_mutex_);
    stop_request_ = grace;
  }
  signal_eventfd(requests_.get());
}

void Supervisor::take_requests() {
  uint64_t count = 0;
  [[maybe_unused]] ssize_t drained = ::read(requests_.get(), &count, sizeof(count));
  std::optional<std::optional<std::chrono::milliseconds>> stop;
  bool release = false;
  {
    std::lock_guard lock(requests_mutex_);
    stop = std::exchange(stop_request_, std::nullopt);
    release = std::exchange(release_request_, false);
  }
  if (release) button_release_ = Clock::now() + kButtonHold;
  // A stop request ends the run as SIGTERM does, with its exit code.
  if (stop) stop_asked(SIGTERM, "stop request", stop->has_value() ? *stop : grace_.period);
}

void Supervisor::stop_asked(int signal, std::string_view what,
                            std::optional<std::chrono::milliseconds> grace) {
  const bool first = signalled_.exchange(signal) == 0;
  if (first && !timed_out_ && grace && grace->count() > 0 && start_grace(what, *grace)) return;
  if (grace_ends_) {
    spdlog::info("{} during the stop grace period: stopping the VM now", what);
    grace_ends_.reset();
  } else if (!first) {
    spdlog::info("{} while stopping: already stopping", what);
    return;
  } else {
    spdlog::info("{}: stopping the VM", what);
  }
  stop_();
}

// The first stop of a run with a grace period: true when a running guest's power button
// was pressed, and the grace period has begun.
bool Supervisor::start_grace(std::string_view what, std::chrono::milliseconds period) {
  if (!grace_.power_button || !grace_.power_button(true)) return false;
  const Clock::time_point now = Clock::now();
  button_release_ = now + kButtonHold;
  grace_ends_ = now + period;
  spdlog::info(
      "{}: pressed the guest's power button; stopping the VM in {} ms unless it "
      "powers off first",
      what, period.count());
  return true;
}

// The button is let go by the supervisor's thread, kButtonHold later (it wakes for it).
bool Supervisor::press_power_button() {
  if (!grace_.power_button || !grace_.power_button(true)) return false;
  {
    std::lock_guard lock(requests_mutex_);
    release_request_ = true;
  }
  signal_eventfd(requests_.get());
  return true;
}

void Supervisor::check_deadlines() {
  const Clock::time_point now = Clock::now();
  if (button_release_ && now >= *button_release_) {
    button_release_.reset();
    (void)grace_.power_button(false);
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
    pollfd fds[3] = {
        {signals_.get(), POLLIN, 0}, {done_.get(), POLLIN, 0}, {requests_.get(), POLLIN, 0}};
    if (::poll(fds, 3, poll_timeout_ms()) < 0) {
      // Only EINTR or a transient ENOMEM: look at the deadline and wait again, a little
      // later so that a persistent failure does not spin.
      if (errno != EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      fds[0].revents = fds[1].revents = fds[2].revents = 0;
    }
    if (fds[0].revents != 0) take_signal();
    if (fds[1].revents != 0) return;
    if (fds[2].revents != 0) take_requests();
    check_deadlines();
  }
}

}  // namespace petrel
