#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>

#include "core/error.h"
#include "core/lifecycle.h"

namespace petrel::vmm {

// How one run of a machine ends: the first of the guest's exit, a vCPU's or device loop's
// failure, or a stop request wins; later ones are ignored. Any thread may end it; wait()
// blocks until one has.
class RunOutcome {
 public:
  void end(Result<GuestExit> outcome);
  void end_by_request() { end(fail(ExitCode::kControllerForcedHalt, "the VM was stopped")); }
  Result<GuestExit> wait();

 private:
  std::mutex mutex_;
  std::condition_variable ended_;
  std::optional<Result<GuestExit>> outcome_;
};

}  // namespace petrel::vmm
