#include "core/event_loop.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace petrel {
namespace {

// This process's epoll file descriptors.
std::set<int> epoll_fds() {
  std::set<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  while (const dirent* entry = readdir(dir)) {
    char target[64] = {};
    const std::string link = std::string("/proc/self/fd/") + entry->d_name;
    if (readlink(link.c_str(), target, sizeof(target) - 1) > 0 &&
        std::string(target) == "anon_inode:[eventpoll]") {
      fds.insert(std::stoi(entry->d_name));
    }
  }
  closedir(dir);
  return fds;
}

TEST_CASE("an event loop whose epoll_wait fails ends with an error naming it") {
  const std::set<int> before = epoll_fds();
  std::promise<Error> failed;
  auto loop = EventLoop::create("the test loop", [&failed](Error error) {
                failed.set_value(std::move(error));
              }).value();
  int epoll_fd = -1;
  for (int fd : epoll_fds()) {
    if (!before.contains(fd)) epoll_fd = fd;
  }
  REQUIRE(epoll_fd >= 0);

  int pipe_fds[2];
  REQUIRE(pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) == 0);
  REQUIRE(loop->add(pipe_fds[0], [&pipe_fds] {
    char drained[16];
    while (read(pipe_fds[0], drained, sizeof(drained)) > 0) {
    }
    return true;
  }));
  loop->start();
  // The loop's epoll descriptor now names /dev/null: its next epoll_wait fails (EINVAL).
  // The pipe wakes the wait already under way, on the old epoll instance.
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(dup2(null_fd, epoll_fd) == epoll_fd);
  REQUIRE(write(pipe_fds[1], "x", 1) == 1);

  auto outcome = failed.get_future();
  REQUIRE(outcome.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  const Error error = outcome.get();
  CHECK(error.code == ExitCode::kInternalError);
  CHECK(error.message == "the test loop stopped: epoll_wait: Invalid argument");
  loop->stop();
  close(null_fd);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST_CASE("a one-shot watch fires once, and again only after rearm()") {
  auto loop = EventLoop::create("the test loop").value();
  int pipe_fds[2];
  REQUIRE(pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) == 0);
  std::mutex mutex;
  std::condition_variable changed;
  int calls = 0;
  // Reads nothing: the pipe stays readable, which a level watch would report forever.
  REQUIRE(loop->add(
      pipe_fds[0],
      [&] {
        std::lock_guard lock(mutex);
        ++calls;
        changed.notify_all();
        return true;
      },
      EventLoop::Trigger::kOneShot));
  loop->start();
  REQUIRE(write(pipe_fds[1], "x", 1) == 1);
  auto calls_reach = [&](int count) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(5), [&] { return calls >= count; });
  };
  REQUIRE(calls_reach(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard lock(mutex);
    CHECK(calls == 1);
  }
  loop->rearm(pipe_fds[0]);
  REQUIRE(calls_reach(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard lock(mutex);
    CHECK(calls == 2);
  }
  loop->rearm(-1);  // not watched: nothing happens
  loop->stop();
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

}  // namespace
}  // namespace petrel

namespace petrel {
namespace {

// An eventfd whose handler counts the wake-ups it drains, to see whether the loop serves.
struct CountingFd {
  UniqueFd fd{eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  std::mutex mutex;
  std::condition_variable served;
  int count = 0;

  bool handle() {
    uint64_t value = 0;
    [[maybe_unused]] ssize_t drained = read(fd.get(), &value, sizeof(value));
    std::lock_guard lock(mutex);
    ++count;
    served.notify_all();
    return true;
  }
  bool await(int want) {
    std::unique_lock lock(mutex);
    return served.wait_for(lock, std::chrono::seconds(5), [&] { return count >= want; });
  }
  int seen() {
    std::lock_guard lock(mutex);
    return count;
  }
};

TEST_CASE("a paused event loop serves nothing until resumed; what came meanwhile waits") {
  CountingFd counting;
  auto loop = EventLoop::create("the test loop").value();
  REQUIRE(loop->add(counting.fd.get(), [&counting] { return counting.handle(); }));
  loop->start();
  signal_eventfd(counting.fd.get());
  REQUIRE(counting.await(1));

  loop->pause();
  signal_eventfd(counting.fd.get());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(counting.seen() == 1);
  loop->pause();  // twice: returns at once
  loop->resume();
  CHECK(counting.await(2));
  loop->resume();  // not paused: nothing happens
  signal_eventfd(counting.fd.get());
  CHECK(counting.await(3));
}

TEST_CASE("stopping a paused event loop joins it; pausing a stopped or idle loop returns") {
  CountingFd counting;
  auto loop = EventLoop::create("the test loop").value();
  REQUIRE(loop->add(counting.fd.get(), [&counting] { return counting.handle(); }));
  loop->start();
  loop->pause();
  loop->stop();  // must not hang on the parked thread
  loop->pause();
  loop->resume();
  CHECK(counting.seen() == 0);

  auto idle = EventLoop::create("no handlers").value();
  idle->start();  // no thread for a loop with nothing to watch
  idle->pause();
  idle->resume();
}

}  // namespace
}  // namespace petrel
