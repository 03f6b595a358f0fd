#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
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

  // What the loop does when it cannot go on (epoll_wait fails): it ends, and says so with
  // an INTERNAL_ERROR naming the loop and the reason. Its devices are dead from then on,
  // so the machine must end the run rather than let the guest hang.
  using FailureHandler = std::function<void(Error)>;

  // `name` says in messages which loop failed ("console", "drive vda").
  static Result<std::unique_ptr<EventLoop>> create(std::string name = "device loop",
                                                   FailureHandler on_failure = {});
  ~EventLoop();  // stops and joins

  // Before start(): watch `fd` for input. Edge-triggered watches fire once per arrival,
  // so their handler must drain the fd or have another way back to what is left. A one-shot
  // watch fires once and then waits, readable or not, until rearm(): for input that is to
  // stay with its sender until someone has room for it.
  enum class Trigger { kLevel, kEdge, kOneShot };
  Result<> add(int fd, Handler handler, Trigger trigger = Trigger::kLevel);

  // Watches a one-shot `fd` again; from any thread. Nothing happens for an fd the loop no
  // longer watches.
  void rearm(int fd);

  void start();
  // Wakes the loop and joins its thread; idempotent, safe before start(), and ends a pause.
  void stop();

  // Pausing the guest: pause() returns once the loop's thread waits outside every handler
  // (at once when it has none, or has ended), and serves nothing until resume(). What
  // arrives meanwhile stays in its fds. From any thread but the loop's own.
  void pause();
  void resume();

 private:
  EventLoop(UniqueFd epoll, UniqueFd wake, UniqueFd pause, std::string name,
            FailureHandler on_failure)
      : epoll_(std::move(epoll)),
        wake_(std::move(wake)),
        pause_(std::move(pause)),
        name_(std::move(name)),
        on_failure_(std::move(on_failure)) {}
  void loop();
  void park();   // on the loop's thread: waits while a pause is asked for
  void ended();  // on the loop's thread, as it returns

  UniqueFd epoll_;
  UniqueFd wake_;   // stop
  UniqueFd pause_;  // a pause is asked for
  std::string name_;
  FailureHandler on_failure_;
  std::vector<std::pair<int, Handler>> handlers_;
  std::thread thread_;
  std::mutex stop_mutex_;

  std::mutex pause_mutex_;
  std::condition_variable pause_changed_;
  bool pause_asked_ = false;
  bool parked_ = false;
  bool running_ = false;  // the thread runs loop() and has not ended
  bool stopping_ = false;
};

}  // namespace petrel
