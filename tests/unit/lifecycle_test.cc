#include "core/lifecycle.h"

#include <catch2/catch.hpp>

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

TEST_CASE("phases collapse to the three public states", "[lifecycle]") {
  CHECK(public_state(kUninitialized) == PublicState::kNotStarted);
  CHECK(public_state(kNotStarted) == PublicState::kNotStarted);
  CHECK(public_state(kStarting) == PublicState::kNotStarted);
  CHECK(public_state(kRunning) == PublicState::kRunning);
  CHECK(public_state(kPaused) == PublicState::kPaused);
  CHECK(public_state(kShutdown) == PublicState::kNotStarted);

  CHECK(is_pre_boot(kUninitialized));
  CHECK(is_pre_boot(kNotStarted));
  CHECK(is_post_boot(kRunning));
  CHECK(is_post_boot(kPaused));
  for (LifecyclePhase p : {kStarting, kShutdown}) {
    CHECK_FALSE(is_pre_boot(p));
    CHECK_FALSE(is_post_boot(p));
  }
  CHECK_FALSE(is_pre_boot(kRunning));
  CHECK_FALSE(is_post_boot(kNotStarted));

  CHECK(phase_name(kUninitialized) == "Uninitialized");
  CHECK(phase_name(kNotStarted) == "NotStarted");
  CHECK(phase_name(kStarting) == "Starting");
  CHECK(phase_name(kRunning) == "Running");
  CHECK(phase_name(kPaused) == "Paused");
  CHECK(phase_name(kShutdown) == "Shutdown");
}

TEST_CASE("Run before Create is NOT_CREATED", "[lifecycle]") {
  Rig rig;
  CHECK(rig.lc().phase() == kUninitialized);
  Result<GuestExit> r = rig.lc().run();
  CHECK(code_of(r) == ExitCode::kNotCreated);
  CHECK(r.error().message == "Run: the VM has not been created");
  CHECK(rig.lc().phase() == kUninitialized);
  CHECK(rig.machines_built() == 0);
}

TEST_CASE("a guest that ends by itself is a value, and the machine is gone", "[lifecycle]") {
  Rig rig;
  REQUIRE(rig.lc().create(Config{}));
  CHECK(rig.lc().phase() == kNotStarted);
  CHECK(rig.lc().state() == PublicState::kNotStarted);
  auto run = rig.run_async();
  REQUIRE(rig.await_phase(kRunning));
  CHECK(rig.lc().state() == PublicState::kRunning);
  auto m = rig.machine(0);

  GuestExit how = GENERATE(as<GuestExit>{}, GuestExit::kPowerOff, GuestExit::kReset,
                           GuestExit::test_exit(0), GuestExit::test_exit(7));
  m->end(how);
  Result<GuestExit> r = got(run);
  REQUIRE(r.has_value());
  CHECK(*r == how);
  CHECK(rig.lc().phase() == kShutdown);
  CHECK(rig.lc().state() == PublicState::kNotStarted);
  CHECK(m->read([](FakeControl& c) { return c.destroyed && c.starts == 1 && c.waits == 1; }));
  CHECK(m->read([](FakeControl& c) { return c.request_stops; }) == 0);
  // The machine is spent: Run needs a new Create.
  CHECK(code_of(rig.lc().run()) == ExitCode::kNotCreated);
}

TEST_CASE("a test-exit status is carried through Run and named in messages", "[lifecycle]") {
  CHECK(GuestExit::test_exit(7) != GuestExit::test_exit(8));
  CHECK(GuestExit::test_exit(0) != GuestExit::kPowerOff);
  CHECK(describe(GuestExit::kPowerOff) == "powered off");
  CHECK(describe(GuestExit::kReset) == "reset");
  CHECK(describe(GuestExit::test_exit(7)) == "exited with test status 7");

  Rig rig;
  rig.script([](FakeControl& c) { c.ignore_stop = true; });
  auto run = create_and_start(rig);
  auto m = rig.machine(0);
  auto stop = rig.stop_async();
  REQUIRE(m->await([](FakeControl& c) { return c.request_stops > 0; }));
  m->end(GuestExit::test_exit(3));
  Result<GuestExit> r = got(run);
  CHECK(code_of(r) == ExitCode::kControllerForcedHalt);
  CHECK(r.error().message ==
        "Run: Stop was called on the running VM (the guest had also exited with test status 3)");
  CHECK(got(stop).has_value());
}

