#pragma once

#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/unique_fd.h"

namespace petrel {

// Adds one to an eventfd's counter: wakes whoever waits on it (an event loop, or KVM for
// an irqfd). A full counter already means "woken", so a failed write is not an error.
void signal_eventfd(int fd);

// A small epoll loop on a thread of its own, for device work that waits on file
// descriptors (console input today, virtqueue notifications later), off the vCPU threads.
class EventLoop {
 public:
  // Called when the fd is readable (or hung up); returning false removes the fd.
  using Handler = std::function<bool()>;

  static Result<std::unique_ptr<EventLoop>> create();
  ~EventLoop();  // stops and joins

  // Before start(): watch `fd` for input. Edge-triggered watches fire once per arrival,
  // so their handler must drain the fd or have another way back to what is left.
  enum class Trigger { kLevel, kEdge };
  Result<> add(int fd, Handler handler, Trigger trigger = Trigger::kLevel);

  void start();
  // Wakes the loop and joins its thread; idempotent, safe before start().
  void stop();

 private:
  EventLoop(UniqueFd epoll, UniqueFd wake) : epoll_(std::move(epoll)), wake_(std::move(wake)) {}
  void loop();

  UniqueFd epoll_;
  UniqueFd wake_;
  std::vector<std::pair<int, Handler>> handlers_;
  std::thread thread_;
  std::mutex stop_mutex_;
};

}  // namespace petrel
