#pragma once

// A scriptable Machine and a harness around Lifecycle, for tests that drive Create / Run /
// Stop from several threads. Catch2 assertions are not thread-safe, so worker threads only
// record; the test thread asserts. Every wait is bounded, and a watchdog aborts the process
// if a test still hangs, so a lifecycle deadlock fails loudly instead of stalling CI.

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/lifecycle.h"

namespace petrel::testing {

inline constexpr auto kPatience = std::chrono::seconds(5);       // one bounded wait
inline constexpr auto kWatchdog = std::chrono::seconds(30);      // one whole test
inline constexpr auto kSettle = std::chrono::milliseconds(100);  // "did it return too early?"

// What happened, across threads, in order; for "A before B" checks.
class EventLog {
 public:
  void add(std::string event) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
  }
  // Position of the first `event`, or -1.
  int index_of(const std::string& event) const {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < events_.size(); ++i) {
      if (events_[i] == event) return static_cast<int>(i);
    }
    return -1;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

// The test's handle on one FakeMachine. Shared, so it outlives the machine the lifecycle
// destroys. Script fields are set before start(); the rest is recorded by the fake.
struct FakeControl {
  std::mutex mu;
  std::condition_variable cv;
  EventLog* log = nullptr;
  std::string tag;  // "#0", "#1", ... in log events

  // Script.
  bool start_blocks = false;  // start() waits for release_start()
  std::optional<Error> start_error;
  bool ignore_stop = false;     // wait() ends only through end(), to stage races
  bool destroy_blocks = false;  // ~FakeMachine waits for release_destroy()
  bool start_released = false;
  bool destroy_released = false;
  bool pause_blocks = false;  // pause() waits for release_pause() or a stop
  bool pause_released = false;
  std::optional<Result<GuestExit>> outcome;  // how the "guest" ended

  // Record.
  bool start_entered = false, stop_requested = false, wait_returned = false;
  bool destroying = false, destroyed = false;
  int starts = 0, waits = 0, request_stops = 0, request_stops_during_start = 0;
  int pauses = 0, resumes = 0;
  bool paused = false;

  void end(Result<GuestExit> how) {
    update([&](FakeControl& c) { c.outcome = std::move(how); });
  }
  void release_start() {
    update([](FakeControl& c) { c.start_released = true; });
  }
  void release_destroy() {
    update([](FakeControl& c) { c.destroy_released = true; });
  }
  void release_pause() {
    update([](FakeControl& c) { c.pause_released = true; });
  }
  // Lets every blocked call of this machine finish; used when a test ends, pass or fail.
  void release_all() {
    update([](FakeControl& c) {
      c.start_released = c.destroy_released = c.pause_released = true;
      if (!c.outcome) c.outcome = fail(ExitCode::kInternalError, "released at test end");
    });
  }
  template <typename F>
  void update(F f) {
    std::lock_guard lock(mu);
    f(*this);
    cv.notify_all();
  }
  template <typename F>
  auto read(F f) {
    std::lock_guard lock(mu);
    return f(*this);
  }
  // Waits up to kPatience for `pred`; false on timeout.
  template <typename P>
  bool await(P pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kPatience, [&] { return pred(*this); });
  }
  void note(const std::string& what) { log->add(what + tag); }
};

class FakeMachine : public Machine {
 public:
  explicit FakeMachine(std::shared_ptr<FakeControl> control) : c_(std::move(control)) {}
  ~FakeMachine() override {
    std::unique_lock lock(c_->mu);
    c_->destroying = true;
    c_->note("destroying");
    c_->cv.notify_all();
    if (c_->destroy_blocks) c_->cv.wait(lock, [this] { return c_->destroy_released; });
    c_->destroyed = true;
    c_->note("destroyed");
    c_->cv.notify_all();
  }
  Result<> start() override {
    std::unique_lock lock(c_->mu);
    ++c_->starts;
    c_->start_entered = true;
    c_->note("start");
    c_->cv.notify_all();
    if (c_->start_blocks) c_->cv.wait(lock, [this] { return c_->start_released; });
    if (c_->start_error) return std::unexpected(*c_->start_error);
    return {};
  }
  Result<GuestExit> wait() override {
    std::unique_lock lock(c_->mu);
    ++c_->waits;
    c_->cv.wait(lock, [this] {
      return c_->outcome.has_value() || (c_->stop_requested && !c_->ignore_stop);
    });
    c_->wait_returned = true;
    c_->note("wait-returned");
    c_->cv.notify_all();
    if (c_->outcome) return *c_->outcome;
    return fail(ExitCode::kControllerForcedHalt, "fake: stopped on request");
  }
  Result<> pause() override {
    std::unique_lock lock(c_->mu);
    ++c_->pauses;
    c_->note("pause");
    c_->cv.notify_all();
    if (c_->pause_blocks) {
      c_->cv.wait(lock, [this] { return c_->pause_released || c_->stop_requested; });
    }
    if (c_->stop_requested) return fail(ExitCode::kControllerForcedHalt, "fake: stopping");
    c_->paused = true;
    return {};
  }
  void resume() override {
    std::lock_guard lock(c_->mu);
    ++c_->resumes;
    c_->paused = false;
    c_->note("resume");
    c_->cv.notify_all();
  }
  void request_stop() override {
    std::lock_guard lock(c_->mu);
    ++c_->request_stops;
    if (c_->start_entered && c_->start_blocks && !c_->start_released) {
      ++c_->request_stops_during_start;
    }
    c_->stop_requested = true;
    c_->note("request-stop");
    c_->cv.notify_all();
  }

 private:
  std::shared_ptr<FakeControl> c_;
};