TEST_CASE("a vCPU failure at run time is VCPU_RUNTIME_FAILURE", "[lifecycle]") {
  Rig rig;
  auto run = create_and_start(rig);
  rig.machine(0)->end(fail(ExitCode::kVcpuRuntimeFailure, "vcpu 0: KVM_RUN: Bad address"));
  Result<GuestExit> r = got(run);
  CHECK(code_of(r) == ExitCode::kVcpuRuntimeFailure);
  CHECK(r.error().message == "vcpu 0: KVM_RUN: Bad address");
  CHECK(rig.lc().phase() == kShutdown);
  CHECK(rig.machine(0)->read([](FakeControl& c) { return c.destroyed; }));
}

TEST_CASE("a start failure is VCPU_START_FAILURE and tears the machine down", "[lifecycle]") {
  Rig rig;
  // Whatever code the machine used, Run reports VCPU_START_FAILURE with its message.
  ExitCode given = GENERATE(ExitCode::kVcpuStartFailure, ExitCode::kInternalError);
  rig.script([given](FakeControl& c) {
    c.start_error = Error{given, "vcpu 1: KVM_ARM_VCPU_INIT"};
  });
  REQUIRE(rig.lc().create(Config{}));
  Result<GuestExit> r = rig.lc().run();
  CHECK(code_of(r) == ExitCode::kVcpuStartFailure);
  CHECK(r.error().message == "vcpu 1: KVM_ARM_VCPU_INIT");
  CHECK(rig.lc().phase() == kShutdown);
  auto m = rig.machine(0);
  CHECK(m->read([](FakeControl& c) { return c.destroyed; }));
  CHECK(m->read([](FakeControl& c) { return c.waits; }) == 0);  // never waited on
  CHECK(m->read([](FakeControl& c) { return c.request_stops; }) == 1);
}

TEST_CASE("Stop during Starting halts the VM once start() returns", "[lifecycle]") {
  Rig rig;
  rig.script([](FakeControl& c) { c.start_blocks = true; });
  REQUIRE(rig.lc().create(Config{}));
  auto run = rig.run_async();
  auto m = rig.machine(0);
  REQUIRE(m->await([](FakeControl& c) { return c.start_entered; }));
  CHECK(rig.lc().phase() == kStarting);
  CHECK(rig.lc().state() == PublicState::kNotStarted);

  auto stop = rig.stop_async();
  std::this_thread::sleep_for(kSettle);
  CHECK_FALSE(stop->done());  // Stop waits for the machine, which is still starting
  m->release_start();

  Result<GuestExit> r = got(run);
  CHECK(code_of(r) == ExitCode::kControllerForcedHalt);
  CHECK(got(stop).has_value());
  CHECK(rig.lc().phase() == kShutdown);
  CHECK(m->read([](FakeControl& c) { return c.request_stops_during_start; }) == 0);
  CHECK(m->read([](FakeControl& c) { return c.request_stops >= 1 && c.destroyed; }));
  CHECK(rig.log.index_of("destroyed#0") < rig.log.index_of("stop-returned"));
}

TEST_CASE("Stop on a start that fails still gives VCPU_START_FAILURE", "[lifecycle]") {
  Rig rig;
  rig.script([](FakeControl& c) {
    c.start_blocks = true;
    c.start_error = Error{ExitCode::kVcpuStartFailure, "no"};
  });
  REQUIRE(rig.lc().create(Config{}));
  auto run = rig.run_async();
  auto m = rig.machine(0);
  REQUIRE(m->await([](FakeControl& c) { return c.start_entered; }));
  auto stop = rig.stop_async();
  std::this_thread::sleep_for(kSettle);
  m->release_start();
  CHECK(code_of(got(run)) == ExitCode::kVcpuStartFailure);
  CHECK(got(stop).has_value());
  CHECK(rig.lc().phase() == kShutdown);
}

