#include "core/event_loop.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace petrel {

namespace {
// epoll data of the loop's own eventfds; a handler's is its index.
constexpr uint64_t kStopEvent = UINT64_MAX;
constexpr uint64_t kPauseEvent = UINT64_MAX - 1;
}  // namespace

Result<std::unique_ptr<EventLoop>> EventLoop::create(std::string name, FailureHandler on_failure) {
  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  UniqueFd pause(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!epoll || !wake || !pause) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("event loop: {}", strerror(errno)));
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kStopEvent;
  epoll_event paused{};
  paused.events = EPOLLIN;
  paused.data.u64 = kPauseEvent;
  if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &event) != 0 ||
      epoll_ctl(epoll.get(), EPOLL_CTL_ADD, pause.get(), &paused) != 0) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("event loop: {}", strerror(errno)));
  }
  return std::unique_ptr<EventLoop>(new EventLoop(
      std::move(epoll), std::move(wake), std::move(pause), std::move(name), std::move(on_failure)));
}

EventLoop::~EventLoop() { stop(); }

namespace {
uint32_t epoll_events(EventLoop::Trigger trigger) {
  switch (trigger) {
    case EventLoop::Trigger::kLevel: return EPOLLIN;
    case EventLoop::Trigger::kEdge: return EPOLLIN | EPOLLET;
    case EventLoop::Trigger::kOneShot: return EPOLLIN | EPOLLONESHOT;
  }
  return EPOLLIN;
}
}  // namespace

Result<> EventLoop::add(int fd, Handler handler, Trigger trigger) {
  epoll_event event{};
  event.events = epoll_events(trigger);
  event.data.u64 = handlers_.size();
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    return fail(ExitCode::kDeviceInitializationFailure,
                fmt::format("event loop: cannot watch fd {}: {}", fd, strerror(errno)));
  }
  handlers_.emplace_back(fd, std::move(handler));
  return {};
}

// handlers_ does not change once the loop runs, so any thread may search it.
void EventLoop::rearm(int fd) {
  for (size_t index = 0; index < handlers_.size(); ++index) {
    if (handlers_[index].first != fd) continue;
    epoll_event event{};
    event.events = epoll_events(Trigger::kOneShot);
    event.data.u64 = index;
    // ENOENT once the handler asked to stop watching: then there is nothing to rearm.
    epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &event);
    return;
  }
}

// A loop with nothing to watch would only ever wait for stop(): no thread for it (e.g. a
// guest with no devices and no console input), which saves its start and its join.
void EventLoop::start() {
  if (handlers_.empty()) return;
  {
    std::lock_guard lock(pause_mutex_);
    running_ = true;
  }
  thread_ = std::thread([this] {
    loop();
    ended();
  });
}

void signal_eventfd(int fd) {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t ignored = ::write(fd, &one, sizeof(one));
}

void EventLoop::stop() {
  std::lock_guard lock(stop_mutex_);
  {
    std::lock_guard pause_lock(pause_mutex_);
    stopping_ = true;
  }
  pause_changed_.notify_all();
  signal_eventfd(wake_.get());
  if (thread_.joinable()) thread_.join();
}

void EventLoop::pause() {
  std::unique_lock lock(pause_mutex_);
  if (!running_ || stopping_) return;
  pause_asked_ = true;
  signal_eventfd(pause_.get());
  pause_changed_.wait(lock, [this] { return parked_ || !running_ || stopping_; });
}

void EventLoop::resume() {
  {
    std::lock_guard lock(pause_mutex_);
    pause_asked_ = false;
  }
  pause_changed_.notify_all();
}

void EventLoop::park() {
  uint64_t count = 0;
  [[maybe_unused]] ssize_t drained = ::read(pause_.get(), &count, sizeof(count));
  std::unique_lock lock(pause_mutex_);
  if (!pause_asked_) return;
  parked_ = true;
  pause_changed_.notify_all();
  pause_changed_.wait(lock, [this] { return !pause_asked_ || stopping_; });
  parked_ = false;
}

void EventLoop::ended() {
  {
    std::lock_guard lock(pause_mutex_);
    running_ = false;
  }
  pause_changed_.notify_all();
}

void EventLoop::loop() {
  epoll_event events[8];
  for (;;) {
    const int count = epoll_wait(epoll_.get(), events, 8, -1);
    if (count < 0) {
      if (errno == EINTR) continue;
      Error error{ExitCode::kInternalError,
                  fmt::format("{} stopped: epoll_wait: {}", name_, strerror(errno))};
      if (on_failure_) {
        on_failure_(std::move(error));
      } else {
        spdlog::error("{}", error.message);
      }
      return;
    }
    for (int i = 0; i < count; ++i) {
      const uint64_t index = events[i].data.u64;
      if (index == kStopEvent) return;
      if (index == kPauseEvent) {
        park();
        continue;
      }
      auto& [fd, handler] = handlers_[index];
      if (!handler()) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    }
  }
}

}  // namespace petrel
