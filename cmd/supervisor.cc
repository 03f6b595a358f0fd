#include "cmd/supervisor.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

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
// How often the thread looks at its deadline and at done_: short enough that petrel
// exits promptly, long enough to cost nothing.
constexpr auto kPollInterval = std::chrono::milliseconds(50);
}  // namespace

void Supervisor::block_stop_signals() {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed stdout must not kill petrel mid-run
}

Supervisor::Supervisor(std::function<void()> stop, std::optional<std::chrono::milliseconds> timeout)
    : stop_(std::move(stop)) {
  if (timeout) deadline_ = Clock::now() + *timeout;
  thread_ = std::thread([this] { watch(); });
}

Supervisor::~Supervisor() {
  done_ = true;
  thread_.join();
}

void Supervisor::watch() {
  const sigset_t set = stop_signals();
  while (!done_) {
    const timespec wait{0, std::chrono::nanoseconds(kPollInterval).count()};
    siginfo_t info{};
    const int signal = sigtimedwait(&set, &info, &wait);
    if (signal > 0) {
      if (signalled_.exchange(signal) != 0) {
        spdlog::info("{} while stopping: already stopping", strsignal(signal));
        continue;
      }
      spdlog::info("{}: stopping the VM", strsignal(signal));
      stop_();
      continue;
    }
    if (deadline_ && Clock::now() >= *deadline_ && !timed_out_) {
      timed_out_ = true;
      spdlog::warn("timeout elapsed: stopping the VM");
      stop_();
    }
  }
}

}  // namespace petrel