// The result of a call made on another thread.
template <typename T>
class Pending {
 public:
  void set(T value) {
    std::lock_guard lock(mu_);
    value_ = std::move(value);
    cv_.notify_all();
  }
  bool done() {
    std::lock_guard lock(mu_);
    return value_.has_value();
  }
  // Waits up to `patience`; nullopt if the call has not returned by then.
  std::optional<T> get(std::chrono::milliseconds patience = kPatience) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, patience, [this] { return value_.has_value(); });
    return value_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

// Unwraps a call made on another thread, failing the test if it has not returned in time.
template <typename T>
T got(const std::shared_ptr<Pending<T>>& pending) {
  std::optional<T> value = pending->get();
  if (!value) FAIL("the call did not return within the patience bound");
  return std::move(*value);
}

// The code of a Result that must be an error.
template <typename T>
ExitCode code_of(const Result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error().code;
}

// A Lifecycle whose factory builds FakeMachines, plus threads to call it from.
class Rig {
 public:
  Rig() : watchdog_([this] { watch(); }) {
    lifecycle_ = std::make_unique<Lifecycle>([this](const Config&) { return build(); });
  }
  ~Rig() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
      factory_released_ = true;
      for (auto& c : controls_) c->release_all();
      cv_.notify_all();
    }
    for (auto& t : threads_) t.join();
    lifecycle_.reset();
    {
      std::lock_guard lock(mu_);
      finished_ = true;
      cv_.notify_all();
    }
    watchdog_.join();
  }

  // Runs f under mu_ and wakes the waiters; notifying before f is fine, as they cannot look
  // before mu_ is released.
  template <typename F>
  auto with_lock(F f) {
    std::lock_guard lock(mu_);
    cv_.notify_all();
    return f();
  }

  Lifecycle& lc() { return *lifecycle_; }
  EventLog log;

  // Script for the factory: applied to every machine built from now on.
  void script(std::function<void(FakeControl&)> f) {
    with_lock([&] { script_ = std::move(f); });
  }
  void fail_next_create(Error e) {
    with_lock([&] { factory_error_ = std::move(e); });
  }
  void return_null_next() {
    with_lock([&] { return_null_ = true; });
  }
  void block_factory() {
    with_lock([&] {
      factory_blocks_ = true;
      factory_released_ = false;
    });
  }
  void release_factory() {
    with_lock([&] { factory_released_ = true; });
  }
  bool await_factory_entered(int calls) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return factory_calls_ >= calls; });
  }
  int machines_built() {
    return with_lock([&] { return static_cast<int>(controls_.size()); });
  }
  // The i-th machine built; waits up to kPatience for it. Null on timeout.
  std::shared_ptr<FakeControl> machine(int i) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kPatience, [&] { return static_cast<int>(controls_.size()) > i; });
    return static_cast<int>(controls_.size()) > i ? controls_[i] : nullptr;
  }
  bool await_phase(LifecyclePhase want) {
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (lc().phase() != want) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  std::shared_ptr<Pending<Result<GuestExit>>> run_async() {
    return spawn<Result<GuestExit>>([this] { return lc().run(); }, "run-returned");
  }
  std::shared_ptr<Pending<Result<>>> stop_async() {
    return spawn<Result<>>([this] { return lc().stop(); }, "stop-returned");
  }
  std::shared_ptr<Pending<Result<>>> pause_async() {
    return spawn<Result<>>([this] { return lc().pause(); }, "pause-returned");
  }
  std::shared_ptr<Pending<Result<>>> create_async() {
    return spawn<Result<>>([this] { return lc().create(Config{}); }, "create-returned");
  }

 private:
  Result<std::unique_ptr<Machine>> build() {
    std::unique_lock lock(mu_);
    ++factory_calls_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return !factory_blocks_ || factory_released_; });
    if (factory_error_) {
      Error e = std::move(*factory_error_);
      factory_error_.reset();
      return std::unexpected(std::move(e));
    }
    if (std::exchange(return_null_, false)) return std::unique_ptr<Machine>();
    auto control = std::make_shared<FakeControl>();
    control->log = &log;
    control->tag = "#" + std::to_string(controls_.size());
    if (script_) script_(*control);
    if (released_) control->release_all();
    controls_.push_back(control);
    cv_.notify_all();
    return std::make_unique<FakeMachine>(control);
  }

  template <typename T, typename F>
  std::shared_ptr<Pending<T>> spawn(F call, std::string event) {
    auto pending = std::make_shared<Pending<T>>();
    std::lock_guard lock(mu_);
    threads_.emplace_back([this, pending, call, event] {
      T result = call();
      log.add(event);
      pending->set(std::move(result));
    });
    return pending;
  }

  void watch() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kWatchdog, [this] { return finished_; })) {
      std::fprintf(stderr, "lifecycle test hung for %llds; aborting\n",
                   static_cast<long long>(kWatchdog.count()));
      std::abort();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<FakeControl>> controls_;
  std::function<void(FakeControl&)> script_;
  std::optional<Error> factory_error_;
  bool return_null_ = false;
  bool factory_blocks_ = false, factory_released_ = false;
  int factory_calls_ = 0;
  bool released_ = false, finished_ = false;
  std::vector<std::thread> threads_;
  std::unique_ptr<Lifecycle> lifecycle_;
  std::thread watchdog_;  // last: started after every member it reads exists
};

// Create, then Run on another thread until the machine has started.
inline std::shared_ptr<Pending<Result<GuestExit>>> create_and_start(Rig& rig, int index = 0) {
  REQUIRE(rig.lc().create(Config{}));
  auto run = rig.run_async();
  REQUIRE(rig.await_phase(LifecyclePhase::kRunning));
  REQUIRE(rig.machine(index));
  return run;
}

}  // namespace petrel::testing
