#include "core/pause_gate.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace petrel {
namespace {

// Threads that pass the gate's park point in a loop, as vCPUs do between KVM_RUNs.
class Parties {
 public:
  Parties(PauseGate& gate, int count) {
    for (int i = 0; i < count; ++i) {
      threads_.emplace_back([this, &gate] {
        while (!stop_) {
          gate.park_point();
          ++laps_;
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        gate.leave();
      });
    }
  }
  ~Parties() { end(); }
  void end() {
    stop_ = true;
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  long laps() const { return laps_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> laps_{0};
  std::vector<std::thread> threads_;
};

TEST_CASE("pause gate: closed, every party parks; opened, they go on", "[pause]") {
  PauseGate gate(3);
  Parties parties(gate, 3);
  gate.close();
  REQUIRE(gate.wait_parked());
  const long parked_at = parties.laps();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(parties.laps() == parked_at);
  gate.open();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(parties.laps() > parked_at);
  CHECK_FALSE(gate.closed());
}

TEST_CASE("pause gate: parties that ended count as parked", "[pause]") {
  PauseGate gate(2);
  Parties parties(gate, 2);
  parties.end();
  gate.close();
  CHECK(gate.wait_parked());
}

TEST_CASE("pause gate: a release (stop) frees parked parties and a waiting pause", "[pause]") {
  PauseGate gate(2);
  gate.close();
  // One party never comes (a vCPU stuck elsewhere): the pause waits until the release.
  std::promise<void> parked;
  std::thread party([&] {
    gate.park_point();
    parked.set_value();
  });
  auto pause = std::async(std::launch::async, [&] { return gate.wait_parked(); });
  CHECK(pause.wait_for(std::chrono::milliseconds(100)) == std::future_status::timeout);
  gate.release();
  CHECK_FALSE(pause.get());
  CHECK(parked.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  party.join();
  gate.close();  // after a release: stays open
  CHECK_FALSE(gate.closed());
  gate.park_point();  // returns at once
}

}  // namespace
}  // namespace petrel
