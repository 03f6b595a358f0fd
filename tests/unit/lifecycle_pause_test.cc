// Pause and resume (lifecycle-phase.txt's Paused phase) against the scriptable machine:
// the phase sequence, what is refused and when, and the races with Stop and the guest's
// own end. Run under TSan as well (PETREL_THREADED_UNIT_TESTS).

#include <catch2/catch.hpp>

#include "core/lifecycle.h"
#include "tests/unit/fake_machine.h"

namespace petrel {
namespace {

using testing::code_of;
using testing::create_and_start;
using testing::FakeControl;
using testing::got;
using testing::kSettle;
using testing::Rig;
using enum LifecyclePhase;

// A running guest whose machine's pause blocks (until release_pause() or a stop), with a
// pause under way on another thread.
struct PauseUnderWay {
  std::shared_ptr<testing::Pending<Result<GuestExit>>> run;
  std::shared_ptr<FakeControl> machine;
  std::shared_ptr<testing::Pending<Result<>>> pause;
};
PauseUnderWay start_blocked_pause(Rig& rig) {
  rig.script([](FakeControl& c) { c.pause_blocks = true; });
  PauseUnderWay state;
  state.run = create_and_start(rig);
  state.machine = rig.machine(0);
  state.pause = rig.pause_async();
  REQUIRE(state.machine->await([](FakeControl& c) { return c.pauses == 1; }));
  return state;
}

TEST_CASE("pause: refused before the guest runs, with the phase unchanged", "[lifecycle][pause]") {
  Rig rig;
  Result<> before_create = rig.lc().pause();
  CHECK(code_of(before_create) == ExitCode::kNotCreated);
  CHECK(before_create.error().message == "Pause: the guest has not started yet");
  CHECK(rig.lc().phase() == kUninitialized);
  REQUIRE(rig.lc().create(Config{}));
  CHECK(code_of(rig.lc().pause()) == ExitCode::kNotCreated);
  Result<> resume = rig.lc().resume();
  CHECK(code_of(resume) == ExitCode::kNotCreated);
  CHECK(resume.error().message == "Resume: the guest has not started yet");
  CHECK(rig.lc().phase() == kNotStarted);
  CHECK(rig.machine(0)->read([](FakeControl& c) { return c.pauses + c.resumes; }) == 0);
}

TEST_CASE("pause and resume: Running -> Paused -> Running, each idempotent", "[lifecycle][pause]") {
  Rig rig;
  auto run = create_and_start(rig);
  auto m = rig.machine(0);

  REQUIRE(rig.lc().pause());
  CHECK(rig.lc().phase() == kPaused);
  CHECK(rig.lc().state() == PublicState::kPaused);
  CHECK(m->read([](FakeControl& c) { return c.paused; }));
  REQUIRE(rig.lc().pause());  // twice: no error, the machine is not asked again
  CHECK(m->read([](FakeControl& c) { return c.pauses; }) == 1);
  // A paused guest has no power button to press: it could not act on it.
  CHECK_FALSE(rig.lc().set_power_button(true));

  REQUIRE(rig.lc().resume());
  CHECK(rig.lc().phase() == kRunning);
  CHECK(rig.lc().state() == PublicState::kRunning);
  REQUIRE(rig.lc().resume());
  CHECK(m->read([](FakeControl& c) { return c.resumes; }) == 1);
  CHECK_FALSE(m->read([](FakeControl& c) { return c.paused; }));
  CHECK_FALSE(run->done());

  m->end(GuestExit::kPowerOff);
  CHECK(got(run).value() == GuestExit::kPowerOff);
  Result<> after = rig.lc().pause();
  CHECK(code_of(after) == ExitCode::kNotCreated);
  CHECK(after.error().message == "Pause: the guest has stopped");
  CHECK(code_of(rig.lc().resume()) == ExitCode::kNotCreated);
}

TEST_CASE("Stop of a paused guest ends the run as any Stop does", "[lifecycle][pause]") {
  Rig rig;
  auto run = create_and_start(rig);
  REQUIRE(rig.lc().pause());
  REQUIRE(rig.lc().stop());
  CHECK(code_of(got(run)) == ExitCode::kControllerForcedHalt);
  CHECK(rig.lc().phase() == kShutdown);
}

TEST_CASE("a paused guest's own end still ends the run", "[lifecycle][pause]") {
  Rig rig;
  auto run = create_and_start(rig);
  REQUIRE(rig.lc().pause());
  rig.machine(0)->end(GuestExit::kReset);
  CHECK(got(run).value() == GuestExit::kReset);
  CHECK(rig.lc().phase() == kShutdown);
}

TEST_CASE("Stop does not wait for a pause in progress; the pause then fails",
          "[lifecycle][pause]") {
  Rig rig;
  auto [run, m, pause] = start_blocked_pause(rig);
  std::this_thread::sleep_for(kSettle);
  CHECK_FALSE(pause->done());
  CHECK(rig.lc().phase() == kRunning);  // Paused only once the machine is

  auto stop = rig.stop_async();
  Result<> paused = got(pause);
  CHECK(code_of(paused) == ExitCode::kNotCreated);
  CHECK(paused.error().message == "Pause: the guest has stopped");
  CHECK(got(stop).has_value());
  CHECK(code_of(got(run)) == ExitCode::kControllerForcedHalt);
  CHECK(rig.lc().phase() == kShutdown);
  CHECK(m->read([](FakeControl& c) { return c.destroyed; }));
}

TEST_CASE("resume waits for a pause in progress, then resumes", "[lifecycle][pause]") {
  Rig rig;
  auto [run, m, pause] = start_blocked_pause(rig);
  auto resume = std::make_shared<testing::Pending<Result<>>>();
  std::thread resumer([&rig, resume] { resume->set(rig.lc().resume()); });
  std::this_thread::sleep_for(kSettle);
  CHECK_FALSE(resume->done());
  m->release_pause();
  CHECK(got(pause).has_value());
  CHECK(got(resume).has_value());
  resumer.join();
  CHECK(rig.lc().phase() == kRunning);
  CHECK(m->read([](FakeControl& c) { return c.resumes; }) == 1);
  m->end(GuestExit::kPowerOff);
  CHECK(got(run).value() == GuestExit::kPowerOff);
}

}  // namespace
}  // namespace petrel
