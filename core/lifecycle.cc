#include "core/lifecycle.h"

#include <fmt/format.h>

#include <string>
#include <utility>

// Locking rules, in one place:
//  - mutex_ guards phase_, machine_, stop_requested_, busy_ and runs_finished_; changed_ is
//    notified on every change any waiter looks at.
//  - Nothing that can block runs under mutex_: not the factory, not Machine::start() or
//    wait(), not a Machine destructor (it unmaps guest memory and joins threads). So phase()
//    answers at once whatever the VM is doing, e.g. for a status query during a slow Create.
//  - Machine::request_stop() is documented as non-blocking, so Stop calls it under mutex_:
//    that is what keeps the machine alive during the call, since Run takes machine_ out for
//    destruction only under mutex_.
//  - While Starting/Running/Paused, machine_ never changes (Create refuses, Stop only asks),
//    so Run uses a raw pointer to it outside the lock.
//  - Create builds, and Stop on an unstarted VM destroys, outside mutex_ with busy_ set;
//    Create, Run and Stop wait for !busy_ first, which makes them exclusive with each other
//    without holding the lock. A Run arriving during Create therefore runs the new machine
//    instead of failing with NOT_CREATED, and a Stop arriving during Create discards it.

namespace petrel {
namespace {

using enum LifecyclePhase;

// A VM whose vCPUs may be live: Create refuses, Run refuses, Stop must halt it.
bool is_active(LifecyclePhase phase) {
  return phase == kStarting || phase == kRunning || phase == kPaused;
}

// Run's result when Stop arrived before the machine stopped. Whatever the machine said is
// kept in the message, so a guest that powered off at the same moment, or a vCPU failure
// that raced the Stop, still shows in the log.
Error forced_halt(const Result<GuestExit>& outcome) {
  std::string message = "Run: Stop was called on the running VM";
  if (outcome) {
    message += " (the guest had also " + describe(*outcome) + ")";
  } else if (outcome.error().code != ExitCode::kControllerForcedHalt) {
    message += " (the machine also reported: " + outcome.error().message + ")";
  }
  return Error{ExitCode::kControllerForcedHalt, std::move(message)};
}

}  // namespace

std::string describe(GuestExit how) {
  switch (how.kind) {
    case GuestExit::Kind::kPowerOff: return "powered off";
    case GuestExit::Kind::kReset: return "reset";
    case GuestExit::Kind::kTestExit: return "exited with test status " + std::to_string(how.status);
  }
  return "ended";
}

PublicState public_state(LifecyclePhase phase) {
  switch (phase) {
    case kRunning: return PublicState::kRunning;
    case kPaused: return PublicState::kPaused;
    case kUninitialized:
    case kNotStarted:
    case kStarting:
    case kShutdown: return PublicState::kNotStarted;
  }
  return PublicState::kNotStarted;
}

std::string_view phase_name(LifecyclePhase phase) {
  switch (phase) {
    case kUninitialized: return "Uninitialized";
    case kNotStarted: return "NotStarted";
    case kStarting: return "Starting";
    case kRunning: return "Running";
    case kPaused: return "Paused";
    case kShutdown: return "Shutdown";
  }
  return "Unknown";
}

bool is_pre_boot(LifecyclePhase phase) { return phase == kUninitialized || phase == kNotStarted; }

bool is_post_boot(LifecyclePhase phase) { return phase == kRunning || phase == kPaused; }

Lifecycle::Lifecycle(MachineFactory factory) : factory_(std::move(factory)) {}

// Stops a running VM and waits for its teardown, so no vCPU thread outlives the engine. A
// Run blocked in another thread returns CONTROLLER_FORCED_HALT; it touches no member after
// its final unlock, so the members may go once stop() has returned.
Lifecycle::~Lifecycle() { (void)stop(); }

LifecyclePhase Lifecycle::phase() const {
  std::lock_guard lock(mutex_);
  return phase_;
}

Result<> Lifecycle::create(const Config& config) {
  std::unique_ptr<Machine> previous;
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !busy_; });
    if (is_active(phase_)) {
      return fail(ExitCode::kAlreadyRunning, "Create: the VM is already running; stop it first");
    }
    busy_ = true;
    previous = std::move(machine_);
    // Honest while the factory runs: the old machine is going, the new one is not there.
    phase_ = kUninitialized;
    changed_.notify_all();
  }
  // The old machine goes first: two VMs' memory and KVM file descriptors at once would be
  // wasteful, and the contract is that a failed Create leaves no machine behind.
  previous.reset();
  Result<std::unique_ptr<Machine>> built = factory_(config);

  std::lock_guard lock(mutex_);
  busy_ = false;
  changed_.notify_all();
  // A failed Create goes back to Uninitialized rather than Shutdown: no configuration was
  // accepted, and both give NOT_CREATED to a following Run anyway.
  if (!built) return std::unexpected(std::move(built).error());
  if (*built == nullptr) {
    return fail(ExitCode::kInternalError, "Create: the machine factory returned no machine");
  }
  machine_ = std::move(*built);
  phase_ = kNotStarted;
  return {};
}

