// systemd readiness: the datagram petrel sends to $NOTIFY_SOCKET.
#include "core/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "core/unique_fd.h"

using namespace petrel;

TEST_CASE("sd_notify: sends the state to NOTIFY_SOCKET and nothing without it") {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("petrel-notify-" + std::to_string(getpid())))
          .string();
  ::unlink(path.c_str());
  UniqueFd listener(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  REQUIRE(listener);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  REQUIRE(bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);

  char buffer[64] = {};
  ::unsetenv("NOTIFY_SOCKET");
  notify_systemd("READY=1");
  CHECK(recv(listener.get(), buffer, sizeof(buffer), 0) < 0);  // nothing was sent

  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  notify_systemd("READY=1");
  const ssize_t got = recv(listener.get(), buffer, sizeof(buffer), 0);
  ::unsetenv("NOTIFY_SOCKET");
  ::unlink(path.c_str());
  REQUIRE(got == 7);
  CHECK(std::string(buffer, 7) == "READY=1");
}
