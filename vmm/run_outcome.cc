#include "vmm/run_outcome.h"

namespace petrel::vmm {

void RunOutcome::end(Result<GuestExit> outcome) {
  std::lock_guard lock(mutex_);
  if (!outcome_) outcome_ = std::move(outcome);
  ended_.notify_all();
}

Result<GuestExit> RunOutcome::wait() {
  std::unique_lock lock(mutex_);
  ended_.wait(lock, [this] { return outcome_.has_value(); });
  return *outcome_;
}

}  // namespace petrel::vmm