TEST_CASE("Stop while running returns only after the machine is torn down", "[lifecycle]") {
  Rig rig;
  // A slow destructor (joining threads) would expose a Stop that replies early.
  rig.script([](FakeControl& c) { c.destroy_blocks = true; });
  auto run = create_and_start(rig);
  auto m = rig.machine(0);

  auto stop = rig.stop_async();
  REQUIRE(m->await([](FakeControl& c) { return c.destroying; }));
  std::this_thread::sleep_for(kSettle);
  CHECK_FALSE(stop->done());
  CHECK_FALSE(run->done());
  CHECK(rig.lc().phase() == kRunning);  // still Running until the machine is gone
  m->release_destroy();

  CHECK(got(stop).has_value());
  Result<GuestExit> r = got(run);
  CHECK(code_of(r) == ExitCode::kControllerForcedHalt);
  CHECK(r.error().message == "Run: Stop was called on the running VM");
  CHECK(rig.lc().phase() == kShutdown);
  const int requested = rig.log.index_of("request-stop#0");
  const int waited = rig.log.index_of("wait-returned#0");
  const int destroyed = rig.log.index_of("destroyed#0");
  const int stopped = rig.log.index_of("stop-returned");
  CHECK(requested >= 0);
  CHECK(requested < waited);
  CHECK(waited < destroyed);
  CHECK(destroyed < stopped);

  // A second Stop, and a third, find nothing to do.
  CHECK(rig.lc().stop().has_value());
  CHECK(rig.lc().stop().has_value());
  CHECK(rig.lc().phase() == kShutdown);
}

TEST_CASE("two concurrent Stops both wait for the teardown", "[lifecycle]") {
  Rig rig;
  rig.script([](FakeControl& c) { c.destroy_blocks = true; });
  auto run = create_and_start(rig);
  auto m = rig.machine(0);
  auto first = rig.stop_async();
  auto second = rig.stop_async();
  REQUIRE(m->await([](FakeControl& c) { return c.destroying; }));
  std::this_thread::sleep_for(kSettle);
  CHECK_FALSE(first->done());
  CHECK_FALSE(second->done());
  m->release_destroy();
  CHECK(got(first).has_value());
  CHECK(got(second).has_value());
  CHECK(code_of(got(run)) == ExitCode::kControllerForcedHalt);
}

TEST_CASE("Stop wins over a guest that powers off at the same moment", "[lifecycle]") {
  Rig rig;
  rig.script([](FakeControl& c) { c.ignore_stop = true; });
  auto run = create_and_start(rig);
  auto m = rig.machine(0);
  auto stop = rig.stop_async();
  REQUIRE(m->await([](FakeControl& c) { return c.request_stops > 0; }));
  m->end(GuestExit::kPowerOff);
  Result<GuestExit> r = got(run);
  CHECK(code_of(r) == ExitCode::kControllerForcedHalt);
  CHECK(r.error().message ==
        "Run: Stop was called on the running VM (the guest had also powered off)");
  CHECK(got(stop).has_value());
}

TEST_CASE("Stop after the guest ended keeps the guest's result but waits", "[lifecycle]") {
  Rig rig;
  rig.script([](FakeControl& c) { c.destroy_blocks = true; });
  auto run = create_and_start(rig);
  auto m = rig.machine(0);
  m->end(GuestExit::kReset);
  REQUIRE(m->await([](FakeControl& c) { return c.destroying; }));
  auto stop = rig.stop_async();
  std::this_thread::sleep_for(kSettle);
  CHECK_FALSE(stop->done());  // the teardown is not finished
  m->release_destroy();
  CHECK(got(stop).has_value());
  Result<GuestExit> r = got(run);
  REQUIRE(r.has_value());
  CHECK(*r == GuestExit::kReset);
  CHECK(m->read([](FakeControl& c) { return c.request_stops; }) == 0);
}

