// The machine core every arch shares (vmm/): how a run ends, console input.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "devices/virtio_block.h"
#include "devices/virtio_net.h"
#include "vmm/console_input.h"
#include "vmm/run_outcome.h"

namespace petrel::vmm {
namespace {

TEST_CASE("the first way a run ends wins; later ones are ignored") {
  RunOutcome outcome;
  std::thread guest([&outcome] { outcome.end(GuestExit::test_exit(7)); });
  guest.join();
  outcome.end_by_request();
  outcome.end(GuestExit::kPowerOff);
  const Result<GuestExit> ended = outcome.wait();
  REQUIRE(ended);
  CHECK(*ended == GuestExit::test_exit(7));
}

TEST_CASE("a stop request ends a run as CONTROLLER_FORCED_HALT") {
  RunOutcome outcome;
  std::thread stopper([&outcome] { outcome.end_by_request(); });
  const Result<GuestExit> ended = outcome.wait();
  stopper.join();
  REQUIRE_FALSE(ended);
  CHECK(ended.error().code == ExitCode::kControllerForcedHalt);
}

TEST_CASE("console input passes bytes on, Ctrl-A included when not a terminal, until EOF") {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  std::string delivered;
  bool stopped = false;
  ConsoleInput input(
      fds[0],
      [&delivered](std::span<const uint8_t> bytes) {
        delivered.append(bytes.begin(), bytes.end());
      },
      [&stopped] { stopped = true; });
  // A pipe is no terminal: Ctrl-A x is data, not the escape.
  REQUIRE(write(fds[1], "ls\n\x01x", 5) == 5);
  CHECK(input.forward());
  CHECK(delivered == "ls\n\x01x");
  CHECK_FALSE(stopped);
  close(fds[1]);
  CHECK_FALSE(input.forward());  // end of input: the loop stops watching
  close(fds[0]);
}

TEST_CASE("disk names run vda..vdz, then vdaa") {
  CHECK(virtio::disk_name(0) == "vda");
  CHECK(virtio::disk_name(25) == "vdz");
  CHECK(virtio::disk_name(26) == "vdaa");
}

TEST_CASE("a default MAC is locally administered, unicast and stable per name and index") {
  const auto mac = virtio::default_mac("guest", 0);
  CHECK((mac[0] & 0x03) == 0x02);
  CHECK(mac == virtio::default_mac("guest", 0));
  CHECK(mac != virtio::default_mac("guest", 1));
  CHECK(mac != virtio::default_mac("other", 0));
}

}  // namespace
}  // namespace petrel::vmm
