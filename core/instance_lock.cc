#include "core/instance_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace petrel {

std::filesystem::path default_runtime_dir() {
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "petrel";
  }
  if (geteuid() == 0) return "/run/petrel";
  return fmt::format("/tmp/petrel-{}", geteuid());
}

Result<InstanceLock> InstanceLock::acquire(const std::filesystem::path& runtime_dir,
                                           const std::string& name) {
  // The folder petrel creates is the user's alone (0700): it holds the control sockets.
  // One that exists already is left as it is.
  std::error_code error;
  if (runtime_dir.has_parent_path()) {
    std::filesystem::create_directories(runtime_dir.parent_path(), error);
  }
  if (!error && ::mkdir(runtime_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    error = std::error_code(errno, std::generic_category());
  }
  if (error) {
    return fail(ExitCode::kGuestInitializationFailure,
                fmt::format("runtime folder {}: {}", runtime_dir.string(), error.message()));
  }
  const std::filesystem::path path = runtime_dir / (name + ".lock");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) {
    return fail(ExitCode::kGuestInitializationFailure,
                fmt::format("{}: {}", path.string(), strerror(errno)));
  }
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      char holder[32] = {};
      [[maybe_unused]] ssize_t got = pread(fd.get(), holder, sizeof(holder) - 1, 0);
      std::string pid(holder);
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      return fail(ExitCode::kAlreadyRunning,
                  fmt::format("a guest named '{}' is already running{} (lock {})", name,
                              pid.empty() ? "" : " as pid " + pid, path.string()));
    }
    return fail(ExitCode::kGuestInitializationFailure,
                fmt::format("{}: flock: {}", path.string(), strerror(errno)));
  }
  const std::string pid = fmt::format("{}\n", getpid());
  if (ftruncate(fd.get(), 0) == 0) {
    [[maybe_unused]] ssize_t written = pwrite(fd.get(), pid.data(), pid.size(), 0);
  }
  return InstanceLock(std::move(fd), path);
}

}  // namespace petrel