TEST_CASE("a second Run is ALREADY_RUNNING", "[lifecycle]") {
  Rig rig;
  SECTION("while the first is Running") {
    auto run = create_and_start(rig);
    Result<GuestExit> second = rig.lc().run();
    CHECK(code_of(second) == ExitCode::kAlreadyRunning);
    CHECK(second.error().message == "Run: the VM is already running");
    rig.machine(0)->end(GuestExit::kPowerOff);
    CHECK(got(run).has_value());
  }
  SECTION("while the first is Starting") {
    rig.script([](FakeControl& c) { c.start_blocks = true; });
    REQUIRE(rig.lc().create(Config{}));
    auto run = rig.run_async();
    auto m = rig.machine(0);
    REQUIRE(m->await([](FakeControl& c) { return c.start_entered; }));
    CHECK(code_of(rig.lc().run()) == ExitCode::kAlreadyRunning);
    m->release_start();
    REQUIRE(rig.await_phase(kRunning));
    m->end(GuestExit::kPowerOff);
    CHECK(got(run).has_value());
    CHECK(m->read([](FakeControl& c) { return c.starts; }) == 1);
  }
}

TEST_CASE("Create while the VM runs is ALREADY_RUNNING and keeps it", "[lifecycle]") {
  Rig rig;
  auto run = create_and_start(rig);
  Result<> r = rig.lc().create(Config{});
  CHECK(code_of(r) == ExitCode::kAlreadyRunning);
  CHECK(r.error().message == "Create: the VM is already running; stop it first");
  CHECK(rig.machines_built() == 1);
  CHECK(rig.lc().phase() == kRunning);
  CHECK_FALSE(rig.machine(0)->read([](FakeControl& c) { return c.destroying; }));
  CHECK(rig.lc().stop().has_value());
  CHECK(code_of(got(run)) == ExitCode::kControllerForcedHalt);
}

TEST_CASE("after Stop, Create and Run work again", "[lifecycle]") {
  Rig rig;
  auto first = create_and_start(rig);
  REQUIRE(rig.lc().stop());
  CHECK(code_of(got(first)) == ExitCode::kControllerForcedHalt);
  Result<GuestExit> spent = rig.lc().run();
  CHECK(code_of(spent) == ExitCode::kNotCreated);
  CHECK(spent.error().message == "Run: the VM has been shut down; create it again first");

  auto second = create_and_start(rig, 1);
  rig.machine(1)->end(GuestExit::kPowerOff);
  Result<GuestExit> r = got(second);
  REQUIRE(r.has_value());
  CHECK(*r == GuestExit::kPowerOff);
  CHECK(rig.machine(0)->read([](FakeControl& c) { return c.starts; }) == 1);
  CHECK(rig.machine(1)->read([](FakeControl& c) { return c.starts; }) == 1);
}

TEST_CASE("Create on a created VM replaces the machine", "[lifecycle]") {
  Rig rig;
  REQUIRE(rig.lc().create(Config{}));
  REQUIRE(rig.lc().create(Config{}));
  CHECK(rig.lc().phase() == kNotStarted);
  auto old = rig.machine(0);
  CHECK(old->read([](FakeControl& c) { return c.destroyed && c.starts == 0; }));
  // The old machine went before the new one was built.
  CHECK(rig.log.index_of("destroyed#0") >= 0);
  auto run = rig.run_async();
  REQUIRE(rig.await_phase(kRunning));
  rig.machine(1)->end(GuestExit::kPowerOff);
  CHECK(got(run).has_value());
  CHECK(rig.machine(1)->read([](FakeControl& c) { return c.starts; }) == 1);
}

TEST_CASE("Stop on a created VM discards it; Stop without a VM is fine", "[lifecycle]") {
  Rig rig;
  CHECK(rig.lc().stop().has_value());  // Uninitialized
  CHECK(rig.lc().phase() == kUninitialized);
  REQUIRE(rig.lc().create(Config{}));
  CHECK(rig.lc().stop().has_value());
  CHECK(rig.lc().phase() == kShutdown);
  auto m = rig.machine(0);
  CHECK(m->read([](FakeControl& c) { return c.destroyed && c.starts == 0; }));
  CHECK(m->read([](FakeControl& c) { return c.request_stops; }) == 0);
  CHECK(code_of(rig.lc().run()) == ExitCode::kNotCreated);
  CHECK(rig.lc().stop().has_value());  // Shutdown
}