Result<GuestExit> Lifecycle::run(const std::function<void()>& on_running) {
  Machine* machine = nullptr;
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !busy_; });
    if (is_active(phase_)) return fail(ExitCode::kAlreadyRunning, "Run: the VM is already running");
    if (phase_ == kShutdown) {
      return fail(ExitCode::kNotCreated, "Run: the VM has been shut down; create it again first");
    }
    if (phase_ != kNotStarted) {
      return fail(ExitCode::kNotCreated, "Run: the VM has not been created");
    }
    phase_ = kStarting;
    stop_requested_ = false;
    machine = machine_.get();
    changed_.notify_all();
  }

  Result<> started = machine->start();
  bool stop_arrived_while_starting = false;
  {
    std::lock_guard lock(mutex_);
    if (started) phase_ = kRunning;
    stop_arrived_while_starting = stop_requested_;
    changed_.notify_all();
  }
  if (!started) {
    // A VM that never started was not halted by anyone, so this is VCPU_START_FAILURE even
    // if Stop came meanwhile. wait() is not called: a half-started machine may have nothing
    // that would ever end it; request_stop() plus the destructor clean up instead.
    machine->request_stop();
    return tear_down(fail(ExitCode::kVcpuStartFailure, std::move(started.error().message)));
  }
  // Stop during Starting only set the flag (request_stop() is for started machines); a Stop
  // from now on calls request_stop() itself.
  if (stop_arrived_while_starting) {
    machine->request_stop();
  } else if (on_running) {
    on_running();
  }

  Result<GuestExit> outcome = machine->wait();
  {
    std::lock_guard lock(mutex_);
    // The outcome is fixed when the machine has stopped. A Stop that came before that wins,
    // even over a guest powering off at the same moment: the caller of Stop was told the VM
    // is stopped, and the forced_halt message still says what the guest did. A Stop that
    // comes later, during teardown, found a VM that had already ended on its own.
    if (stop_requested_) outcome = std::unexpected(forced_halt(outcome));
  }
  return tear_down(std::move(outcome));
}

Result<GuestExit> Lifecycle::tear_down(Result<GuestExit> outcome) {
  std::unique_ptr<Machine> dead;
  {
    // The phase stays Starting/Running/Paused until the machine is gone, so a Stop arriving
    // now still waits for the teardown (it finds machine_ empty and asks nothing of it). A
    // pause in progress ends soon: the stopped machine has released what it waited for.
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !pausing_; });
    dead = std::move(machine_);
  }
  dead.reset();  // joins the vCPU threads and device loops
  std::lock_guard lock(mutex_);
  phase_ = kShutdown;
  ++runs_finished_;
  changed_.notify_all();
  return outcome;
}

// Under mutex_, like request_stop(): that keeps the machine alive during the call.
bool Lifecycle::set_power_button(bool pressed) {
  std::lock_guard lock(mutex_);
  if (phase_ != kRunning || machine_ == nullptr) return false;
  return machine_->set_power_button(pressed);
}

namespace {
Error not_running(LifecyclePhase phase, std::string_view request) {
  return {ExitCode::kNotCreated,
          fmt::format("{}: the guest {}", request,
                      is_pre_boot(phase) || phase == LifecyclePhase::kStarting ||
                              phase == LifecyclePhase::kUninitialized
                          ? "has not started yet"
                          : "has stopped")};
}
}  // namespace

// The machine's pause waits for its threads, so it runs outside mutex_ (a Stop must not
// wait for it); pausing_ keeps the machine alive meanwhile, as busy_ does for Create.
Result<> Lifecycle::pause() {
  Machine* machine = nullptr;
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !pausing_; });
    if (phase_ == kPaused) return {};
    if (phase_ != kRunning || machine_ == nullptr || stop_requested_) {
      return std::unexpected(not_running(phase_, "Pause"));
    }
    pausing_ = true;
    machine = machine_.get();
  }
  Result<> paused = machine->pause();
  std::lock_guard lock(mutex_);
  pausing_ = false;
  if (paused) {
    if (phase_ == kRunning) phase_ = kPaused;
  } else {
    paused = std::unexpected(not_running(kShutdown, "Pause"));
  }
  changed_.notify_all();
  return paused;
}

Result<> Lifecycle::resume() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return !pausing_; });
  if (phase_ == kRunning) return {};
  if (phase_ != kPaused || machine_ == nullptr) {
    return std::unexpected(not_running(phase_, "Resume"));
  }
  machine_->resume();
  phase_ = kRunning;
  changed_.notify_all();
  return {};
}

Result<> Lifecycle::stop() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return !busy_; });
  if (is_active(phase_)) {
    stop_requested_ = true;
    if (phase_ != kStarting && machine_ != nullptr) machine_->request_stop();
    // Fuchsia's Stop replied before the dispatch loops had ended; this one waits for Run's
    // teardown, so on return no vCPU thread or device loop is left. Several Stops may wait.
    const uint64_t run = runs_finished_;
    changed_.wait(lock, [this, run] { return runs_finished_ != run; });
    return {};
  }
  if (phase_ == kNotStarted) {
    busy_ = true;
    std::unique_ptr<Machine> unstarted = std::move(machine_);
    lock.unlock();
    unstarted.reset();
    lock.lock();
    busy_ = false;
    phase_ = kShutdown;
    changed_.notify_all();
  }
  // Uninitialized or Shutdown: nothing to stop, and a second Stop is not an error.
  return {};
}

}  // namespace petrel
