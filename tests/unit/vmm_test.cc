// The machine core every arch shares (vmm/): how a run ends, console input.
#include <fcntl.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
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

// A UART stand-in with a room the test sets.
struct FakeUart {
  size_t room = 0;
  std::string received;
  ConsoleInput connect(int fd, bool* stopped) {
    return ConsoleInput(
        fd, [this] { return room; },
        [this](std::span<const uint8_t> bytes) {
          const size_t taken = std::min(room, bytes.size());
          received.append(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(taken));
          room -= taken;
          return taken;
        },
        [stopped] { *stopped = true; });
  }
};

int pipe_bytes(int fd) {
  int count = 0;
  REQUIRE(ioctl(fd, FIONREAD, &count) == 0);
  return count;
}

TEST_CASE("console input passes bytes on, Ctrl-A included when not a terminal, until EOF") {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  FakeUart uart;
  uart.room = 32;
  bool stopped = false;
  ConsoleInput input = uart.connect(fds[0], &stopped);
  // A pipe is no terminal: Ctrl-A x is data, not the escape.
  REQUIRE(write(fds[1], "ls\n\x01x", 5) == 5);
  CHECK(input.on_readable() == ConsoleInput::Next::kRead);
  CHECK(uart.received == "ls\n\x01x");
  CHECK_FALSE(stopped);
  close(fds[1]);
  CHECK(input.on_readable() == ConsoleInput::Next::kStop);  // end of input: stop watching
  close(fds[0]);
}

TEST_CASE("console input waits in the pipe until the UART has room") {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  FakeUart uart;
  bool stopped = false;
  ConsoleInput input = uart.connect(fds[0], &stopped);
  REQUIRE(write(fds[1], "cmd\n", 4) == 4);
  // The guest's driver does not listen yet: nothing is read.
  CHECK(input.on_readable() == ConsoleInput::Next::kWaitForRoom);
  CHECK(input.on_room() == ConsoleInput::Next::kWaitForRoom);
  CHECK(pipe_bytes(fds[0]) == 4);
  CHECK(uart.received.empty());
  // Room for two: two are read, the rest stays in the pipe.
  uart.room = 2;
  CHECK(input.on_room() == ConsoleInput::Next::kRead);
  CHECK(input.on_readable() == ConsoleInput::Next::kWaitForRoom);
  CHECK(uart.received == "cm");
  CHECK(pipe_bytes(fds[0]) == 2);
  uart.room = 16;
  CHECK(input.on_room() == ConsoleInput::Next::kRead);
  CHECK(input.on_readable() == ConsoleInput::Next::kRead);
  CHECK(uart.received == "cmd\n");
  close(fds[1]);
  CHECK(input.on_readable() == ConsoleInput::Next::kStop);
  CHECK_FALSE(stopped);
  close(fds[0]);
}

TEST_CASE("console input that the UART does not take waits for room, then is passed on") {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  bool stopped = false;
  size_t take = 1;
  std::string received;
  // The UART reports room but takes less (its receiver went off meanwhile).
  ConsoleInput input(
      fds[0], [] { return size_t{8}; },
      [&](std::span<const uint8_t> bytes) {
        const size_t taken = std::min(take, bytes.size());
        received.append(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(taken));
        return taken;
      },
      [&stopped] { stopped = true; });
  REQUIRE(write(fds[1], "abc", 3) == 3);
  close(fds[1]);
  CHECK(input.on_readable() == ConsoleInput::Next::kWaitForRoom);
  CHECK(received == "a");
  CHECK(input.on_room() == ConsoleInput::Next::kWaitForRoom);
  CHECK(received == "ab");
  take = 8;
  CHECK(input.on_room() == ConsoleInput::Next::kRead);
  CHECK(received == "abc");
  CHECK(input.on_readable() == ConsoleInput::Next::kStop);
  CHECK_FALSE(stopped);
  close(fds[0]);
}

TEST_CASE(
    "console input from a terminal reads ahead: Ctrl-A x works while the guest does not listen") {
  int terminal = -1;
  int typist = -1;
  REQUIRE(openpty(&typist, &terminal, nullptr, nullptr, nullptr) == 0);
  termios mode{};
  REQUIRE(tcgetattr(terminal, &mode) == 0);
  cfmakeraw(&mode);  // as petrel puts its terminal
  REQUIRE(tcsetattr(terminal, TCSANOW, &mode) == 0);
  FakeUart uart;
  bool stopped = false;
  ConsoleInput input = uart.connect(terminal, &stopped);
  REQUIRE(write(typist, "ab", 2) == 2);
  CHECK(input.on_readable() == ConsoleInput::Next::kRead);  // read, kept for the guest
  CHECK(uart.received.empty());
  uart.room = 1;
  CHECK(input.on_room() == ConsoleInput::Next::kRead);
  CHECK(uart.received == "a");
  REQUIRE(write(typist, "\x01x", 2) == 2);
  CHECK(input.on_readable() == ConsoleInput::Next::kStop);
  CHECK(stopped);
  CHECK(uart.received == "a");
  close(typist);
  close(terminal);
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
