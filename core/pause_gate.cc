#include "core/pause_gate.h"

namespace petrel {

void PauseGate::close() {
  std::lock_guard lock(mutex_);
  if (!released_) closed_ = true;
}

bool PauseGate::wait_parked() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return !closed_ || parked_ + left_ >= parties_; });
  return closed_;
}

void PauseGate::open() {
  {
    std::lock_guard lock(mutex_);
    closed_ = false;
  }
  changed_.notify_all();
}

void PauseGate::release() {
  {
    std::lock_guard lock(mutex_);
    released_ = true;
    closed_ = false;
  }
  changed_.notify_all();
}

bool PauseGate::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

void PauseGate::park_point() {
  std::unique_lock lock(mutex_);
  if (!closed_) return;
  ++parked_;
  changed_.notify_all();
  changed_.wait(lock, [this] { return !closed_; });
  --parked_;
}

void PauseGate::leave() {
  {
    std::lock_guard lock(mutex_);
    ++left_;
  }
  changed_.notify_all();
}

}  // namespace petrel