TEST_CASE("a factory failure propagates and leaves no machine", "[lifecycle]") {
  Rig rig;
  SECTION("on the first Create") {}
  SECTION("replacing a created VM") { REQUIRE(rig.lc().create(Config{})); }
  SECTION("after a run") {
    auto run = create_and_start(rig);
    rig.machine(0)->end(GuestExit::kPowerOff);
    REQUIRE(got(run).has_value());
  }
  rig.fail_next_create(Error{ExitCode::kKernelLoadFailure, "/k/Image: not an arm64 Image"});
  Result<> r = rig.lc().create(Config{});
  CHECK(code_of(r) == ExitCode::kKernelLoadFailure);
  CHECK(r.error().message == "/k/Image: not an arm64 Image");
  CHECK(rig.lc().phase() == kUninitialized);
  for (int i = 0; i < rig.machines_built(); ++i) {
    CHECK(rig.machine(i)->read([](FakeControl& c) { return c.destroyed; }));
  }
  CHECK(code_of(rig.lc().run()) == ExitCode::kNotCreated);
  // And the next Create works.
  REQUIRE(rig.lc().create(Config{}));
  CHECK(rig.lc().phase() == kNotStarted);
}

TEST_CASE("a factory returning no machine is an internal error", "[lifecycle]") {
  Rig rig;
  rig.return_null_next();
  CHECK(code_of(rig.lc().create(Config{})) == ExitCode::kInternalError);
  CHECK(rig.lc().phase() == kUninitialized);
}

TEST_CASE("Run and Stop wait for a Create in progress", "[lifecycle]") {
  Rig rig;
  rig.block_factory();
  auto create = rig.create_async();
  REQUIRE(rig.await_factory_entered(1));
  // phase() does not block on the slow factory.
  CHECK(rig.lc().phase() == kUninitialized);

  SECTION("Run then runs the new machine") {
    auto run = rig.run_async();
    std::this_thread::sleep_for(kSettle);
    CHECK_FALSE(run->done());
    rig.release_factory();
    CHECK(got(create).has_value());
    REQUIRE(rig.await_phase(kRunning));
    rig.machine(0)->end(GuestExit::kPowerOff);
    CHECK(got(run).has_value());
  }
  SECTION("Stop then discards it") {
    auto stop = rig.stop_async();
    std::this_thread::sleep_for(kSettle);
    CHECK_FALSE(stop->done());
    rig.release_factory();
    CHECK(got(create).has_value());
    CHECK(got(stop).has_value());
    CHECK(rig.lc().phase() == kShutdown);
    CHECK(rig.machine(0)->read([](FakeControl& c) { return c.destroyed; }));
  }
}

TEST_CASE("destroying the Lifecycle stops a running VM", "[lifecycle]") {
  testing::EventLog log;
  auto control = std::make_shared<FakeControl>();
  control->log = &log;
  auto lc =
      std::make_unique<Lifecycle>([control](const Config&) -> Result<std::unique_ptr<Machine>> {
        return std::make_unique<testing::FakeMachine>(control);
      });
  REQUIRE(lc->create(Config{}));
  testing::Pending<Result<GuestExit>> result;
  std::thread runner([&] { result.set(lc->run()); });
  REQUIRE(control->await([](FakeControl& c) { return c.waits > 0; }));
  lc.reset();  // must stop the VM and wait for the teardown
  CHECK(control->read([](FakeControl& c) { return c.destroyed; }));
  std::optional<Result<GuestExit>> r = result.get();
  if (!r) control->release_all();
  runner.join();
  REQUIRE(r.has_value());
  CHECK(code_of(*r) == ExitCode::kControllerForcedHalt);
}

}  // namespace
}  // namespace petrel
