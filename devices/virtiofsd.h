#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/unique_fd.h"

namespace petrel::virtio {

// Debian 12's virtiofsd, the C one of QEMU 7.2 (package qemu-system-common).
inline constexpr const char* kVirtiofsdPath = "/usr/lib/qemu/virtiofsd";
inline constexpr const char* kVirtiofsdPackage = "qemu-system-common";

// A virtiofsd that petrel started for one share, tied to petrel's life: it is killed when
// the thread that started it (petrel's main thread) dies (PR_SET_PDEATHSIG), and killed
// and reaped when this object goes, so neither a process nor a zombie outlives petrel.
// It gets its vhost-user socket as an inherited listening fd (--fd) that petrel has
// already connected to and whose file it has already removed: no socket file is left
// behind, whatever way petrel ends.
class VirtiofsdProcess {
 public:
  struct Options {
    std::filesystem::path program = kVirtiofsdPath;
    std::filesystem::path folder;
    bool read_only = false;
    std::string log_name;  // "share[0]" for messages
  };

  // Starts it and returns it with petrel's end of the connection. DEVICE_INITIALIZATION_FAILURE
  // when the program is missing (the message names the package) or cannot start, or the
  // read-only view cannot be made.
  static Result<VirtiofsdProcess> start(const Options& options, UniqueFd& connection);

  VirtiofsdProcess(VirtiofsdProcess&& other) noexcept;
  VirtiofsdProcess& operator=(VirtiofsdProcess&&) = delete;
  VirtiofsdProcess(const VirtiofsdProcess&) = delete;
  ~VirtiofsdProcess();

  pid_t pid() const { return pid_; }
  // When it has ended, at the latest after `wait`: how ("exit status 1", "killed by
  // signal 9"); it is then reaped.
  std::optional<std::string> ended(std::chrono::milliseconds wait = {});
  // Asks it to end (SIGTERM), waits up to `grace`, then kills it; reaps it either way.
  void stop(std::chrono::milliseconds grace);

  // The command line it runs with (for tests and debug logs).
  static std::vector<std::string> arguments(const Options& options, int socket_fd);

 private:
  explicit VirtiofsdProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
};

}  // namespace petrel::virtio
