#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/error.h"

namespace petrel {

// The six internal phases (lifecycle-phase.txt). Never shown to users as such.
enum class LifecyclePhase { kUninitialized, kNotStarted, kStarting, kRunning, kPaused, kShutdown };

// The three public states the phases collapse to.
enum class PublicState { kNotStarted, kRunning, kPaused };

PublicState public_state(LifecyclePhase phase);
std::string_view phase_name(LifecyclePhase phase);
bool is_pre_boot(LifecyclePhase phase);   // Uninitialized or NotStarted
bool is_post_boot(LifecyclePhase phase);  // Running or Paused

// How a guest ended when it ended by itself: it powered off or reset (PSCI), or it wrote
// a status to the test-exit device, which then is the status petrel exits with.
struct GuestExit {
  enum class Kind : uint8_t { kPowerOff, kReset, kTestExit };
  Kind kind = Kind::kPowerOff;
  uint8_t status = 0;  // kTestExit only: the status the guest chose

  static const GuestExit kPowerOff;
  static const GuestExit kReset;
  static constexpr GuestExit test_exit(uint8_t status) { return {Kind::kTestExit, status}; }

  bool operator==(const GuestExit&) const = default;
};
inline constexpr GuestExit GuestExit::kPowerOff{GuestExit::Kind::kPowerOff, 0};
inline constexpr GuestExit GuestExit::kReset{GuestExit::Kind::kReset, 0};

// "powered off", "reset", "exited with test status 7": for log lines.
std::string describe(GuestExit how);

// A built virtual machine: memory, devices and kernel in place, no vCPU running.
// Implemented by the arch layer; the lifecycle engine owns one between Create and Stop.
class Machine {
 public:
  virtual ~Machine() = default;

  // Starts the vCPUs and device loops. Failures are VCPU_START_FAILURE. After a failure the
  // lifecycle calls request_stop() and destroys the machine without calling wait(), so the
  // destructor must join whatever start() managed to launch.
  virtual Result<> start() = 0;

  // Blocks until the machine stops: the guest powered off or reset (a value), a vCPU
  // failed (VCPU_RUNTIME_FAILURE), or request_stop() was called (CONTROLLER_FORCED_HALT).
  // On return every vCPU thread and device loop has been joined.
  virtual Result<GuestExit> wait() = 0;

  // Asks a started machine to stop; safe from any thread, returns at once, idempotent.
  // The lifecycle calls it only after start() has returned, sometimes under its own mutex.
  virtual void request_stop() = 0;

  // Holds the guest's power button down or lets it go: false when the machine has none.
  // Non-blocking and safe from any thread, like request_stop().
  virtual bool set_power_button(bool /*pressed*/) { return false; }

  // Parks every vCPU outside the guest and stops device processing, returning once both
  // hold; resume() undoes it. A started machine only; pause() fails when a stop or the
  // guest's own end overtakes it. request_stop() works on a paused machine.
  virtual Result<> pause() = 0;
  virtual void resume() = 0;
};

// Builds machines; the arch layer provides the real one, tests a fake.
using MachineFactory = std::function<Result<std::unique_ptr<Machine>>(const Config&)>;

// Create / Run / Stop as in guest-lifecycle.txt, with the phases of lifecycle-phase.txt.
// Thread-safe: Stop may arrive from a signal-handling thread while Run blocks.
class Lifecycle {
 public:
  explicit Lifecycle(MachineFactory factory);
  ~Lifecycle();
  Lifecycle(const Lifecycle&) = delete;
  Lifecycle& operator=(const Lifecycle&) = delete;

  // Builds the VM without starting it. ALREADY_RUNNING while Starting, Running or Paused;
  // otherwise replaces any machine created earlier. Other errors come from the factory.
  Result<> create(const Config& config);

  // Starts the VM and blocks until it stops. NOT_CREATED without a created machine,
  // ALREADY_RUNNING while another Run is in progress, CONTROLLER_FORCED_HALT when Stop
  // ended it, VCPU_START_FAILURE / VCPU_RUNTIME_FAILURE from the machine. A guest that
  // powered off or reset is a value. Afterwards the machine is gone (phase Shutdown).
  // `on_running` is called once the vCPUs run (for readiness notification).
  Result<GuestExit> run(const std::function<void()>& on_running = {});

  // Stops a running VM and returns once its vCPU threads and device loops have stopped.
  // On a created but not started VM it discards it. Idempotent.
  Result<> stop();

  // Holds the running guest's power button down or lets it go (a graceful stop asks the guest
  // to power off this way). False when no VM is running or it has no power button.
  bool set_power_button(bool pressed);

  // Running -> Paused and back. Pausing a paused guest, or resuming a running one, is no
  // error. NOT_CREATED before Run has started the vCPUs or after the guest stopped.
  Result<> pause();
  Result<> resume();

  LifecyclePhase phase() const;
  PublicState state() const { return public_state(phase()); }

 private:
  // Ends a Run: destroys the machine outside the mutex, enters Shutdown, wakes Stop.
  Result<GuestExit> tear_down(Result<GuestExit> outcome);

  MachineFactory factory_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  LifecyclePhase phase_ = LifecyclePhase::kUninitialized;
  std::unique_ptr<Machine> machine_;
  bool stop_requested_ = false;
  // Create, or Stop discarding an unstarted machine, is building or destroying machine_
  // outside the mutex; Create, Run and Stop wait for it to finish.
  bool busy_ = false;
  // Pause is waiting for the machine's threads to park, outside the mutex.
  bool pausing_ = false;
  // Counts finished Runs, so Stop waits for the end of the Run it interrupted and no other.
  uint64_t runs_finished_ = 0;
};

}  // namespace petrel
