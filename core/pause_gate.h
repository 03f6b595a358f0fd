#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace petrel {

// Where the threads that run a guest (its vCPUs) wait while the guest is paused. Each
// thread passes park_point() at a safe place in its loop; while the gate is closed it
// waits there, counted as parked, until the gate opens or is released for a stop. The
// controller closes the gate, makes each thread reach its park point (a vCPU must be kicked
// out of KVM_RUN), and waits until all of them are parked or have ended.
class PauseGate {
 public:
  explicit PauseGate(size_t parties) : parties_(parties) {}
  PauseGate(const PauseGate&) = delete;
  PauseGate& operator=(const PauseGate&) = delete;

  // The controller's side.
  void close();
  // Blocks until every party is parked or has left; false when the gate was released (a
  // stop) or opened again meanwhile, i.e. the guest is not paused.
  bool wait_parked();
  void open();
  // For a stop: opens the gate for good; parked parties return, later close()s do nothing.
  void release();
  bool closed() const;

  // A party's side, on its own thread. Returns at once while open; else waits until the
  // gate opens or is released.
  void park_point();
  // The party's thread ends: it no longer has to park for the guest to be paused.
  void leave();

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  const size_t parties_;
  size_t parked_ = 0;
  size_t left_ = 0;
  bool closed_ = false;
  bool released_ = false;
};

}  // namespace petrel
